package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The counters of a server's /metrics the load command reads before and
// after a load: its process CPU time (Prometheus' process collector), so
// it reports the server's CPU per operation whichever machine the server
// runs on, and its group committer's work, so it reports what limits a
// write-bound load.
const (
	metricCPU          = "process_cpu_seconds_total"
	metricCommits      = "certcustody_store_group_commits_total"
	metricWrites       = "certcustody_store_group_writes_total"
	metricRunSeconds   = "certcustody_store_group_run_seconds_total"
	metricCommitSecond = "certcustody_store_group_commit_seconds_total"
)

var benchMetrics = []string{metricCPU, metricCommits, metricWrites, metricRunSeconds, metricCommitSecond}

// serverCounters are benchMetrics summed over the nodes a load is spread
// over; a name is present only when every node exposed it.
type serverCounters map[string]float64

// serverMetrics reads benchMetrics from one server; nil when its /metrics
// does not answer.
func (c *apiClient) serverMetrics() serverCounters {
	resp, err := c.http.Get(c.endpoint + "metrics")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil
	}
	return parseMetrics(io.LimitReader(resp.Body, 8<<20))
}

// serverCPU reads the server's process CPU time (user + system seconds);
// ok is false when the endpoint does not expose it.
func (c *apiClient) serverCPU() (seconds float64, ok bool) {
	seconds, ok = c.serverMetrics()[metricCPU]
	return seconds, ok
}

// serversMetrics sums serverMetrics over the nodes, keeping the names
// every one of them exposed.
func serversMetrics(cs []*apiClient) serverCounters {
	var sum serverCounters
	for i, c := range cs {
		m := c.serverMetrics()
		if i == 0 {
			sum = m
			continue
		}
		for name, v := range sum {
			if w, ok := m[name]; ok {
				sum[name] = v + w
			} else {
				delete(sum, name)
			}
		}
	}
	return sum
}

// parseMetrics finds benchMetrics (unlabelled samples) in a Prometheus
// text exposition.
func parseMetrics(r io.Reader) serverCounters {
	out := serverCounters{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, value, found := strings.Cut(sc.Text(), " ")
		if !found || strings.HasPrefix(name, "#") {
			continue
		}
		for _, want := range benchMetrics {
			if name != want {
				continue
			}
			if v, err := strconv.ParseFloat(strings.TrimSpace(value), 64); err == nil {
				out[name] = v
			}
		}
	}
	return out
}

// round3 rounds to three decimals, as the report prints.
func round3(v float64) float64 {
	r, _ := strconv.ParseFloat(fmt.Sprintf("%.3f", v), 64)
	return r
}

// cpuPerOp is the server CPU per successful operation in milliseconds, or
// 0 when either reading is missing or nothing succeeded.
func cpuPerOp(before, after serverCounters, ops int) float64 {
	b, okBefore := before[metricCPU]
	a, okAfter := after[metricCPU]
	if !okBefore || !okAfter || ops == 0 || a < b {
		return 0
	}
	return round3((a - b) * 1000 / float64(ops))
}

// groupCommits is the load's mean group-commit batch (writes per shared
// transaction) and the share of its time the nodes' committers spent in
// transactions, averaged over the nodes; zeros when a reading is missing
// or nothing committed.
func groupCommits(before, after serverCounters, elapsed time.Duration, nodes int) (batch, busy float64) {
	delta := func(name string) (float64, bool) {
		b, ok1 := before[name]
		a, ok2 := after[name]
		return a - b, ok1 && ok2 && a >= b
	}
	commits, ok1 := delta(metricCommits)
	writes, ok2 := delta(metricWrites)
	run, ok3 := delta(metricRunSeconds)
	commit, ok4 := delta(metricCommitSecond)
	if !ok1 || !ok2 || !ok3 || !ok4 || commits == 0 || elapsed <= 0 || nodes == 0 {
		return 0, 0
	}
	busy = (run + commit) / (elapsed.Seconds() * float64(nodes))
	return round3(writes / commits), round3(math.Min(busy, 1))
}
