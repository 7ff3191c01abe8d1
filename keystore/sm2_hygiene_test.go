package keystore

import (
	"context"
	"crypto/rand"
	"errors"
	"math/big"
	"testing"

	"github.com/tjfoc/gmsm/sm2"
)

// TestSM2SigningKeysNeverDecrypt: an SM2 key made for a CA or for signing
// is refused for decryption with ErrKeyPurpose, before its scalar is
// unsealed; a KMS SM2 key still decrypts.
func TestSM2SigningKeysNeverDecrypt(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	for _, p := range []Purpose{PurposeCA, PurposeSign, PurposeKMS} {
		id := "sm2-" + p.String()
		key, err := s.Generate(ctx, GenerateRequest{ID: id, Algorithm: SM2, Purpose: p})
		if err != nil {
			t.Fatal(err)
		}
		ct, err := sm2.EncryptAsn1(key.Public.(*sm2.PublicKey), []byte("secret"), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		signer, err := s.Signer(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		unseals := s.Stats().Operations[UseKind{Op: OpUnseal, Mechanism: mechAESGCM}]
		pt, err := signer.Decrypt(nil, ct, nil)
		if p != PurposeKMS {
			if !errors.Is(err, ErrKeyPurpose) || pt != nil {
				t.Errorf("%s key decrypted: %q, %v; want ErrKeyPurpose", p, pt, err)
			}
			if n := s.Stats().Operations[UseKind{Op: OpUnseal, Mechanism: mechAESGCM}]; n != unseals {
				t.Errorf("%s key: the scalar was unsealed before the refusal", p)
			}
			continue
		}
		if err != nil || string(pt) != "secret" {
			t.Errorf("KMS SM2 key: %q, %v", pt, err)
		}
	}
}

// TestWipeIntZeroesWords: SetInt64(0) leaves a big.Int's words in memory;
// wipeInt zeroes the array the scalar was held in.
func TestWipeIntZeroesWords(t *testing.T) {
	d := make([]byte, 32)
	for i := range d {
		d[i] = byte(0xA0 + i)
	}
	x := new(big.Int).SetBytes(d)
	words := x.Bits()[:len(x.Bits())] // aliases x's array
	wipeInt(x)
	if x.Sign() != 0 {
		t.Fatal("not zero")
	}
	for i, w := range words {
		if w != 0 {
			t.Fatalf("word %d still holds %#x", i, w)
		}
	}
}
