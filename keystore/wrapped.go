package keystore

import (
	"context"
	"crypto"
	"fmt"

	"github.com/miekg/pkcs11"
	"github.com/tjfoc/gmsm/sm2"
	gmx509 "github.com/tjfoc/gmsm/x509"
)

// Wrapped end-entity keys: Private CA keys that the service generates for a
// customer (who downloads them) are generated as session objects, wrapped
// under the token's wrapping key, and destroyed in the token. The database
// keeps the wrapped blob. SoftHSM keeps one file per token object, and
// millions of leaf keys must not become millions of files.

// WrappedKey is a service-generated key held outside the token, encrypted
// under the token's wrapping key (SM2: sealed under the KEK).
type WrappedKey struct {
	Algorithm Algorithm
	Public    crypto.PublicKey
	Blob      []byte
}

// GenerateWrapped generates an end-entity key pair and returns it wrapped.
// No token object survives the call. owner binds an SM2 blob (sealed with
// AES-GCM) to its row; AES key wrap has no AAD, so callers check that an
// exported RSA/EC key matches its certificate.
func (s *Store) GenerateWrapped(ctx context.Context, alg Algorithm, owner AAD) (*WrappedKey, error) {
	w, err := s.generateWrapped(ctx, alg, owner)
	s.used(ctx, OpGenerateWrapped, wrapKeyID, wrappedMechanism(alg), err)
	return w, err
}

func (s *Store) generateWrapped(ctx context.Context, alg Algorithm, owner AAD) (*WrappedKey, error) {
	if alg == SM2 {
		return s.generateWrappedSM2(ctx, owner)
	}
	pubT, privT, mech, err := keyTemplates("wrapped", "wrapped", alg, PurposeKMS, true)
	if err != nil {
		return nil, err
	}
	pubT = sessionTemplate(pubT)
	privT = sessionTemplate(privT)
	var out *WrappedKey
	err = s.withSession(ctx, func(sh pkcs11.SessionHandle, _ bool) error {
		// Session objects live in SoftHSM's memory, not in object files, so
		// they need no objectLock.
		pubH, privH, err := s.ctx.GenerateKeyPair(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(mech, nil)}, pubT, privT)
		if err != nil {
			return fmt.Errorf("keystore: generate %s session key: %w", alg, err)
		}
		defer func() {
			_ = s.ctx.DestroyObject(sh, privH)
			_ = s.ctx.DestroyObject(sh, pubH)
		}()
		pub, _, err := s.readPublic(sh, pubH)
		if err != nil {
			return err
		}
		wk, err := s.secretHandle(ctx, sh, wrapKeyID)
		if err != nil {
			return err
		}
		blob, err := s.ctx.WrapKey(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_WRAP_PAD, nil)}, wk, privH)
		if err != nil {
			return fmt.Errorf("keystore: wrap end-entity key: %w", err)
		}
		out = &WrappedKey{Algorithm: alg, Public: pub, Blob: blob}
		return nil
	})
	return out, err
}

// unwrapPrivate unwraps an end-entity key blob under the wrapping key wk
// into a session object with the attributes of template.
func (s *Store) unwrapPrivate(sh pkcs11.SessionHandle, wk pkcs11.ObjectHandle, blob []byte, template []*pkcs11.Attribute) (pkcs11.ObjectHandle, error) {
	h, err := s.ctx.UnwrapKey(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_WRAP_PAD, nil)}, wk, blob, template)
	if err != nil {
		return 0, fmt.Errorf("keystore: unwrap end-entity key: %w", err)
	}
	return h, nil
}

// sessionTemplate turns a key template into a session-object template.
func sessionTemplate(t []*pkcs11.Attribute) []*pkcs11.Attribute {
	out := make([]*pkcs11.Attribute, 0, len(t))
	for _, a := range t {
		switch a.Type {
		case pkcs11.CKA_TOKEN:
			out = append(out, pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false))
		case pkcs11.CKA_ID, pkcs11.CKA_LABEL:
		default:
			out = append(out, a)
		}
	}
	return out
}

// ExportWrapped returns the PKCS#8 form of a wrapped key, for the caller to
// encrypt under its user's password at once: the blob is unwrapped into a
// session object, wrapped again under a one-time transport key, and the
// session object destroyed.
func (s *Store) ExportWrapped(ctx context.Context, w *WrappedKey, owner AAD) ([]byte, error) {
	der, err := s.exportWrapped(ctx, w, owner)
	s.used(ctx, OpExportWrapped, wrapKeyID, wrappedMechanism(w.Algorithm), err)
	return der, err
}

func (s *Store) exportWrapped(ctx context.Context, w *WrappedKey, owner AAD) ([]byte, error) {
	if w.Algorithm == SM2 {
		d, err := s.Open(ctx, wrappedSM2AAD(owner), w.Blob)
		if err != nil {
			return nil, err
		}
		defer clear(d)
		pub, ok := w.Public.(*sm2.PublicKey)
		if !ok {
			return nil, fmt.Errorf("keystore: SM2 wrapped key without an SM2 public key")
		}
		priv := sm2Key(pub, d)
		defer wipeInt(priv.D)
		return gmx509.MarshalSm2UnecryptedPrivateKey(priv)
	}
	keyType := uint(pkcs11.CKK_EC)
	if w.Algorithm.IsRSA() {
		keyType = pkcs11.CKK_RSA
	}
	var wrapped, kek []byte
	err := s.withSession(ctx, func(sh pkcs11.SessionHandle, _ bool) error {
		wk, err := s.secretHandle(ctx, sh, wrapKeyID)
		if err != nil {
			return err
		}
		h, err := s.unwrapPrivate(sh, wk, w.Blob, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY),
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, keyType),
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
			// No CKA_MODIFIABLE: SoftHSM 2.6.1 refuses it in an unwrap
			// template (CKR_ATTRIBUTE_READ_ONLY). This transient copy is
			// used by nothing but the wrap below and destroyed with it.
			pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
			pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
			pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, true),
			pkcs11.NewAttribute(pkcs11.CKA_SIGN, false),
			pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, false),
			pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, false),
			pkcs11.NewAttribute(pkcs11.CKA_DERIVE, false),
		})
		if err != nil {
			return err
		}
		defer func() { _ = s.ctx.DestroyObject(sh, h) }()
		wrapped, kek, err = s.wrapUnderTransportKey(sh, h)
		return err
	})
	if err != nil {
		return nil, err
	}
	defer clear(kek)
	return aesKeyUnwrapPad(kek, wrapped)
}

func (s *Store) generateWrappedSM2(ctx context.Context, owner AAD) (*WrappedKey, error) {
	if !s.cfg.AllowSoftwareSM2 {
		return nil, fmt.Errorf("%w: software SM2 custody is not allowed (keystore.allow_software_sm2)", ErrUnsupported)
	}
	priv, err := sm2.GenerateKey(s.Rand(ctx))
	if err != nil {
		return nil, fmt.Errorf("keystore: generate SM2 key: %w", err)
	}
	defer wipeInt(priv.D)
	d := priv.D.FillBytes(make([]byte, 32))
	defer clear(d)
	blob, err := s.Seal(ctx, wrappedSM2AAD(owner), d)
	if err != nil {
		return nil, err
	}
	return &WrappedKey{Algorithm: SM2, Public: &sm2.PublicKey{Curve: priv.Curve, X: priv.X, Y: priv.Y}, Blob: blob}, nil
}

func wrappedSM2AAD(owner AAD) AAD {
	owner.Purpose = "wrapped-sm2/" + owner.Purpose
	owner.Exportable = true
	return owner
}
