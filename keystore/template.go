package keystore

import (
	"encoding/asn1"
	"encoding/binary"
	"fmt"

	"github.com/miekg/pkcs11"
)

// The templates below set every usage attribute explicitly: SoftHSM's
// defaults are permissive (a key given only CKA_SIGN also gets DECRYPT and
// UNWRAP, and CKA_SENSITIVE defaults to false). CKA_ALLOWED_MECHANISMS is set
// too, and SoftHSM enforces it.

// keyTemplates returns the public and private templates for a key pair.
// label is CKA_LABEL (objectLabel: the ID and the creation time).
func keyTemplates(id, label string, alg Algorithm, purpose Purpose, exportable bool) (pub, priv []*pkcs11.Attribute, mech uint, err error) {
	decrypt := purpose == PurposeKMS && alg.IsRSA()
	extractable := exportable && purpose == PurposeKMS // CA and service keys never leave the token
	common := func(class uint) []*pkcs11.Attribute {
		return []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, class),
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
			pkcs11.NewAttribute(pkcs11.CKA_ID, []byte(id)),
			pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
			pkcs11.NewAttribute(pkcs11.CKA_DERIVE, false),
		}
	}
	pub = append(common(pkcs11.CKO_PUBLIC_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, false),
		pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true),
		pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, decrypt),
		pkcs11.NewAttribute(pkcs11.CKA_WRAP, false),
	)
	priv = append(common(pkcs11.CKO_PRIVATE_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		// Nothing may change a private key's attributes after creation: a
		// custody flag that could be flipped later would prove nothing.
		pkcs11.NewAttribute(pkcs11.CKA_MODIFIABLE, false),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, extractable),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN_RECOVER, false),
		pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, decrypt),
		pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, false),
	)
	switch {
	case alg.IsRSA():
		if alg == RSA1024 && (purpose == PurposeCA || purpose == PurposeTLS) {
			return nil, nil, 0, fmt.Errorf("%w: RSA_1024 is not allowed for a %s key", ErrUnsupported, purpose)
		}
		allowed := []uint{pkcs11.CKM_RSA_PKCS, pkcs11.CKM_RSA_PKCS_PSS}
		if decrypt {
			// CKM_RSA_X_509 backs OAEP-SHA-256 on tokens that refuse its
			// parameters; only KMS keys (never CA keys) get it.
			allowed = append(allowed, pkcs11.CKM_RSA_PKCS_OAEP, pkcs11.CKM_RSA_X_509)
		}
		pub = append(pub,
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_RSA),
			pkcs11.NewAttribute(pkcs11.CKA_MODULUS_BITS, alg.rsaBits()),
			pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, []byte{1, 0, 1}),
		)
		priv = append(priv,
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_RSA),
			allowedMechanisms(allowed...),
		)
		return pub, priv, pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN, nil
	default:
		oid, ok := curveOID(alg)
		if !ok {
			return nil, nil, 0, fmt.Errorf("%w: algorithm %q in the token", ErrUnsupported, alg)
		}
		params, _ := asn1.Marshal(oid)
		pub = append(pub,
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_EC),
			pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, params),
		)
		priv = append(priv,
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_EC),
			allowedMechanisms(pkcs11.CKM_ECDSA),
		)
		return pub, priv, pkcs11.CKM_EC_KEY_PAIR_GEN, nil
	}
}

// secretKeyTemplate is an AES-256 token key with exactly the given usages;
// service keys are never extractable.
func secretKeyTemplate(id, label string, encrypt, wrap bool, allowed ...uint) []*pkcs11.Attribute {
	return []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 32),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_MODIFIABLE, false),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
		pkcs11.NewAttribute(pkcs11.CKA_ID, []byte(id)),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
		pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, encrypt),
		pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, encrypt),
		pkcs11.NewAttribute(pkcs11.CKA_WRAP, wrap),
		pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, wrap),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN, false),
		pkcs11.NewAttribute(pkcs11.CKA_VERIFY, false),
		pkcs11.NewAttribute(pkcs11.CKA_DERIVE, false),
		allowedMechanisms(allowed...),
	}
}

// allowedMechanisms encodes CKA_ALLOWED_MECHANISMS, an array of CK_ULONG in
// host byte order (8 bytes on the LP64 platforms we support).
func allowedMechanisms(mechs ...uint) *pkcs11.Attribute {
	b := make([]byte, 0, 8*len(mechs))
	for _, m := range mechs {
		b = binary.NativeEndian.AppendUint64(b, uint64(m))
	}
	return pkcs11.NewAttribute(pkcs11.CKA_ALLOWED_MECHANISMS, b)
}
