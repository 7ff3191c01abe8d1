package keystore

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"fmt"
	"os"
	"sync"
	"testing"
)

// TestSignSurvivesSessionLoss closes every session on the slot behind the
// Store's back (which also ends the login); the next Sign must succeed.
func TestSignSurvivesSessionLoss(t *testing.T) {
	s, tok := newStore(t)
	raw := openRaw(t, tok)
	ctx := context.Background()
	key, err := s.Generate(ctx, GenerateRequest{ID: "k", Algorithm: ECP256, Purpose: PurposeKMS})
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := s.Signer(ctx, "k")
	digest := sha256.Sum256([]byte("x"))
	for round := range 3 {
		if err := raw.ctx.CloseAllSessions(tok.Slot); err != nil {
			t.Fatal(err)
		}
		sig, err := signer.Sign(nil, digest[:], crypto.SHA256)
		if err != nil {
			t.Fatalf("round %d: sign after CloseAllSessions: %v", round, err)
		}
		if !ecdsa.VerifyASN1(key.Public.(*ecdsa.PublicKey), digest[:], sig) {
			t.Fatalf("round %d: bad signature", round)
		}
		raw = openRaw(t, tok) // our raw session was closed too
	}
	blob, err := s.Seal(ctx, AAD{Purpose: "p"}, []byte("v"))
	if err != nil {
		t.Fatalf("seal after session loss: %v", err)
	}
	if _, err := s.Open(ctx, AAD{Purpose: "p"}, blob); err != nil {
		t.Fatalf("open after session loss: %v", err)
	}
}

// TestConcurrentSign runs 64 goroutines signing at once (run with -race),
// with a session loss in the middle: every worker has signed and holds a
// session handle that the token then closes, and must recover on its next
// signature. The loss comes between calls, not during one: SoftHSM 2.6
// itself can crash when another context closes a session inside a call
// on it (a use after free in the library, seen as SIGSEGV in
// C_GetSessionInfo), which no client code can prevent.
func TestConcurrentSign(t *testing.T) {
	s, tok := newStore(t)
	raw := openRaw(t, tok)
	ctx := context.Background()
	keys := map[string]crypto.PublicKey{}
	for _, alg := range []Algorithm{ECP256, RSA2048, SM2} {
		k, err := s.Generate(ctx, GenerateRequest{ID: string(alg), Algorithm: alg, Purpose: PurposeKMS})
		if err != nil {
			t.Fatal(err)
		}
		keys[string(alg)] = k.Public
	}
	const workers, each = 64, 8
	var wg, halfway sync.WaitGroup
	errs := make(chan error, workers)
	start, resume := make(chan struct{}), make(chan struct{})
	for w := range workers {
		wg.Add(1)
		halfway.Add(1)
		go func() {
			defer wg.Done()
			<-start
			alg := []Algorithm{ECP256, RSA2048, SM2}[w%3]
			signer, err := s.Signer(ctx, string(alg))
			if err != nil {
				halfway.Done()
				errs <- err
				return
			}
			for i := range each {
				if i == each/2 {
					halfway.Done()
					<-resume
				}
				msg := []byte(fmt.Sprintf("%d/%d", w, i))
				if err := signAndVerify(signer, msg); err != nil {
					if i < each/2 {
						halfway.Done()
					}
					errs <- fmt.Errorf("worker %d (%s): %w", w, alg, err)
					return
				}
			}
		}()
	}
	close(start)
	halfway.Wait()
	if err := raw.ctx.CloseAllSessions(tok.Slot); err != nil {
		t.Fatal(err)
	}
	close(resume)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func readFile(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
