package csrgen

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"fmt"
)

// KeyAlgorithm names a public key the way the KMS KeySpec does:
// "RSA_<bits>" (RSA_2048, RSA_4096, ...), "EC_P256", "EC_P384", "EC_P521" or
// "EC_SM2" (for *sm2.PublicKey, or *ecdsa.PublicKey on the SM2 curve). Any
// other key or curve wraps ErrUnsupportedKey.
func KeyAlgorithm(pub crypto.PublicKey) (string, error) {
	if _, ok := sm2Public(pub); ok {
		return "EC_SM2", nil
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k == nil || k.N == nil || k.N.Sign() <= 0 {
			return "", newErr(ErrUnsupportedKey, "RSA public key is empty")
		}
		return fmt.Sprintf("RSA_%d", k.N.BitLen()), nil
	case *ecdsa.PublicKey:
		if k == nil {
			return "", newErr(ErrUnsupportedKey, "ECDSA public key is empty")
		}
		switch k.Curve {
		case elliptic.P256():
			return "EC_P256", nil
		case elliptic.P384():
			return "EC_P384", nil
		case elliptic.P521():
			return "EC_P521", nil
		}
		return "", newErr(ErrUnsupportedKey, "ECDSA curve is not P-256, P-384, P-521 or SM2")
	}
	return "", newErr(ErrUnsupportedKey, "public key type %T is not RSA, ECDSA or SM2", pub)
}
