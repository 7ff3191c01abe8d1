package keystore

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certcustody/certcustody/softhsm"
	"github.com/certcustody/certcustody/softhsm/softhsmtest"
	"github.com/google/uuid"
	"github.com/miekg/pkcs11"
)

// BenchmarkTokenScale measures what a KMS CreateCertificate and the first
// Sign of a key after a restart cost on a token that holds many KMS keys,
// against a token that holds few. SoftHSM 2.6.1 (file backend) answers a
// find by CKA_ID in time linear in its object count, so anything that
// searches the token on these paths grows with it.
//
//   - generate: what CreateCertificate asks of the keystore: a P-256 KMS
//     token key (non-exportable), its Signer, and one signature (the CSR's).
//   - first-sign: a freshly opened Store (the restart; not timed, its
//     cost is reported as open-ms), then Signer and one Sign of a key it
//     has not used yet. Each op signs with another key, so every op is a
//     key's first use in its Store.
//
// The large token is filled before timing with P-256 KMS key pairs made by
// raw C_GenerateKeyPair from several goroutines (a few minutes for
// 10,000). CERTCUSTODY_BENCH_TOKEN_KEYS overrides its size.
func BenchmarkTokenScale(b *testing.B) {
	large := 10000
	if v := os.Getenv("CERTCUSTODY_BENCH_TOKEN_KEYS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("CERTCUSTODY_BENCH_TOKEN_KEYS=%q: want a positive number", v)
		}
		large = n
	}
	for _, n := range []int{64, large} {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			tok := softhsmtest.Token(b, tokens)
			start := time.Now()
			ids := fillToken(b, tok, n)
			b.Logf("filled the token with %d P-256 key pairs in %v", n, time.Since(start).Round(time.Millisecond))
			b.Run("generate", func(b *testing.B) { benchScaleGenerate(b, tok) })
			b.Run("first-sign", func(b *testing.B) { benchScaleFirstSign(b, tok, ids) })
		})
	}
}

func scaleConfig(tok *softhsm.Token) Config {
	return Config{Module: tok.Module, TokenLabel: tok.Label, PIN: tok.PIN}
}

func benchScaleGenerate(b *testing.B, tok *softhsm.Token) {
	ctx := context.Background()
	s, err := Open(ctx, scaleConfig(tok))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	digest := sha256.Sum256([]byte("csr"))
	for b.Loop() {
		id := "kms-" + uuid.NewString()
		if _, err := s.Generate(ctx, GenerateRequest{ID: id, Algorithm: ECP256, Purpose: PurposeKMS, RandomID: true}); err != nil {
			b.Fatal(err)
		}
		signer, err := s.Signer(ctx, id)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := signer.Sign(rand.Reader, digest[:], crypto.SHA256); err != nil {
			b.Fatal(err)
		}
	}
}

func benchScaleFirstSign(b *testing.B, tok *softhsm.Token, ids []string) {
	ctx := context.Background()
	digest := sha256.Sum256([]byte("message"))
	var (
		s      *Store
		next   = len(ids) // forces an open before the first op
		opens  int
		openNS time.Duration
	)
	defer func() {
		if s != nil {
			s.Close()
		}
	}()
	for b.Loop() {
		if next == len(ids) {
			// Every key of the token has had its first sign in this
			// Store: restart, untimed.
			b.StopTimer()
			if s != nil {
				s.Close()
			}
			t0 := time.Now()
			var err error
			if s, err = Open(ctx, scaleConfig(tok)); err != nil {
				b.Fatal(err)
			}
			openNS += time.Since(t0)
			opens++
			next = 0
			b.StartTimer()
		}
		id := ids[next]
		next++
		signer, err := s.Signer(ctx, id)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := signer.Sign(rand.Reader, digest[:], crypto.SHA256); err != nil {
			b.Fatal(err)
		}
	}
	if opens > 0 {
		b.ReportMetric(float64(openNS.Microseconds())/1000/float64(opens), "open-ms")
	}
}

// fillToken generates n P-256 KMS key pairs (token objects, the template
// Generate uses) in the token through raw C_GenerateKeyPair calls, four at
// a time, and returns their IDs. It does not use Store.Generate, so that
// filling costs the same whatever Generate does before generating.
func fillToken(b *testing.B, tok *softhsm.Token, n int) []string {
	ctx := context.Background()
	s, err := Open(ctx, scaleConfig(tok))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = "kms-" + uuid.NewString()
	}
	var (
		wg     sync.WaitGroup
		next   atomic.Int64
		failed atomic.Pointer[error]
	)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.withSession(ctx, func(sh pkcs11.SessionHandle, _ bool) error {
				for {
					i := int(next.Add(1)) - 1
					if i >= n {
						return nil
					}
					pubT, privT, mech, err := keyTemplates(ids[i], objectLabel(ids[i], time.Now()), ECP256, PurposeKMS, false)
					if err != nil {
						return err
					}
					if err := s.locked(ctx, lockCreate, func() error {
						_, _, err := s.generateKeyPair(sh, mech, pubT, privT)
						return err
					}); err != nil {
						return fmt.Errorf("fill key %d: %w", i, err)
					}
				}
			})
			if err != nil {
				failed.Store(&err)
			}
		}()
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		b.Fatal(*err)
	}
	return ids
}
