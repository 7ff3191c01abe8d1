package main

import (
	"context"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestParseBenchMetrics reads the load command's counters from a text
// exposition (labelled and unlisted samples ignored) and turns two
// readings into CPU per operation and group-commit figures.
func TestParseBenchMetrics(t *testing.T) {
	text := "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n" +
		"# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 12.34\nprocess_open_fds 9\n" +
		"certcustody_store_group_commits_total 100\ncertcustody_store_group_writes_total 400\n" +
		"certcustody_store_group_run_seconds_total 0.5\ncertcustody_store_group_commit_seconds_total 1.5\n" +
		`certcustody_requests_total{action="X",code="OK"} 7` + "\n"
	before := parseMetrics(strings.NewReader(text))
	if len(before) != 5 || before[metricCPU] != 12.34 || before[metricWrites] != 400 {
		t.Fatalf("parsed %v", before)
	}
	if m := parseMetrics(strings.NewReader("go_goroutines 5\n")); len(m) != 0 {
		t.Fatalf("found counters in metrics without them: %v", m)
	}
	after := serverCounters{metricCPU: 12.84, metricCommits: 200, metricWrites: 1000, metricRunSeconds: 1.0, metricCommitSecond: 2.5}
	if got := cpuPerOp(before, after, 100); got != 5 {
		t.Fatalf("cpuPerOp = %v, want 5 ms", got)
	}
	if got := cpuPerOp(before, serverCounters{}, 100); got != 0 {
		t.Fatalf("cpuPerOp with a missing reading = %v, want 0", got)
	}
	// 600 writes in 100 transactions; 1.5 s of 2 nodes' 2 s each.
	if batch, busy := groupCommits(before, after, 2*time.Second, 2); batch != 6 || busy != 0.375 {
		t.Fatalf("groupCommits = %v, %v; want 6, 0.375", batch, busy)
	}
	if batch, busy := groupCommits(before, serverCounters{metricCPU: 13}, time.Second, 1); batch != 0 || busy != 0 {
		t.Fatalf("groupCommits without the counters = %v, %v; want zeros", batch, busy)
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
		// Every scenario writes (its audit record at least) through the
		// group committer.
		if r.CommitBatch < 1 || r.CommitterBusy <= 0 || r.CommitterBusy > 1 {
			t.Fatalf("%s: group commits: batch %v, committer busy %v", s, r.CommitBatch, r.CommitterBusy)
		}
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
