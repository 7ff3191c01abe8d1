package keystore

import (
	"context"
	"crypto/subtle"
	"encoding/asn1"
	"encoding/binary"
	"fmt"
	"math/big"

	"github.com/tjfoc/gmsm/sm2"
	"github.com/tjfoc/gmsm/sm3"
)

// maxSM2Plaintext bounds SM2 ciphertexts we accept; KMS data is at most a few KB.
const maxSM2Plaintext = 6 << 10

// sm2Ciphertext is the GM/T 0009 ASN.1 form (what OpenSSL produces).
type sm2Ciphertext struct {
	X, Y *big.Int
	Hash []byte
	C2   []byte
}

// sm2Decrypt decrypts GM/T 0009 ciphertext. gmsm's Decrypt panics on short
// input and never checks that C1 lies on the curve (an invalid-curve oracle
// on the private scalar), so the ciphertext is parsed and checked here and
// gmsm is used only for the curve arithmetic and SM3.
func (s *Store) sm2Decrypt(ctx context.Context, id string, msg []byte) (pt []byte, err error) {
	var c sm2Ciphertext
	if rest, err := asn1.Unmarshal(msg, &c); err != nil || len(rest) != 0 {
		return nil, ErrDecrypt
	}
	curve := sm2.P256Sm2()
	p := curve.Params().P
	if c.X == nil || c.Y == nil || c.X.Sign() < 0 || c.Y.Sign() < 0 || c.X.Cmp(p) >= 0 || c.Y.Cmp(p) >= 0 ||
		(c.X.Sign() == 0 && c.Y.Sign() == 0) || !onSM2Curve(c.X, c.Y) ||
		len(c.Hash) != 32 || len(c.C2) == 0 || len(c.C2) > maxSM2Plaintext {
		return nil, ErrDecrypt
	}
	d, _, err := s.unsealSM2(ctx, id, func(rec *softwareRecord) error {
		if Purpose(rec.Purpose) != PurposeKMS {
			return fmt.Errorf("%w: %s is a %s key, for signing only; it never decrypts", ErrKeyPurpose, id, Purpose(rec.Purpose))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	defer clear(d)
	defer func() {
		if r := recover(); r != nil {
			pt, err = nil, fmt.Errorf("%w (internal fault)", ErrDecrypt)
		}
	}()
	// The SM2 curve has cofactor 1, so an on-curve C1 is in the group.
	//lint:ignore SA1019 gmsm exposes the SM2 curve only as an elliptic.Curve
	x2, y2 := curve.ScalarMult(c.X, c.Y, d)
	xb, yb := x2.FillBytes(make([]byte, 32)), y2.FillBytes(make([]byte, 32))
	t := sm2KDF(len(c.C2), xb, yb)
	if allZero(t) {
		return nil, ErrDecrypt
	}
	out := make([]byte, len(c.C2))
	subtle.XORBytes(out, c.C2, t)
	h := sm3.New()
	h.Write(xb)
	h.Write(out)
	h.Write(yb)
	if subtle.ConstantTimeCompare(h.Sum(nil), c.Hash) != 1 {
		clear(out)
		return nil, ErrDecrypt
	}
	return out, nil
}

// sm2KDF is the GM/T 0003.4 key derivation function over SM3.
func sm2KDF(n int, z ...[]byte) []byte {
	out := make([]byte, 0, n+32)
	var ct [4]byte
	for i := uint32(1); len(out) < n; i++ {
		binary.BigEndian.PutUint32(ct[:], i)
		h := sm3.New()
		for _, b := range z {
			h.Write(b)
		}
		h.Write(ct[:])
		out = h.Sum(out)
	}
	return out[:n]
}

func allZero(b []byte) bool {
	var acc byte
	for _, x := range b {
		acc |= x
	}
	return acc == 0
}

func onSM2Curve(x, y *big.Int) bool {
	//lint:ignore SA1019 gmsm exposes the SM2 curve only as an elliptic.Curve
	return sm2.P256Sm2().IsOnCurve(x, y)
}
