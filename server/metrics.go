package server

import (
	"net/http"
	"time"

	"github.com/certcustody/certcustody/certmgr"
	"github.com/certcustody/certcustody/keystore"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the server's Prometheus metrics, in a registry of its own so
// that several servers (tests) do not collide.
type metrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	// auditFailures counts failed attempts to write a call's audit records
	// (a call that fails this way retries once with InternalError); any
	// increase needs an operator.
	auditFailures prometheus.Counter
	// byTransport counts requests by how they reached us (see Peer).
	byTransport *prometheus.CounterVec
}

func newMetrics(tokenStats func() keystore.Stats, keyPool func() certmgr.KeyPoolStats, groups func() certmgr.StoreStats, auditor Auditor) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "certcustody_requests_total", Help: "API requests by action and result code (unauthenticated and throttled refusals included).",
		}, []string{"action", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "certcustody_request_duration_seconds", Help: "API request latency by action.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"action"}),
		auditFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "certcustody_audit_append_failures_total", Help: "Failed attempts to write a call's audit records; the call is answered InternalError where it can be.",
		}),
		byTransport: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "certcustody_requests_by_transport_total", Help: "HTTP requests by transport (https, http), whether a trusted proxy forwarded them, and whether a verified client certificate came with them.",
		}, []string{"transport", "forwarded", "client_cert"}),
	}
	m.registry.MustRegister(m.requests, m.latency, m.auditFailures, m.byTransport, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if tokenStats != nil {
		m.registry.MustRegister(tokenCollector{stats: tokenStats})
	}
	if keyPool != nil {
		pool := func(name, help string, v func(certmgr.KeyPoolStats) uint64) prometheus.Collector {
			return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(v(keyPool())) })
		}
		m.registry.MustRegister(
			pool("certcustody_key_pool_claimed_total", "CreateCertificate calls served a key from the token key pool.",
				func(s certmgr.KeyPoolStats) uint64 { return s.Claimed }),
			pool("certcustody_key_pool_generated_on_demand_total", "CreateCertificate calls that generated their key because their kind's pool had none.",
				func(s certmgr.KeyPoolStats) uint64 { return s.OnDemand }),
			pool("certcustody_key_pool_added_total", "Keys this process generated into the token key pool.",
				func(s certmgr.KeyPoolStats) uint64 { return s.Added }))
	}
	if groups != nil {
		group := func(name, help string, v func(certmgr.StoreStats) float64) prometheus.Collector {
			return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return v(groups()) })
		}
		// Writes over commits is the mean batch; the two durations over
		// elapsed time are how busy the single committer is.
		m.registry.MustRegister(
			group("certcustody_store_group_commits_total", "Shared write transactions the group committer ran.",
				func(s certmgr.StoreStats) float64 { return float64(s.Commits) }),
			group("certcustody_store_group_writes_total", "Writes (one per request) those transactions carried.",
				func(s certmgr.StoreStats) float64 { return float64(s.Writes) }),
			group("certcustody_store_group_run_seconds_total", "Time the group committer spent running writes' statements, before COMMIT.",
				func(s certmgr.StoreStats) float64 { return s.RunSeconds }),
			group("certcustody_store_group_commit_seconds_total", "Time the group committer spent in COMMIT (with SQLite synchronous=FULL, mostly fsync).",
				func(s certmgr.StoreStats) float64 { return s.CommitSeconds }))
	}
	if auditor != nil {
		m.registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "certcustody_audit_unrecorded_key_uses_total", Help: "Token-key uses made outside any audited operation; should stay 0.",
		}, func() float64 { return float64(auditor.UnauditedKeyUses()) }))
		if sw, ok := auditor.(interface{ SweptOrphanKeys() uint64 }); ok {
			m.registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "certcustody_orphan_keys_swept_total", Help: "Token keys no row referenced, destroyed by the orphan sweep.",
			}, func() float64 { return float64(sw.SweptOrphanKeys()) }))
		}
	}
	return m
}

func (m *metrics) observe(action, code string, start time.Time) {
	if action == "" {
		action = "unknown"
	}
	m.requests.WithLabelValues(action, code).Inc()
	m.latency.WithLabelValues(action).Observe(time.Since(start).Seconds())
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// tokenCollector reads the keystore's counters at scrape time.
type tokenCollector struct{ stats func() keystore.Stats }

var (
	tokenOpsDesc     = prometheus.NewDesc("certcustody_token_operations_total", "Token key uses by kind and mechanism.", []string{"kind", "mechanism"}, nil)
	sessionsDesc     = prometheus.NewDesc("certcustody_token_sessions_in_use", "Token sessions in use.", nil, nil)
	sessionsMaxDesc  = prometheus.NewDesc("certcustody_token_sessions_max", "Size of the token session pool.", nil, nil)
	recoveriesDesc   = prometheus.NewDesc("certcustody_token_session_recoveries_total", "Lost sessions or logins recovered from.", nil, nil)
	keygenActiveDesc = prometheus.NewDesc("certcustody_token_keygen_in_progress", "Key generations running now.", nil, nil)
)

func (c tokenCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{tokenOpsDesc, sessionsDesc, sessionsMaxDesc, recoveriesDesc, keygenActiveDesc} {
		ch <- d
	}
}

func (c tokenCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	for kind, n := range s.Operations {
		ch <- prometheus.MustNewConstMetric(tokenOpsDesc, prometheus.CounterValue, float64(n), string(kind.Op), kind.Mechanism)
	}
	ch <- prometheus.MustNewConstMetric(sessionsDesc, prometheus.GaugeValue, float64(s.SessionsInUse))
	ch <- prometheus.MustNewConstMetric(sessionsMaxDesc, prometheus.GaugeValue, float64(s.SessionsMax))
	ch <- prometheus.MustNewConstMetric(recoveriesDesc, prometheus.CounterValue, float64(s.Recoveries))
	ch <- prometheus.MustNewConstMetric(keygenActiveDesc, prometheus.GaugeValue, float64(s.ConcurrentKeys))
}
