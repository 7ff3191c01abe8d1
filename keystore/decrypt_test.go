package keystore

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/asn1"
	"errors"
	"math/big"
	"path/filepath"
	"testing"

	"github.com/tjfoc/gmsm/sm2"
)

func TestRSAOAEPDecrypt(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	key, err := s.Generate(ctx, GenerateRequest{ID: "rsa", Algorithm: RSA2048, Purpose: PurposeKMS})
	if err != nil {
		t.Fatal(err)
	}
	pub := key.Public.(*rsa.PublicKey)
	dec, _ := s.Signer(ctx, "rsa")
	for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA256} {
		t.Run(h.String(), func(t *testing.T) {
			for _, label := range [][]byte{nil, []byte("context")} {
				plain := []byte("a data key of 32 bytes.........!")
				ct, err := rsa.EncryptOAEP(h.New(), rand.Reader, pub, plain, label)
				if err != nil {
					t.Fatal(err)
				}
				got, err := dec.Decrypt(rand.Reader, ct, &rsa.OAEPOptions{Hash: h, Label: label})
				if err != nil || !bytes.Equal(got, plain) {
					t.Fatalf("decrypt: %q, %v", got, err)
				}
				ct[len(ct)-1] ^= 1
				if _, err := dec.Decrypt(rand.Reader, ct, &rsa.OAEPOptions{Hash: h, Label: label}); !errors.Is(err, ErrDecrypt) {
					t.Fatalf("tampered ciphertext: got %v, want ErrDecrypt", err)
				}
			}
			if _, err := dec.Decrypt(rand.Reader, []byte("short"), &rsa.OAEPOptions{Hash: h}); !errors.Is(err, ErrDecrypt) {
				t.Fatalf("short ciphertext: got %v, want ErrDecrypt", err)
			}
		})
	}
	ecKey, _ := s.Generate(ctx, GenerateRequest{ID: "ec", Algorithm: ECP256, Purpose: PurposeKMS})
	ecDec, _ := s.Signer(ctx, ecKey.ID)
	if _, err := ecDec.Decrypt(rand.Reader, make([]byte, 64), nil); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("EC decrypt: got %v, want ErrUnsupported", err)
	}
}

func TestSM2DecryptIsHardened(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	key, err := s.Generate(ctx, GenerateRequest{ID: "sm2", Algorithm: SM2, Purpose: PurposeKMS})
	if err != nil {
		t.Fatal(err)
	}
	pub := key.Public.(*sm2.PublicKey)
	dec, _ := s.Signer(ctx, "sm2")
	plain := []byte("sm2 plaintext")
	ct, err := sm2.EncryptAsn1(pub, plain, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	got, err := dec.Decrypt(nil, ct, nil)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("decrypt gmsm ciphertext: %q %v", got, err)
	}

	// OpenSSL as the encrypting peer: GM/T 0009 ASN.1 on the wire.
	dir := t.TempDir()
	pubPath := writePublicPEM(t, dir, pub)
	in, out := filepath.Join(dir, "in"), filepath.Join(dir, "out")
	writeFile(t, in, plain)
	if o, err := runTool(t, "openssl", "pkeyutl", "-encrypt", "-pubin", "-inkey", pubPath, "-in", in, "-out", out); err != nil {
		t.Fatalf("openssl pkeyutl -encrypt: %v\n%s", err, o)
	}
	got, err = dec.Decrypt(nil, readFile(t, out), nil)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("decrypt OpenSSL ciphertext: %q %v", got, err)
	}

	var c sm2Ciphertext
	if _, err := asn1.Unmarshal(ct, &c); err != nil {
		t.Fatal(err)
	}
	mutate := func(f func(*sm2Ciphertext)) []byte {
		m := sm2Ciphertext{X: new(big.Int).Set(c.X), Y: new(big.Int).Set(c.Y), Hash: append([]byte{}, c.Hash...), C2: append([]byte{}, c.C2...)}
		f(&m)
		b, _ := asn1.Marshal(m)
		return b
	}
	bad := map[string][]byte{
		"empty":          nil,
		"truncated":      ct[:len(ct)/2],
		"raw C1C3C2":     append([]byte{4}, make([]byte, 97)...),
		"off-curve C1":   mutate(func(m *sm2Ciphertext) { m.Y.Add(m.Y, big.NewInt(1)) }),
		"identity C1":    mutate(func(m *sm2Ciphertext) { m.X, m.Y = big.NewInt(0), big.NewInt(0) }),
		"short C3":       mutate(func(m *sm2Ciphertext) { m.Hash = m.Hash[:31] }),
		"empty C2":       mutate(func(m *sm2Ciphertext) { m.C2 = nil }),
		"flipped C2":     mutate(func(m *sm2Ciphertext) { m.C2[0] ^= 1 }),
		"trailing bytes": append(append([]byte{}, ct...), 0),
	}
	for name, b := range bad {
		t.Run(name, func(t *testing.T) {
			if _, err := dec.Decrypt(nil, b, nil); !errors.Is(err, ErrDecrypt) {
				t.Fatalf("got %v, want ErrDecrypt", err)
			}
		})
	}
}

func TestSealOpenBindsAAD(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	aad := AAD{Purpose: "accesskey-secret", Account: "acct-1", KeyID: "LTAI1", Exportable: false}
	secret := []byte("the access key secret")
	blob, err := s.Seal(ctx, aad, secret)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(blob, secret) {
		t.Fatal("sealed blob contains the plaintext")
	}
	got, err := s.Open(ctx, aad, blob)
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("open: %q %v", got, err)
	}
	others := []AAD{
		{Purpose: "accesskey-secret", Account: "acct-2", KeyID: "LTAI1"},
		{Purpose: "accesskey-secret", Account: "acct-1", KeyID: "LTAI2"},
		{Purpose: "accesskey-secret", Account: "acct-1", KeyID: "LTAI1", Exportable: true},
		{Purpose: "sm2-scalar", Account: "acct-1", KeyID: "LTAI1"},
		{Purpose: "accesskey-secretacct-1", Account: "", KeyID: "LTAI1"}, // no ambiguity across fields
	}
	for _, o := range others {
		if _, err := s.Open(ctx, o, blob); !errors.Is(err, ErrSealedBlob) {
			t.Fatalf("blob opened under other AAD %+v: %v", o, err)
		}
	}
	tampered := append([]byte{}, blob...)
	tampered[len(tampered)-1] ^= 1
	if _, err := s.Open(ctx, aad, tampered); !errors.Is(err, ErrSealedBlob) {
		t.Fatalf("tampered blob: %v", err)
	}
	if _, err := s.Open(ctx, aad, blob[:5]); !errors.Is(err, ErrSealedBlob) {
		t.Fatalf("truncated blob: %v", err)
	}

	v, err := s.RotateKEK(ctx)
	if err != nil || v != 2 {
		t.Fatalf("rotate: %d %v", v, err)
	}
	blob2, err := s.Seal(ctx, aad, secret)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range [][]byte{blob, blob2} {
		if got, err := s.Open(ctx, aad, b); err != nil || !bytes.Equal(got, secret) {
			t.Fatalf("open after rotation: %v", err)
		}
	}
}
