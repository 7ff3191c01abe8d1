package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseProcessCPU(t *testing.T) {
	text := "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n" +
		"# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 12.34\nprocess_open_fds 9\n"
	if v, ok := parseProcessCPU(strings.NewReader(text)); !ok || v != 12.34 {
		t.Fatalf("got %v %v, want 12.34", v, ok)
	}
	if _, ok := parseProcessCPU(strings.NewReader("go_goroutines 5\n")); ok {
		t.Fatal("found a CPU figure in metrics without one")
	}
	if got := cpuPerOp(1.0, 1.5, true, true, 100); got != 5 {
		t.Fatalf("cpuPerOp = %v, want 5 ms", got)
	}
	if got := cpuPerOp(1.0, 1.5, true, false, 100); got != 0 {
		t.Fatalf("cpuPerOp with a missing reading = %v, want 0", got)
	}
}

// TestBenchScenariosAgainstServer runs each load scenario briefly against a
// real embedded-default server: every request succeeds and the server CPU
// per operation comes from its /metrics.
func TestBenchScenariosAgainstServer(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	// The default per-user rate is for production; a load run raises it
	// as peers.sh does.
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dataDir, "config.yaml"), []byte("throttle:\n  qps: 1000000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	g := &globalFlags{dataDir: dataDir}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, g, addr) }()
	defer func() { cancel(); <-done }()
	waitReady(t, "http://"+addr)
	id, secret, err := callCredentials(g)
	if err != nil {
		t.Fatal(err)
	}
	c := newAPIClient("http://"+addr, id, secret)
	for _, s := range benchScenarios {
		if s == "create-rsa" {
			continue // seconds of RSA key generation per request; create-ec covers the path
		}
		r, err := runScenario(ctx, c, s, 2, 2*time.Second, 6)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if r.Requests == 0 || r.Errors != 0 {
			t.Fatalf("%s: %d requests, %d errors (first: %s)", s, r.Requests, r.Errors, r.FirstError)
		}
		if r.ServerCPUms <= 0 {
			t.Fatalf("%s: server CPU per op %v, want a figure from /metrics", s, r.ServerCPUms)
		}
	}
}
