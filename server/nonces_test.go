package server

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestMemoryNoncesExpiry(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := &MemoryNonces{Now: func() time.Time { return now }}
	ctx := context.Background()
	use := func(ak, n string, until time.Time) bool {
		t.Helper()
		fresh, err := m.UseNonce(ctx, ak, n, until)
		if err != nil {
			t.Fatal(err)
		}
		return fresh
	}
	if !use("a", "n", now.Add(time.Minute)) {
		t.Fatal("first use refused")
	}
	if use("a", "n", now.Add(time.Minute)) {
		t.Fatal("replay accepted")
	}
	if !use("b", "n", now.Add(time.Minute)) || !use("a", "m", now.Add(time.Minute)) {
		t.Fatal("another key or nonce collided")
	}
	// "a"+"\x00n" and "a\x00"+"n" must not collide either.
	if !use("a\x00", "n", now.Add(time.Minute)) {
		t.Fatal("joined-key collision")
	}
	now = now.Add(time.Minute) // until is exclusive
	if !use("a", "n", now.Add(time.Minute)) {
		t.Fatal("expired nonce still refused")
	}
}

// TestMemoryNoncesStaysBounded: expired entries are swept, so a steady
// stream of fresh nonces keeps only the live ones (within the 2x slack).
func TestMemoryNoncesStaysBounded(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := &MemoryNonces{Now: func() time.Time { return now }}
	for i := 0; i < 20000; i++ {
		if _, err := m.UseNonce(context.Background(), "a", fmt.Sprint(i), now.Add(10*time.Second)); err != nil {
			t.Fatal(err)
		}
		now = now.Add(time.Second) // about 10 live at any time
	}
	if n := m.Len(); n > 2*10+1024 {
		t.Fatalf("%d entries kept for ~10 live nonces", n)
	}
}

func TestMemoryNoncesConcurrentSingleWinner(t *testing.T) {
	var m MemoryNonces // zero value is usable
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if ok, err := m.UseNonce(context.Background(), "a", "same", time.Now().Add(time.Minute)); err == nil && ok {
				wins.Add(1)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d goroutines used the same nonce", wins.Load())
	}
}

func TestMemoryNoncesHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var m MemoryNonces
	if ok, err := m.UseNonce(ctx, "a", "n", time.Now().Add(time.Minute)); err == nil || ok {
		t.Fatalf("cancelled context: %v %v", ok, err)
	}
	if m.Len() != 0 {
		t.Fatal("a cancelled call recorded its nonce")
	}
}
