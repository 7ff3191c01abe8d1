package keystore

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/asn1"
	"math/big"
	"os"
	"path/filepath"
	"testing"

	"github.com/certcustody/certcustody/softhsm/softhsmtest"
	"github.com/tjfoc/gmsm/sm2"
	"github.com/tjfoc/gmsm/sm3"
)

// TestSignVerifiesWithGoAndOpenSSL generates each key type in the token,
// signs, and verifies with Go's crypto (gmsm for SM2) and with openssl
// pkeyutl on the public key.
func TestSignVerifiesWithGoAndOpenSSL(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	msg := []byte("certcustody signs this")
	digest := sha256.Sum256(msg)
	tests := []struct {
		alg     Algorithm
		purpose Purpose
		pss     bool
	}{
		{RSA1024, PurposeKMS, false},
		{RSA2048, PurposeKMS, false},
		{RSA2048, PurposeKMS, true},
		{RSA3072, PurposeCA, false},
		{RSA4096, PurposeCA, true},
		{ECP256, PurposeKMS, false},
		{ECP384, PurposeCA, false},
		{ECP521, PurposeCA, false},
		{SM2, PurposeKMS, false},
	}
	for i, tc := range tests {
		name := string(tc.alg) + "/" + tc.purpose.String()
		if tc.pss {
			name += "/PSS"
		}
		t.Run(name, func(t *testing.T) {
			id := "key-" + string(rune('a'+i))
			key, err := s.Generate(ctx, GenerateRequest{ID: id, Algorithm: tc.alg, Purpose: tc.purpose})
			if err != nil {
				t.Fatalf("generate: %v", err)
			}
			signer, err := s.Signer(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			pubPath := writePublicPEM(t, dir, key.Public)
			sigPath := filepath.Join(dir, "sig")
			var args []string
			switch pub := key.Public.(type) {
			case *rsa.PublicKey:
				var opts crypto.SignerOpts = crypto.SHA256
				if tc.pss {
					opts = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}
				}
				sig, err := signer.Sign(rand.Reader, digest[:], opts)
				if err != nil {
					t.Fatalf("sign: %v", err)
				}
				if tc.pss {
					err = rsa.VerifyPSS(pub, crypto.SHA256, digest[:], sig, &rsa.PSSOptions{SaltLength: 32})
					args = []string{"-pkeyopt", "rsa_padding_mode:pss", "-pkeyopt", "rsa_pss_saltlen:32", "-pkeyopt", "rsa_mgf1_md:sha256"}
				} else {
					err = rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig)
				}
				if err != nil {
					t.Fatalf("Go rejects the token's signature: %v", err)
				}
				args = append(args, "-pkeyopt", "digest:sha256")
				writeFile(t, sigPath, sig)
			case *ecdsa.PublicKey:
				sig, err := signer.Sign(rand.Reader, digest[:], crypto.SHA256)
				if err != nil {
					t.Fatalf("sign: %v", err)
				}
				if !ecdsa.VerifyASN1(pub, digest[:], sig) {
					t.Fatal("Go rejects the token's ECDSA signature")
				}
				writeFile(t, sigPath, sig)
			case *sm2.PublicKey:
				if key.ProtectionLevel != ProtectionSoftware {
					t.Fatalf("SM2 on SoftHSM reports %s, want SOFTWARE", key.ProtectionLevel)
				}
				sig, err := signer.Sign(rand.Reader, msg, nil)
				if err != nil {
					t.Fatalf("sign: %v", err)
				}
				if !pub.Verify(msg, sig) {
					t.Fatal("gmsm rejects the SM2 signature")
				}
				writeFile(t, sigPath, sig)
			default:
				t.Fatalf("unexpected public key %T", key.Public)
			}
			in := filepath.Join(dir, "in")
			if tc.alg == SM2 {
				writeFile(t, in, msg) // SM2 signs the message: Z and SM3 are part of the scheme
				args = []string{"-rawin", "-digest", "sm3", "-pkeyopt", "distid:1234567812345678"}
			} else {
				writeFile(t, in, digest[:])
			}
			out, err := runTool(t, "openssl", append([]string{"pkeyutl", "-verify", "-pubin", "-inkey", pubPath, "-in", in, "-sigfile", sigPath}, args...)...)
			if err != nil || !contains(out, "Signature Verified Successfully") {
				t.Fatalf("openssl pkeyutl -verify: %v\n%s", err, out)
			}
		})
	}
}

func TestSM2SignDigestMatchesMessageSignature(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	key, err := s.Generate(ctx, GenerateRequest{ID: "sm2", Algorithm: SM2, Purpose: PurposeKMS})
	if err != nil {
		t.Fatal(err)
	}
	pub := key.Public.(*sm2.PublicKey)
	msg := []byte("digest mode")
	e, err := pub.Sm3Digest(msg, nil)
	if err != nil {
		t.Fatal(err)
	}
	// gmsm returns e as a big integer's bytes: one time in 256 its leading
	// byte is zero and dropped. The digest is 32 bytes.
	e = append(make([]byte, 32-len(e)), e...)
	signer, _ := s.Signer(ctx, "sm2")
	sig, err := signer.SignDigest(rand.Reader, e)
	if err != nil {
		t.Fatal(err)
	}
	if !pub.Verify(msg, sig) {
		t.Fatal("a signature over e = SM3(Z‖M) does not verify as a signature over M")
	}
	if _, err := signer.SignDigest(rand.Reader, e[:31]); err == nil {
		t.Fatal("a 31-byte SM2 digest was signed")
	}
	var rs struct{ R, S *big.Int }
	if _, err := asn1.Unmarshal(sig, &rs); err != nil || !sm2.Verify(pub, e, rs.R, rs.S) {
		t.Fatal("gmsm's digest verifier rejects SignDigest's output")
	}
	_ = sm3.Sm3Sum // SM3 comes through gmsm's Sm3Digest above
}

func TestSoftwareSM2RequiresOptIn(t *testing.T) {
	tok := softhsmtest.Token(t, tokens)
	s, err := Open(context.Background(), Config{Module: tok.Module, TokenLabel: tok.Label, PIN: tok.PIN})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.Generate(context.Background(), GenerateRequest{ID: "sm2", Algorithm: SM2, Purpose: PurposeKMS})
	if !errorsIs(err, ErrUnsupported) {
		t.Fatalf("software SM2 without opt-in: got %v, want ErrUnsupported", err)
	}
	if ok, _ := s.Exists(context.Background(), "sm2"); ok {
		t.Fatal("a refused SM2 key left an object in the token")
	}
}

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
