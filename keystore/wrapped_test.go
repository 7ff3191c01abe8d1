package keystore

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"testing"

	"github.com/tjfoc/gmsm/sm2"
	gmx509 "github.com/tjfoc/gmsm/x509"
)

// TestWrappedKeysLeaveNoTokenObjects: service-generated end-entity keys
// exist in the token only during the call, come back only wrapped, and
// export to PKCS#8 that matches their public key.
func TestWrappedKeysLeaveNoTokenObjects(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	before, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	owner := AAD{Purpose: "leaf", Account: "acct", KeyID: "cert-1"}
	for _, alg := range []Algorithm{RSA2048, ECP384, SM2} {
		w, err := s.GenerateWrapped(ctx, alg, owner)
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		der, err := s.ExportWrapped(ctx, w, owner)
		if err != nil {
			t.Fatalf("%s export: %v", alg, err)
		}
		switch pub := w.Public.(type) {
		case *rsa.PublicKey, *ecdsa.PublicKey:
			k, err := x509.ParsePKCS8PrivateKey(der)
			if err != nil || !k.(crypto.Signer).Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(pub) {
				t.Fatalf("%s: exported key does not match (%v)", alg, err)
			}
		case *sm2.PublicKey:
			k, err := gmx509.ParsePKCS8UnecryptedPrivateKey(der)
			if err != nil || k.X.Cmp(pub.X) != 0 {
				t.Fatalf("SM2: exported key does not match (%v)", err)
			}
			if _, err := s.ExportWrapped(ctx, w, AAD{Purpose: "leaf", Account: "acct", KeyID: "cert-2"}); !errors.Is(err, ErrSealedBlob) {
				t.Fatalf("an SM2 blob opened for another row: %v", err)
			}
		}
	}
	after, err := s.Info(ctx)
	if err != nil || after.KeyCount != before.KeyCount {
		t.Fatalf("token objects %d → %d (%v)", before.KeyCount, after.KeyCount, err)
	}
}
