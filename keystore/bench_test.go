package keystore

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"testing"

	"github.com/miekg/pkcs11"
)

// The benchmarks compare signing through keystore (pool, handle cache,
// recovery wrapper) with the same token operation through raw miekg/pkcs11
// calls on one session per goroutine. SM2 has no token mechanism on
// SoftHSM, so its baseline is gmsm signing with the key already in memory.

func BenchmarkSignRSA2048(b *testing.B) { benchSign(b, RSA2048) }
func BenchmarkSignP256(b *testing.B)    { benchSign(b, ECP256) }
func BenchmarkSignSM2(b *testing.B)     { benchSign(b, SM2) }

func benchSign(b *testing.B, alg Algorithm) {
	s, tok := newStore(b)
	ctx := context.Background()
	if _, err := s.Generate(ctx, GenerateRequest{ID: "bench", Algorithm: alg, Purpose: PurposeKMS}); err != nil {
		b.Fatal(err)
	}
	signer, err := s.Signer(ctx, "bench")
	if err != nil {
		b.Fatal(err)
	}
	digest := sha256.Sum256([]byte("benchmark"))
	input, opts := digest[:], crypto.SignerOpts(crypto.SHA256)
	if alg == SM2 {
		input, opts = []byte("benchmark"), nil
	}
	b.Run("keystore/serial", func(b *testing.B) {
		for b.Loop() {
			if _, err := signer.Sign(rand.Reader, input, opts); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("keystore/parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := signer.Sign(rand.Reader, input, opts); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	raw := rawSigner(b, s, tok.Slot, alg, digest[:])
	b.Run("raw/serial", func(b *testing.B) {
		sign := raw()
		for b.Loop() {
			sign()
		}
	})
	b.Run("raw/parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			sign := raw()
			for pb.Next() {
				sign()
			}
		})
	})
}

// rawSigner returns a factory of per-goroutine sign functions that call the
// token directly on a session of their own.
func rawSigner(b *testing.B, s *Store, slot uint, alg Algorithm, digest []byte) func() func() {
	if alg == SM2 {
		d, pub, err := s.unsealSM2(context.Background(), "bench", nil)
		if err != nil {
			b.Fatal(err)
		}
		priv := sm2Key(pub, d)
		return func() func() {
			return func() {
				if _, err := priv.Sign(rand.Reader, []byte("benchmark"), nil); err != nil {
					b.Error(err)
				}
			}
		}
	}
	var e *keyEntry
	if err := s.withSession(context.Background(), func(sh pkcs11.SessionHandle, _ bool) (err error) {
		e, err = s.lookup(context.Background(), sh, "bench")
		return err
	}); err != nil {
		b.Fatal(err)
	}
	mech, input := uint(pkcs11.CKM_ECDSA), digest
	if alg.IsRSA() {
		mech, input = pkcs11.CKM_RSA_PKCS, append(append([]byte{}, digestInfoPrefix[crypto.SHA256]...), digest...)
	}
	return func() func() {
		sh, err := s.ctx.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.ctx.CloseSession(sh) })
		return func() {
			if err := s.ctx.SignInit(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(mech, nil)}, e.priv); err != nil {
				b.Error(err)
				return
			}
			if _, err := s.ctx.Sign(sh, input); err != nil {
				b.Error(err)
			}
		}
	}
}
