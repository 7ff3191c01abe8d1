package certmgr

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"testing"
)

// TestRSASignaturesAreCheckedBeforeRelease: a real token's RSA signature
// (PKCS#1 v1.5 and PSS) passes the check CertificatePrivateKeySign makes
// before releasing it, and the same signature with one bit flipped (what
// a fault in the token would return) is refused; an EC key's signature is
// not checked.
func TestRSASignaturesAreCheckedBeforeRelease(t *testing.T) {
	ctx := context.Background()
	m, c := newManager(t)
	digest := sha256.Sum256([]byte("fault"))
	for _, spec := range []string{"RSA_2048", "EC_P256"} {
		res, err := m.CreateCertificate(ctx, c, CreateCertificateRequest{KeySpec: spec, Subject: "CN=sig,OU=ou,O=o,C=CN"})
		if err != nil {
			t.Fatal(err)
		}
		row, err := m.sqlStore().GetKMSCertificate(ctx, c.AccountID, res.CertificateID)
		if err != nil {
			t.Fatal(err)
		}
		signer, err := m.kmsSigner(ctx, row)
		if err != nil {
			t.Fatal(err)
		}
		algs := map[string]crypto.SignerOpts{"ECDSA_SHA_256": crypto.SHA256}
		if spec == "RSA_2048" {
			algs = map[string]crypto.SignerOpts{"RSA_PKCS1_SHA_256": crypto.SHA256, "RSA_PSS_SHA_256": pssOpts}
		}
		for alg, opts := range algs {
			sig, err := signer.Sign(rand.Reader, digest[:], opts)
			if err != nil {
				t.Fatal(err)
			}
			if err := checkRSASignature(signer.Public(), alg, digest[:], sig); err != nil {
				t.Fatalf("%s: the token's own signature is refused: %v", alg, err)
			}
			sig[len(sig)/2] ^= 0x10
			err = checkRSASignature(signer.Public(), alg, digest[:], sig)
			if spec == "RSA_2048" && err == nil {
				t.Fatalf("%s: a corrupted signature passes", alg)
			}
			if spec != "RSA_2048" && err != nil {
				t.Fatalf("%s: an EC signature was checked: %v", alg, err)
			}
		}
	}
}
