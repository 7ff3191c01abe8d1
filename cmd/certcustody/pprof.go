package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"time"
)

// pprofEnv names the loopback address a profiling listener binds to; unset,
// there is none. It is an environment variable rather than configuration
// because it is for an operator chasing a cost on one node, not a setting
// a deployment keeps.
const pprofEnv = "CERTCUSTODY_PPROF_ADDR"

// startPprof serves net/http/pprof on the loopback address pprofEnv names,
// on a listener of its own, so the API's mux never carries it. A
// non-loopback address is refused: a profile shows request data in memory.
func startPprof(log *slog.Logger) (stop func(), err error) {
	addr := os.Getenv(pprofEnv)
	if addr == "" {
		return func() {}, nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil || !isLoopbackHost(host) {
		return nil, fmt.Errorf("%s=%q: must be a loopback host:port (a profile exposes the process's memory)", pprofEnv, addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", pprofEnv, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	log.Warn("profiling listener on", "addr", ln.Addr().String(), "env", pprofEnv)
	return func() { _ = hs.Close() }, nil
}
