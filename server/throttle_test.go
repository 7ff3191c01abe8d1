package server

import (
	"database/sql"
	"net/url"
	"testing"
	"time"
)

// TestThrottleExactCountsAtAFrozenInstant: 30 requests at one instant from
// one user to one action: 10 pass, 20 refused; other users and actions are
// unaffected; tokens come back as time passes.
func TestThrottleExactCountsAtAFrozenInstant(t *testing.T) {
	th := &Throttle{}
	now := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	passed := 0
	for range 30 {
		if th.Allow("alice", "CreateCertificate", now) {
			passed++
		}
	}
	if passed != 10 {
		t.Fatalf("%d of 30 passed at one instant, want 10", passed)
	}
	for range 10 {
		if !th.Allow("bob", "CreateCertificate", now) || !th.Allow("alice", "DescribeCertificate", now) {
			t.Fatal("another user or action was throttled")
		}
	}
	if !th.Allow("alice", "CreateCertificate", now.Add(100*time.Millisecond)) {
		t.Fatal("no token after 100 ms at 10/s")
	}
	over := &Throttle{ByAction: map[string]int{"CertificatePrivateKeySign": 50}}
	n := 0
	for range 100 {
		if over.Allow("alice", "CertificatePrivateKeySign", now) {
			n++
		}
	}
	if n != 50 {
		t.Fatalf("per-action override: %d passed, want 50", n)
	}
}

// TestThrottledRequestsTouchNothing drives one user over its limit through
// HTTP: the refusals are Throttling.User (400) and create nothing.
func TestThrottledRequestsTouchNothing(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Throttle = &Throttle{} }) // the default: 10 per second
	rows0, keys0 := e.counts(t)
	nonces0 := e.nonceRows(t)
	throttledCount := 0
	start := time.Now()
	for range 30 {
		status, body := e.rawV1(t, Params{"Action": "CreateCertificate", "KeySpec": "EC_P999", "Subject": "CN=a,OU=b,O=c,C=CN"}, func(url.Values) {})
		if status == 400 && body["Code"] == "Throttling.User" {
			throttledCount++
		}
	}
	// The requests take real time, during which tokens refill at 10/s: a
	// frozen clock gives exactly 20 refusals, and each elapsed 100 ms lets
	// at most one more request through.
	refilled := int(time.Since(start)/(100*time.Millisecond)) + 1
	if throttledCount > 20 || throttledCount < 20-refilled {
		t.Fatalf("%d of 30 requests throttled in %v, want 20 less at most %d refilled", throttledCount, time.Since(start), refilled)
	}
	// Only the admitted requests recorded their nonces.
	if n := e.nonceRows(t) - nonces0; n != 30-throttledCount {
		t.Fatalf("%d nonces recorded for %d admitted requests", n, 30-throttledCount)
	}
	other, err := e.Mgr.CreateAccessKey(t.Context(), "acme", "")
	if err != nil {
		t.Fatal(err)
	}
	e2 := *e
	e2.AK = other
	for i := range 10 {
		if status, body := e2.rawV1(t, Params{"Action": "CreateCertificate", "KeySpec": "EC_P999", "Subject": "CN=a,OU=b,O=c,C=CN"}, nil); body["Code"] == "Throttling.User" {
			t.Fatalf("another user's request %d was throttled (%d)", i, status)
		}
	}
	if rows, keys := e.counts(t); rows != rows0 || keys != keys0 {
		t.Fatal("throttled requests changed state")
	}
}

// nonceRows counts the signature nonces in the database.
func (e *env) nonceRows(t testing.TB) int {
	t.Helper()
	raw, err := sql.Open("sqlite3", e.DBPath)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var n int
	if err := raw.QueryRow(`SELECT count(*) FROM nonces`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestThrottleShareAmongNodes: with n nodes each enforces 1/n of the rate
// and burst, so a user spread evenly over them gets the configured rate;
// a node's share follows the cluster as it grows and shrinks.
func TestThrottleShareAmongNodes(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	count := func(th *Throttle, user string) int {
		n := 0
		for range 30 {
			if th.Allow(user, "CreateCertificate", now) {
				n++
			}
		}
		return n
	}
	th := &Throttle{}
	th.SetShare(2, now)
	if n := count(th, "alice"); n != 5 {
		t.Fatalf("one of two nodes let %d of 30 through at one instant, want 5", n)
	}
	th.SetShare(1, now)
	if !th.Allow("alice", "CreateCertificate", now.Add(100*time.Millisecond)) {
		t.Fatal("no token after 100 ms once the node serves alone")
	}
	th.SetShare(3, now)
	if n := count(th, "bob"); n != 3 {
		t.Fatalf("one of three nodes let %d through, want 3", n)
	}
}
