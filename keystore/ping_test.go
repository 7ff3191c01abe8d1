package keystore

import (
	"context"
	"testing"
	"time"

	"github.com/miekg/pkcs11"
)

// TestPingTakesNoPooledSessionNorObjectWalk: with the only pooled session
// held and the token's object lock held exclusively, Ping still answers.
func TestPingTakesNoPooledSessionNorObjectWalk(t *testing.T) {
	s, _ := newStoreWith(t, func(c *Config) { c.MaxSessions = 1 })
	held, release := make(chan struct{}), make(chan struct{})
	go s.withSession(context.Background(), func(pkcs11.SessionHandle, bool) error {
		close(held)
		<-release
		return nil
	})
	<-held
	defer close(release)
	unlock, err := s.objLock.acquire(context.Background(), lockDestroy)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping with the pool and the object lock busy: %v", err)
	}
}

// TestPingRecoversLostLogin: after every session on the slot is closed
// behind the Store's back (which ends the login), Ping logs in again and
// the Store keeps working.
func TestPingRecoversLostLogin(t *testing.T) {
	s, tok := newStore(t)
	raw := openRaw(t, tok)
	if err := raw.ctx.CloseAllSessions(tok.Slot); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("Ping after session loss: %v", err)
	}
	if s.Stats().Recoveries != 1 {
		t.Fatalf("recoveries %d, want 1", s.Stats().Recoveries)
	}
	if err := s.Ping(context.Background()); err != nil || s.Stats().Recoveries != 1 {
		t.Fatalf("second Ping: %v, recoveries %d", err, s.Stats().Recoveries)
	}
	if _, err := s.Generate(context.Background(), GenerateRequest{ID: "after-ping", Algorithm: ECP256, Purpose: PurposeKMS}); err != nil {
		t.Fatalf("Generate after Ping recovered: %v", err)
	}
}
