package main

import (
	"context"
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
// real embedded-default server (the built binary, as an operator runs it):
// every request succeeds and the server CPU per operation comes from its
// /metrics.
func TestBenchScenariosAgainstServer(t *testing.T) {
	// The default per-user rate is for production; a load run raises it
	// as scripts/loadtest.sh does.
	srv := serveBinary(t, "throttle:\n  qps: 1000000\n")
	addr, dataDir, logs := srv.addr, srv.dataDir, srv.logs
	creds := readBootstrap(t, dataDir)
	c := newAPIClient("http://"+addr, creds["AccessKeyId"], creds["AccessKeySecret"])
	var total float64
	for _, s := range benchScenarios {
		if s == "create-rsa" {
			continue // seconds of RSA key generation per request; create-ec covers the path
		}
		r, err := runScenario(context.Background(), c, s, 2, 2*time.Second, 6)
		if err != nil {
			t.Fatalf("%s: %v\n%s", s, err, logs.String())
		}
		if r.Requests == 0 || r.Errors != 0 {
			t.Fatalf("%s: %d requests, %d errors (first: %s)", s, r.Requests, r.Errors, r.FirstError)
		}
		total += r.ServerCPUms * float64(r.Requests)
	}
	// /proc counts CPU in clock ticks, so a handful of cheap requests can
	// read as none; over every scenario the server's CPU shows.
	if _, ok := c.serverCPU(); !ok || total <= 0 {
		t.Fatalf("server CPU from /metrics: readable %v, total over the scenarios %.3f ms", ok, total)
	}
}
