package keystore

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"strings"
	"testing"

	"github.com/certcustody/certcustody/softhsm/softhsmtest"
	"github.com/miekg/pkcs11"
	"github.com/tjfoc/gmsm/sm2"
	gmx509 "github.com/tjfoc/gmsm/x509"
)

func errorsIs(err, target error) bool { return errors.Is(err, target) }

// TestTemplatesSetEveryUsageAttribute reads each attribute back from the
// token: SoftHSM's defaults would otherwise grant DECRYPT/UNWRAP to sign keys.
func TestTemplatesSetEveryUsageAttribute(t *testing.T) {
	s, tok := newStore(t)
	raw := openRaw(t, tok)
	ctx := context.Background()
	tests := []struct {
		id         string
		alg        Algorithm
		purpose    Purpose
		exportable bool
		want       map[uint]bool
	}{
		{"kms-rsa", RSA2048, PurposeKMS, true, map[uint]bool{pkcs11.CKA_SIGN: true, pkcs11.CKA_DECRYPT: true, pkcs11.CKA_UNWRAP: false, pkcs11.CKA_DERIVE: false, pkcs11.CKA_SENSITIVE: true, pkcs11.CKA_EXTRACTABLE: true, pkcs11.CKA_PRIVATE: true, pkcs11.CKA_TOKEN: true}},
		{"kms-ec", ECP256, PurposeKMS, false, map[uint]bool{pkcs11.CKA_SIGN: true, pkcs11.CKA_DECRYPT: false, pkcs11.CKA_UNWRAP: false, pkcs11.CKA_DERIVE: false, pkcs11.CKA_SENSITIVE: true, pkcs11.CKA_EXTRACTABLE: false, pkcs11.CKA_ALWAYS_SENSITIVE: true, pkcs11.CKA_NEVER_EXTRACTABLE: true}},
		{"ca-rsa", RSA2048, PurposeCA, true /* ignored: CA keys never leave */, map[uint]bool{pkcs11.CKA_SIGN: true, pkcs11.CKA_DECRYPT: false, pkcs11.CKA_UNWRAP: false, pkcs11.CKA_EXTRACTABLE: false, pkcs11.CKA_NEVER_EXTRACTABLE: true, pkcs11.CKA_ALWAYS_SENSITIVE: true}},
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			if _, err := s.Generate(ctx, GenerateRequest{ID: tc.id, Algorithm: tc.alg, Purpose: tc.purpose, Exportable: tc.exportable}); err != nil {
				t.Fatal(err)
			}
			priv := raw.find(t, tc.id, pkcs11.CKO_PRIVATE_KEY)
			for attr, want := range tc.want {
				if got := raw.boolAttr(t, priv, attr); got != want {
					t.Errorf("attribute 0x%x = %v, want %v", attr, got, want)
				}
			}
			pub := raw.find(t, tc.id, pkcs11.CKO_PUBLIC_KEY)
			if raw.boolAttr(t, pub, pkcs11.CKA_WRAP) {
				t.Error("public key may wrap")
			}
			c, err := s.Custody(ctx, tc.id)
			if err != nil {
				t.Fatal(err)
			}
			if c.ProtectionLevel != ProtectionHSM || c.Extractable != tc.want[pkcs11.CKA_EXTRACTABLE] || !c.Sensitive || !c.AlwaysSensitive {
				t.Errorf("custody report %+v disagrees with the token", c)
			}
			if !strings.HasPrefix(c.URI, "pkcs11:token=") || !strings.Contains(c.URI, "object="+tc.id) {
				t.Errorf("URI %q", c.URI)
			}
		})
	}
}

// TestCAKeyRefusesRawRSA: only KMS keys may use CKM_RSA_X_509; the token
// enforces CKA_ALLOWED_MECHANISMS on CA keys.
func TestCAKeyRefusesRawRSA(t *testing.T) {
	s, tok := newStore(t)
	raw := openRaw(t, tok)
	if _, err := s.Generate(context.Background(), GenerateRequest{ID: "ca", Algorithm: RSA2048, Purpose: PurposeCA}); err != nil {
		t.Fatal(err)
	}
	priv := raw.find(t, "ca", pkcs11.CKO_PRIVATE_KEY)
	err := raw.ctx.SignInit(raw.sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_RSA_X_509, nil)}, priv)
	if err == nil {
		_, err = raw.ctx.Sign(raw.sh, make([]byte, 256))
	}
	if !isCKR(err, pkcs11.CKR_MECHANISM_INVALID, pkcs11.CKR_KEY_FUNCTION_NOT_PERMITTED) {
		t.Fatalf("raw RSA with a CA key: got %v, want the token to refuse", err)
	}
	if _, err := s.Generate(context.Background(), GenerateRequest{ID: "ca1024", Algorithm: RSA1024, Purpose: PurposeCA}); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("RSA_1024 CA key: got %v, want ErrUnsupported", err)
	}
}

