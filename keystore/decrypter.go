package keystore

import (
	"crypto"
	"crypto/rsa"
	"fmt"
	"io"

	"github.com/miekg/pkcs11"
)

const (
	oaepUnknown int32 = iota
	oaepNative
	oaepRefused
)

var oaepParams = map[crypto.Hash][2]uint{
	crypto.SHA1:   {pkcs11.CKM_SHA_1, pkcs11.CKG_MGF1_SHA1},
	crypto.SHA256: {pkcs11.CKM_SHA256, pkcs11.CKG_MGF1_SHA256},
}

// Decrypt decrypts with the token key: RSA OAEP (opts *rsa.OAEPOptions with
// SHA-1 or SHA-256) or SM2 (GM/T 0009 ASN.1 ciphertext; opts ignored). Every
// failure on a well-formed request is ErrDecrypt, so the answer gives a
// padding oracle nothing to read.
func (k *Signer) Decrypt(_ io.Reader, msg []byte, opts crypto.DecrypterOpts) (pt []byte, err error) {
	mech := "CKM_RSA_PKCS_OAEP"
	if k.alg == SM2 {
		mech = mechSM2Software
	}
	defer func() { k.s.used(k.ctx, OpDecrypt, k.id, mech, err) }()
	if k.alg == SM2 {
		return k.s.sm2Decrypt(k.ctx, k.id, msg)
	}
	pub, ok := k.pub.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: decryption with %s", ErrUnsupported, k.alg)
	}
	o, ok := opts.(*rsa.OAEPOptions)
	if !ok {
		return nil, fmt.Errorf("%w: RSA decryption other than OAEP", ErrUnsupported)
	}
	hm, ok := oaepParams[o.Hash]
	if !ok || (o.MGFHash != 0 && o.MGFHash != o.Hash) {
		return nil, fmt.Errorf("%w: OAEP with %v", ErrUnsupported, o.Hash)
	}
	size := pub.Size()
	if len(msg) != size {
		return nil, ErrDecrypt
	}
	// SoftHSM ignores the OAEP label (pSourceData) and then fails the
	// decryption, so a labelled ciphertext is always unpadded in Go.
	if len(o.Label) > 0 || (o.Hash != crypto.SHA1 && k.s.oaepSHA256.Load() == oaepRefused) {
		return k.decryptRawOAEP(msg, size, o)
	}
	params := pkcs11.NewOAEPParams(hm[0], hm[1], pkcs11.CKZ_DATA_SPECIFIED, nil)
	pt, err = k.tokenDecrypt(pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS_OAEP, params), msg)
	if err == nil {
		if o.Hash != crypto.SHA1 {
			k.s.oaepSHA256.Store(oaepNative)
		}
		return pt, nil
	}
	// SoftHSM 2.6.1 accepts OAEP only with SHA-1 and answers anything else
	// with CKR_ARGUMENTS_BAD; remember that and unpad in Go instead.
	if o.Hash != crypto.SHA1 && isCKR(err, pkcs11.CKR_ARGUMENTS_BAD, pkcs11.CKR_MECHANISM_PARAM_INVALID) {
		k.s.oaepSHA256.Store(oaepRefused)
		return k.decryptRawOAEP(msg, size, o)
	}
	if isCKR(err, pkcs11.CKR_ENCRYPTED_DATA_INVALID, pkcs11.CKR_ENCRYPTED_DATA_LEN_RANGE, pkcs11.CKR_DATA_INVALID, pkcs11.CKR_DATA_LEN_RANGE, pkcs11.CKR_GENERAL_ERROR) {
		return nil, ErrDecrypt
	}
	return nil, err
}

func (k *Signer) decryptRawOAEP(msg []byte, size int, o *rsa.OAEPOptions) ([]byte, error) {
	em, err := k.tokenDecrypt(pkcs11.NewMechanism(pkcs11.CKM_RSA_X_509, nil), msg)
	if err != nil {
		if isCKR(err, pkcs11.CKR_ENCRYPTED_DATA_INVALID, pkcs11.CKR_ENCRYPTED_DATA_LEN_RANGE) {
			return nil, ErrDecrypt
		}
		return nil, err
	}
	if len(em) > size {
		return nil, ErrDecrypt
	}
	if len(em) < size { // a token may strip leading zero bytes
		em = append(make([]byte, size-len(em)), em...)
	}
	return oaepUnpad(em, o.Hash.New(), o.Label)
}

func (k *Signer) tokenDecrypt(mech *pkcs11.Mechanism, msg []byte) ([]byte, error) {
	var pt []byte
	err := k.withKey(func(sh pkcs11.SessionHandle, priv pkcs11.ObjectHandle) error {
		if err := k.s.ctx.DecryptInit(sh, []*pkcs11.Mechanism{mech}, priv); err != nil {
			return fmt.Errorf("keystore: decrypt with %s: %w", k.id, err)
		}
		var err error
		pt, err = k.s.ctx.Decrypt(sh, msg)
		if err != nil {
			return fmt.Errorf("keystore: decrypt with %s: %w", k.id, err)
		}
		return nil
	})
	return pt, err
}
