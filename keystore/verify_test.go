package keystore

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"

	"github.com/tjfoc/gmsm/sm2"
)

// signAndVerify signs msg with the signer's natural scheme and verifies it
// with Go's crypto (gmsm for SM2).
func signAndVerify(signer *Signer, msg []byte) error {
	digest := sha256.Sum256(msg)
	switch pub := signer.Public().(type) {
	case *rsa.PublicKey:
		sig, err := signer.Sign(rand.Reader, digest[:], crypto.SHA256)
		if err != nil {
			return err
		}
		return rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig)
	case *ecdsa.PublicKey:
		sig, err := signer.Sign(rand.Reader, digest[:], crypto.SHA256)
		if err != nil {
			return err
		}
		if !ecdsa.VerifyASN1(pub, digest[:], sig) {
			return errors.New("bad ECDSA signature")
		}
	case *sm2.PublicKey:
		sig, err := signer.Sign(rand.Reader, msg, nil)
		if err != nil {
			return err
		}
		if !pub.Verify(msg, sig) {
			return errors.New("bad SM2 signature")
		}
	}
	return nil
}
