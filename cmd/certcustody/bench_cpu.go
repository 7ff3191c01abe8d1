package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// serverCPU reads the server's process CPU time (user + system seconds)
// from its /metrics (Prometheus' process collector), so the load command
// reports the server's CPU per operation whichever machine the server runs
// on. ok is false when the endpoint does not expose it.
func (c *apiClient) serverCPU() (seconds float64, ok bool) {
	resp, err := c.http.Get(c.endpoint + "metrics")
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, false
	}
	return parseProcessCPU(io.LimitReader(resp.Body, 8<<20))
}

// serversCPU sums serverCPU over the nodes a load is spread over; ok only
// when every one answered.
func serversCPU(cs []*apiClient) (seconds float64, ok bool) {
	for _, c := range cs {
		s, ok := c.serverCPU()
		if !ok {
			return 0, false
		}
		seconds += s
	}
	return seconds, true
}

// parseProcessCPU finds process_cpu_seconds_total in a Prometheus text
// exposition.
func parseProcessCPU(r io.Reader) (float64, bool) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, found := strings.CutPrefix(line, "process_cpu_seconds_total ")
		if !found {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
		return v, err == nil
	}
	return 0, false
}

// cpuPerOp is the server CPU per successful operation in milliseconds, or
// 0 when either reading is missing or nothing succeeded.
func cpuPerOp(before, after float64, okBefore, okAfter bool, ops int) float64 {
	if !okBefore || !okAfter || ops == 0 || after < before {
		return 0
	}
	ms := (after - before) * 1000 / float64(ops)
	v, _ := strconv.ParseFloat(fmt.Sprintf("%.3f", ms), 64)
	return v
}
