package server

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/certcustody/certcustody/certmgr/store"
	"github.com/certcustody/certcustody/pgcluster"
)

// BenchmarkListingsOnPostgres measures, over v1-signed HTTP against the
// whole stack on a throwaway PostgreSQL cluster, the calls whose cost
// could grow with the stored certificates: DescribeClientCertificate of a
// random certificate, ListClientCertificate and ListRevokeCertificate
// pages near the start and deep, and DescribeCACertificateList over an
// account's CAs. It stores CERTCUSTODY_BENCH_CERTS certificates first
// (default 1,000,000; one issued through the API, the rest copies of it
// seeded in bulk, every tenth from a second CA that is then revoked in
// bulk) and 1000 CAs, then VACUUM ANALYZE. The database is a throwaway
// cluster's (fsync=off) or, with CERTCUSTODY_BENCH_PG_URL, an empty one
// the caller provides. Each sub-benchmark reports
// the p50, p99 and max latency of its b.N calls; run it with
// -benchtime=Nx so every sub-benchmark makes N calls.
func BenchmarkListingsOnPostgres(b *testing.B) {
	n := 1_000_000
	if v := os.Getenv("CERTCUSTODY_BENCH_CERTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			b.Fatalf("CERTCUSTODY_BENCH_CERTS=%q", v)
		}
	}
	ctx := context.Background()
	// CERTCUSTODY_BENCH_PG_URL names an empty database of a cluster the
	// caller runs (to measure with its settings: pgcluster's throwaway
	// clusters run with fsync=off); without it, a throwaway cluster.
	dbURL := os.Getenv("CERTCUSTODY_BENCH_PG_URL")
	if dbURL == "" {
		cluster, err := pgcluster.Start("")
		if err != nil {
			b.Fatalf("%v (%s)", err, pgcluster.InstallHint)
		}
		b.Cleanup(func() { _ = cluster.Stop() })
		if dbURL, err = cluster.CreateDatabase(ctx, "listings"); err != nil {
			b.Fatal(err)
		}
	}
	db, err := store.OpenURL(ctx, dbURL)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	e := newEnvOn(b, db)
	root, err := e.rpcCall(b, caVersion, "CreateRootCACertificate", with(caSubject("Bench Root"), "Algorithm", "ECC_256", "Years", 5))
	if err != nil {
		b.Fatal(err)
	}
	var subs []string
	for _, name := range []string{"Bench Sub", "Bench Sub Revoked"} {
		sub, err := e.rpcCall(b, caVersion, "CreateSubCACertificate", with(caSubject(name), "Algorithm", "ECC_256", "Years", 2, "ParentIdentifier", root["Identifier"]))
		if err != nil {
			b.Fatal(err)
		}
		subs = append(subs, sub["Identifier"].(string))
	}
	first, err := e.rpcCall(b, caVersion, "CreateClientCertificateWithCsr", map[string]interface{}{"ParentIdentifier": subs[0],
		"Csr": clientCSR(b, "ECC", "bench.example.com"), "Days": 30})
	if err != nil {
		b.Fatal(err)
	}
	template := first["Identifier"].(string)
	start := time.Now()
	issuers := append(slices.Repeat([]string{subs[0]}, 9), subs[1])
	if err := db.SeedIssuedForBenchmark(ctx, template, issuers, n-1); err != nil {
		b.Fatal(err)
	}
	if err := db.BulkRevokeForBenchmark(ctx, subs[1], time.Now()); err != nil {
		b.Fatal(err)
	}
	raw, err := sql.Open("pgx", dbURL)
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	// 1000 CAs in the account, copies of the first subordinate CA.
	if _, err := raw.ExecContext(ctx, `INSERT INTO ca_certificates (identifier, account_id, parent_identifier, certificate_type, key_id, algorithm,
		key_size, status, certificate, serial, subject_dn, years, path_len, enable_crl, crl_day, not_before, not_after, created_at, tags, issuer_type)
		SELECT identifier || '-' || g, account_id, parent_identifier, certificate_type, key_id || '-' || g, algorithm, key_size, status, certificate,
		serial || g, subject_dn, years, path_len, enable_crl, crl_day, not_before, not_after, created_at + g, '[]', issuer_type
		FROM ca_certificates, generate_series(1, 997) g WHERE identifier = $1`, subs[0]); err != nil {
		b.Fatal(err)
	}
	// The bulk load leaves gigabytes of dirty pages that the checkpointer
	// writes back over minutes, competing with every commit's WAL flush:
	// measured so, the tail is the seeding's, not the service's.
	for _, q := range []string{`VACUUM ANALYZE`, `CHECKPOINT`} {
		if _, err := raw.ExecContext(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	var revoked int
	if err := raw.QueryRowContext(ctx, `SELECT revoked FROM list_positions WHERE list = 'pca'`).Scan(&revoked); err != nil {
		b.Fatal(err)
	}
	b.Logf("stored %d certificates (%d revoked) and 1000 CAs in %v", n, revoked, time.Since(start).Round(time.Second))

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	// call returns the answer's body once read: decoding it is the
	// client's work, done outside the measured latency (the JSON decoder
	// cost more CPU than the server's whole answer on a 100-item page).
	call := func(action string, params map[string]string) ([]byte, error) {
		p := Params{"Action": action, "Version": caVersion, "Format": "JSON", "AccessKeyId": e.AK.AccessKeyID,
			"SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0", "SignatureNonce": uuid.NewString(),
			"Timestamp": time.Now().UTC().Format("2006-01-02T15:04:05Z")}
		for k, v := range params {
			p[k] = v
		}
		p["Signature"] = SignV1("POST", p, e.AK.AccessKeySecret)
		form := url.Values{}
		for k, v := range p {
			form.Set(k, v)
		}
		resp, err := client.Post(e.URL+"/", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		// Read into a buffer of the answer's size: the load generator
		// shares the process, so its garbage is the server's GC work too.
		var buf bytes.Buffer
		buf.Grow(int(max(resp.ContentLength+1, 512)))
		if _, err := buf.ReadFrom(resp.Body); err != nil {
			return nil, err
		}
		body := buf.Bytes()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("%s: HTTP %d: %s", action, resp.StatusCode, body)
		}
		return body, nil
	}

	b.Run("DescribeClientCertificate/clients=1", func(b *testing.B) {
		latencies(b, 1, func(i int) (func() error, error) {
			id := fmt.Sprintf("%s-%d", template, 1+rand.IntN(n-1))
			body, err := call("DescribeClientCertificate", map[string]string{"Identifier": id})
			return describes(body, id), err
		})
	})
	b.Run("DescribeClientCertificate/clients=8", func(b *testing.B) {
		latencies(b, 8, func(i int) (func() error, error) {
			id := fmt.Sprintf("%s-%d", template, 1+rand.IntN(n-1))
			body, err := call("DescribeClientCertificate", map[string]string{"Identifier": id})
			return describes(body, id), err
		})
	})
	page := func(action string, page, size, total, items int) func(b *testing.B) {
		return func(b *testing.B) {
			latencies(b, 1, func(i int) (func() error, error) {
				body, err := call(action, map[string]string{"CurrentPage": fmt.Sprint(page), "ShowSize": fmt.Sprint(size)})
				return func() error {
					var out struct {
						TotalCount      int
						CertificateList []json.RawMessage
					}
					if err := json.Unmarshal(body, &out); err != nil {
						return err
					}
					if out.TotalCount != total || len(out.CertificateList) != items {
						return fmt.Errorf("%s page %d of %d: TotalCount %d, %d items; want %d, %d", action, page, size, out.TotalCount, len(out.CertificateList), total, items)
					}
					return nil
				}, err
			})
		}
	}
	items := func(total, page, size int) int { return max(0, min(size, total-(page-1)*size)) }
	for _, p := range [][2]int{{1, 20}, {1, 100}, {40_000, 20}, {40_000, 25}, {n / 100, 100}, {n/20 + 1, 20}} {
		b.Run(fmt.Sprintf("ListClientCertificate/page=%d/size=%d", p[0], p[1]), page("ListClientCertificate", p[0], p[1], n, items(n, p[0], p[1])))
	}
	for _, p := range [][2]int{{1, 20}, {revoked / 25, 25}, {revoked / 100, 100}} {
		b.Run(fmt.Sprintf("ListRevokeCertificate/page=%d/size=%d", p[0], p[1]), page("ListRevokeCertificate", p[0], p[1], revoked, items(revoked, p[0], p[1])))
	}
	// The store's part of a page alone: the snapshot, the bucket walk and
	// the page's rows, without HTTP, audit or the items' encoding.
	for _, p := range [][3]int{{1, 25, 0}, {40_000, 25, 0}, {n / 100, 100, 0}, {1, 25, 1}, {revoked / 25, 25, 1}} {
		revokedOnly := p[2] == 1
		b.Run(fmt.Sprintf("store.ListIssuedCertificates/revoked=%v/page=%d/size=%d", revokedOnly, p[0], p[1]), func(b *testing.B) {
			latencies(b, 1, func(int) (func() error, error) {
				rows, _, err := db.ListIssuedCertificates(ctx, e.AK.AccountID, revokedOnly, (p[0]-1)*p[1], p[1])
				return func() error {
					if len(rows) != p[1] {
						return fmt.Errorf("%d rows", len(rows))
					}
					return nil
				}, err
			})
		})
	}
	for _, p := range [][2]int{{1, 20}, {40, 25}} {
		b.Run(fmt.Sprintf("DescribeCACertificateList/page=%d/size=%d", p[0], p[1]), page("DescribeCACertificateList", p[0], p[1], 1000, items(1000, p[0], p[1])))
	}
}

// describes checks that a DescribeClientCertificate answer is the one
// asked for.
func describes(body []byte, id string) func() error {
	return func() error {
		var out struct{ Certificate struct{ Identifier string } }
		if err := json.Unmarshal(body, &out); err != nil {
			return err
		}
		if out.Certificate.Identifier != id {
			return fmt.Errorf("described %q, asked for %q", out.Certificate.Identifier, id)
		}
		return nil
	}
}

// latencies runs b.N calls from clients goroutines and reports the p50,
// p99 and max latency of one call. A call returns its answer's check,
// which runs outside the measured time.
func latencies(b *testing.B, clients int, call func(i int) (check func() error, err error)) {
	var mu sync.Mutex
	lat := make([]time.Duration, 0, b.N)
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for range clients {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				t0 := time.Now()
				check, err := call(int(i))
				d := time.Since(t0)
				if err == nil {
					err = check()
				}
				if err != nil {
					b.Error(err)
					return
				}
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	q := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
}
