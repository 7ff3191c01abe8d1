package keystore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/miekg/pkcs11"
)

// TestConcurrentTokenKeygen is the load that failed with CKR_GENERAL_ERROR
// (issue 11): 16 goroutines create 500 EC P-256 token keys with the
// keystore's own caps lifted, so the token sees 16 generations and their
// existence finds at once. Every call must succeed, and the token must
// hold 500 distinct keys, each exactly one private and one public object.
func TestConcurrentTokenKeygen(t *testing.T) {
	s, tok := newStoreWith(t, func(c *Config) { c.MaxConcurrentKeygen, c.MaxSessions = 16, 32 })
	ctx := context.Background()
	const keys, workers = 500, 16
	ids := make(chan string, keys)
	for i := range keys {
		ids <- fmt.Sprintf("kms-load-%03d", i)
	}
	close(ids)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range ids {
				if _, err := s.Generate(ctx, GenerateRequest{ID: id, Algorithm: ECP256, Purpose: PurposeKMS}); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("%s: %w", id, err))
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d of %d generations failed; first: %v", len(errs), keys, errs[0])
	}
	raw := openRaw(t, tok)
	perClass := map[uint]map[string]int{}
	for _, class := range []uint{pkcs11.CKO_PRIVATE_KEY, pkcs11.CKO_PUBLIC_KEY} {
		perClass[class] = map[string]int{}
		for _, h := range raw.findAll(t, pkcs11.NewAttribute(pkcs11.CKA_CLASS, class)) {
			perClass[class][string(raw.attr(t, h, pkcs11.CKA_ID))]++
		}
	}
	for i := range keys {
		id := fmt.Sprintf("kms-load-%03d", i)
		if n, m := perClass[pkcs11.CKO_PRIVATE_KEY][id], perClass[pkcs11.CKO_PUBLIC_KEY][id]; n != 1 || m != 1 {
			t.Errorf("%s: %d private and %d public objects in the token, want 1 and 1", id, n, m)
		}
	}
	// 500 load keys plus the audit key.
	if n := len(perClass[pkcs11.CKO_PRIVATE_KEY]); n != keys+1 {
		t.Errorf("token holds %d distinct private key IDs, want %d", n, keys+1)
	}
}

// TestKeygenRetryAfterTokenFault wraps the real C_GenerateKeyPair with a
// fault injector: a generation that reports CKR_GENERAL_ERROR is tried
// again only once a find by CKA_ID shows nothing of it left, so a fault
// that left objects behind ends with exactly one key pair, not two.
func TestKeygenRetryAfterTokenFault(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name       string
		leaveParts bool // the faulty call created the objects before failing
	}{
		{"fault before creating", false},
		{"fault after creating", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, tok := newStore(t)
			calls := 0
			s.keygenFault = func(call func() (pkcs11.ObjectHandle, pkcs11.ObjectHandle, error)) (pkcs11.ObjectHandle, pkcs11.ObjectHandle, error) {
				calls++
				if calls > 1 {
					return call()
				}
				if tc.leaveParts {
					if _, _, err := call(); err != nil {
						t.Errorf("real C_GenerateKeyPair: %v", err)
					}
				}
				return 0, 0, pkcs11.Error(pkcs11.CKR_GENERAL_ERROR)
			}
			if _, err := s.Generate(ctx, GenerateRequest{ID: "kms-retried", Algorithm: ECP256, Purpose: PurposeKMS}); err != nil {
				t.Fatalf("Generate after one token fault: %v", err)
			}
			if calls != 2 || s.Stats().KeygenRetries != 1 {
				t.Fatalf("%d C_GenerateKeyPair calls and %d retries, want 2 and 1", calls, s.Stats().KeygenRetries)
			}
			raw := openRaw(t, tok)
			if n := len(raw.findAll(t, pkcs11.NewAttribute(pkcs11.CKA_ID, []byte("kms-retried")))); n != 2 {
				t.Fatalf("token holds %d objects with the ID, want one key pair", n)
			}
		})
	}
	t.Run("second fault is reported", func(t *testing.T) {
		s, _ := newStore(t)
		s.keygenFault = func(func() (pkcs11.ObjectHandle, pkcs11.ObjectHandle, error)) (pkcs11.ObjectHandle, pkcs11.ObjectHandle, error) {
			return 0, 0, pkcs11.Error(pkcs11.CKR_GENERAL_ERROR)
		}
		_, err := s.Generate(ctx, GenerateRequest{ID: "kms-failing", Algorithm: ECP256, Purpose: PurposeKMS})
		var ck pkcs11.Error
		if !errors.As(err, &ck) || ck != pkcs11.CKR_GENERAL_ERROR {
			t.Fatalf("two faults: got %v, want CKR_GENERAL_ERROR", err)
		}
	})
}
