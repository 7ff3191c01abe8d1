package main

import (
	"context"
	"io"
	"strconv"
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
		r, err := runScenario(context.Background(), []*apiClient{c}, s, 2, 2*time.Second, 6)
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

// TestBenchSpreadsOverNodes: with the endpoints of two nodes of a cluster,
// the load command's clients call both, every request succeeds, and the
// server CPU it reports is both nodes'.
func TestBenchSpreadsOverNodes(t *testing.T) {
	_, _, _, a, b := startCluster(t)
	ak := bootstrapOf(t, a, b)
	var cs []*apiClient
	for _, n := range []*node{a, b} {
		cs = append(cs, newAPIClient("http://"+n.addr, ak["AccessKeyId"], ak["AccessKeySecret"]))
	}
	issued := func(c *apiClient) float64 {
		t.Helper()
		resp, err := c.http.Get(c.endpoint + "metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var total float64
		for _, line := range strings.Split(string(body), "\n") {
			if strings.HasPrefix(line, "certcustody_requests_total{") && strings.Contains(line, `CreateServerCertificateWithCsr"`) && strings.Contains(line, `code="OK"`) {
				f := strings.Fields(line)
				v, _ := strconv.ParseFloat(f[len(f)-1], 64)
				total += v
			}
		}
		return total
	}
	r, err := runScenario(context.Background(), cs, "issue-csr-ec", 4, 20*time.Second, 40)
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests != 40 || r.Errors != 0 || r.Endpoints != 2 {
		t.Fatalf("%d requests, %d errors (first: %s) over %d endpoints; want 40, 0, 2", r.Requests, r.Errors, r.FirstError, r.Endpoints)
	}
	na, nb := issued(cs[0]), issued(cs[1])
	// Clients share one request budget, so the split need not be even.
	if na < 1 || nb < 1 || na+nb != 40 {
		t.Fatalf("node a issued %v, node b %v; want both to issue, 40 in all", na, nb)
	}
}