// TestNonExportableKeyNeverLeaves: our export refuses, the token refuses a
// direct C_WrapKey, and pkcs11-tool shows the key sensitive and never
// extractable.
func TestNonExportableKeyNeverLeaves(t *testing.T) {
	s, tok := newStore(t)
	raw := openRaw(t, tok)
	ctx := context.Background()
	if _, err := s.Generate(ctx, GenerateRequest{ID: "locked", Algorithm: RSA2048, Purpose: PurposeKMS, Exportable: false}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Export(ctx, "locked"); !errors.Is(err, ErrNotExportable) {
		t.Fatalf("Export: got %v, want ErrNotExportable", err)
	}
	priv := raw.find(t, "locked", pkcs11.CKO_PRIVATE_KEY)
	wk, err := raw.ctx.GenerateKey(raw.sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_GEN, nil)}, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY), pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 32), pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false), pkcs11.NewAttribute(pkcs11.CKA_WRAP, true)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = raw.ctx.WrapKey(raw.sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_WRAP_PAD, nil)}, wk, priv)
	if !isCKR(err, pkcs11.CKR_KEY_UNEXTRACTABLE) {
		t.Fatalf("direct C_WrapKey: got %v, want CKR_KEY_UNEXTRACTABLE", err)
	}
	out, err := runTool(t, "pkcs11-tool", "--module", tok.Module, "--token-label", tok.Label, "--login", "--pin", tok.PIN, "--list-objects", "--type", "privkey")
	if err != nil {
		t.Fatalf("pkcs11-tool: %v\n%s", err, out)
	}
	block := out[strings.Index(out, "label:      locked"):]
	if end := strings.Index(block[1:], "Private Key Object"); end > 0 {
		block = block[:end]
	}
	for _, want := range []string{"sensitive", "always sensitive", "never extractable"} {
		if !strings.Contains(block, want) {
			t.Errorf("pkcs11-tool does not show %q for the key:\n%s", want, block)
		}
	}
}

// TestExportableKeyRoundTrips: an exportable key leaves only through
// C_WrapKey and comes back as PKCS#8 matching its public key.
func TestExportableKeyRoundTrips(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	for _, alg := range []Algorithm{RSA2048, ECP256, ECP384, SM2} {
		t.Run(string(alg), func(t *testing.T) {
			id := "exp-" + string(alg)
			key, err := s.Generate(ctx, GenerateRequest{ID: id, Algorithm: alg, Purpose: PurposeKMS, Exportable: true})
			if err != nil {
				t.Fatal(err)
			}
			der, err := s.Export(ctx, id)
			if err != nil {
				t.Fatalf("export: %v", err)
			}
			switch pub := key.Public.(type) {
			case *rsa.PublicKey:
				k, err := x509.ParsePKCS8PrivateKey(der)
				if err != nil || !k.(*rsa.PrivateKey).PublicKey.Equal(pub) {
					t.Fatalf("exported RSA key does not match: %v", err)
				}
			case *ecdsa.PublicKey:
				k, err := x509.ParsePKCS8PrivateKey(der)
				if err != nil || !k.(*ecdsa.PrivateKey).PublicKey.Equal(pub) {
					t.Fatalf("exported EC key does not match: %v", err)
				}
			case *sm2.PublicKey:
				k, err := gmx509.ParsePKCS8UnecryptedPrivateKey(der)
				if err != nil || k.X.Cmp(pub.X) != 0 || k.Y.Cmp(pub.Y) != 0 {
					t.Fatalf("exported SM2 key does not match: %v", err)
				}
			}
		})
	}
	if _, err := s.Generate(ctx, GenerateRequest{ID: "sm2-locked", Algorithm: SM2, Purpose: PurposeKMS}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Export(ctx, "sm2-locked"); !errors.Is(err, ErrNotExportable) {
		t.Fatalf("non-exportable SM2 export: got %v", err)
	}
	c, err := s.Custody(ctx, "sm2-locked")
	if err != nil || c.ProtectionLevel != ProtectionSoftware || c.Exportable || c.Sensitive || c.NeverExtractable {
		t.Fatalf("software SM2 custody must not borrow the KEK's attributes: %+v %v", c, err)
	}
}

func TestGenerateRefusesDuplicateID(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	if _, err := s.Generate(ctx, GenerateRequest{ID: "dup", Algorithm: ECP256, Purpose: PurposeKMS}); err != nil {
		t.Fatal(err)
	}
	for _, alg := range []Algorithm{ECP256, SM2} {
		if _, err := s.Generate(ctx, GenerateRequest{ID: "dup", Algorithm: alg, Purpose: PurposeKMS}); !errors.Is(err, ErrKeyExists) {
			t.Fatalf("%s with a used ID: got %v, want ErrKeyExists", alg, err)
		}
	}
	if _, err := s.Generate(ctx, GenerateRequest{ID: "certcustody-kek-1", Algorithm: ECP256, Purpose: PurposeKMS}); err == nil {
		t.Fatal("a key took a service key's ID")
	}
}

func TestDestroyRemovesEveryObject(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	for _, alg := range []Algorithm{RSA2048, SM2} {
		id := "gone-" + string(alg)
		if _, err := s.Generate(ctx, GenerateRequest{ID: id, Algorithm: alg, Purpose: PurposeKMS}); err != nil {
			t.Fatal(err)
		}
		if err := s.Destroy(ctx, id); err != nil {
			t.Fatal(err)
		}
		if ok, err := s.Exists(ctx, id); err != nil || ok {
			t.Fatalf("%s still in the token after Destroy (%v)", id, err)
		}
		if _, err := s.Signer(ctx, id); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Signer after Destroy: got %v, want ErrNotFound", err)
		}
		if err := s.Destroy(ctx, id); !errors.Is(err, ErrNotFound) {
			t.Fatalf("second Destroy: got %v, want ErrNotFound", err)
		}
	}
}

func TestWrongPINErrorDoesNotLeakPIN(t *testing.T) {
	tok := softhsmtest.Token(t, tokens)
	const wrong = "s3cret-but-wrong-PIN-4711"
	_, err := Open(context.Background(), Config{Module: tok.Module, TokenLabel: tok.Label, PIN: wrong})
	if !errors.Is(err, ErrLogin) {
		t.Fatalf("got %v, want ErrLogin", err)
	}
	if strings.Contains(err.Error(), wrong) || strings.Contains(err.Error(), tok.PIN) {
		t.Fatalf("error leaks a PIN: %v", err)
	}
	if !strings.Contains(err.Error(), "CKR_PIN_INCORRECT") {
		t.Fatalf("error does not say why: %v", err)
	}
}
