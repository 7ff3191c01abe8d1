package main

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestPprofListenerLoopbackOnly: the profiling listener is off unless
// asked for, refuses a non-loopback address, and serves pprof's index on
// a loopback one.
func TestPprofListenerLoopbackOnly(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	t.Setenv(pprofEnv, "")
	stop, err := startPprof(log)
	if err != nil {
		t.Fatal(err)
	}
	stop()
	for _, bad := range []string{"0.0.0.0:6060", "10.1.2.3:6060", ":6060", "example.com:6060", "127.0.0.1"} {
		t.Setenv(pprofEnv, bad)
		if _, err := startPprof(log); err == nil || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("%s: %v, want a refusal naming loopback", bad, err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	t.Setenv(pprofEnv, addr)
	stop, err = startPprof(log)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	resp, err := http.Get("http://" + addr + "/debug/pprof/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "goroutine") {
		t.Fatalf("pprof index: %d %.200s", resp.StatusCode, body)
	}
}
