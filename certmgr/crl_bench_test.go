package certmgr

import (
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/certcustody/certcustody/certmgr/store"
)

// BenchmarkCRL1M builds the CRL of a P-256 CA with 1,000,000 revoked
// entries and reports the time per build and the process's peak RSS; it
// also times one more revocation with a million already revoked, before
// and after a CRL of them is stored (the cost must grow with neither),
// and the one slow build per CA after the upgrade that keeps entries.
// Run: go test -run '^$' -bench CRL1M -benchtime 1x ./certmgr
//
// setup-peakRSS-MiB is the process's high-water mark before the first
// build (a million inserted rows); build-peakRSS-MiB is the high-water
// mark during the build alone (reset just before it through
// /proc/self/clear_refs, from start-RSS-MiB, what the process holds
// then), and build-alloc-MiB what the build allocated on the Go heap.
// The checks after each build (Go's parser holds a million entries)
// are outside these figures.
func BenchmarkCRL1M(b *testing.B) {
	const n = 1_000_000
	ctx := context.Background()
	m, c := newManager(b)
	sub := benchIssuingCA(b, m, c)
	now := time.Now().UTC()
	err := m.sqlStore().Tx(ctx, func(tx *store.Tx) error {
		for i := range n {
			if err := tx.InsertIssuedCertificate(ctx, &store.IssuedCertificate{
				Identifier: fmt.Sprintf("bench-%d", i), AccountID: c.AccountID, IssuerIdentifier: sub, Serial: fmt.Sprintf("%032X", i+1),
				CertificateType: "SERVER", Status: "ISSUE", Certificate: []byte{0}, SubjectDN: "CN=x", Algorithm: "ECC", KeySize: 256,
				NotBefore: now, NotAfter: now.AddDate(1, 0, 0), CreatedAt: now,
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := m.sqlStore().RevokeIssued(ctx, c.AccountID, "bench-0", 1, now); err != nil {
		b.Fatal(err)
	}
	// bulk-revoke the rest in one statement: the benchmark measures CRL
	// builds, not a million API calls
	if err := bulkRevoke(ctx, m, sub, now); err != nil {
		b.Fatal(err)
	}
	extra := 0
	revokeOneMore := func(b *testing.B) {
		for b.Loop() {
			id := fmt.Sprintf("extra-%d", extra)
			extra++
			row := &store.IssuedCertificate{Identifier: id, AccountID: c.AccountID, IssuerIdentifier: sub,
				Serial: fmt.Sprintf("F%031X", extra), CertificateType: "SERVER", Status: "ISSUE", Certificate: []byte{0}, SubjectDN: "CN=x",
				Algorithm: "ECC", KeySize: 256, NotBefore: now, NotAfter: now.AddDate(1, 0, 0), CreatedAt: now}
			if err := m.sqlStore().Tx(ctx, func(tx *store.Tx) error { return tx.InsertIssuedCertificate(ctx, row) }); err != nil {
				b.Fatal(err)
			}
			if _, err := m.sqlStore().RevokeIssued(ctx, c.AccountID, id, 1, now); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("revoke-one-more", revokeOneMore)
	build := func(b *testing.B) {
		b.ReportAllocs()
		var doc *CRLDocument
		runtime.GC()
		debug.FreeOSMemory()
		if setupPeakRSSMiB == 0 {
			setupPeakRSSMiB = procStatusMiB("VmHWM:")
		}
		resetPeakRSS(b)
		startRSS := procStatusMiB("VmRSS:")
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for b.Loop() {
			if _, err := m.sqlStore().RevokeIssued(ctx, c.AccountID, "bench-1", 1, now); err == nil {
				b.Fatal("re-revocation accepted")
			}
			markDirty(ctx, b, m, sub)
			var err error
			if doc, err = m.CRL(ctx, sub); err != nil {
				b.Fatal(err)
			}
		}
		runtime.ReadMemStats(&after)
		b.ReportMetric(procStatusMiB("VmHWM:"), "build-peakRSS-MiB")
		b.ReportMetric(startRSS, "start-RSS-MiB")
		b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N)/(1<<20), "build-alloc-MiB")
		b.ReportMetric(setupPeakRSSMiB, "setup-peakRSS-MiB")
		b.ReportMetric(float64(len(doc.DER))/(1<<20), "MiB/crl")
		crl, err := x509.ParseRevocationList(doc.DER)
		if err != nil || len(crl.RevokedCertificateEntries) < n {
			b.Fatalf("CRL has %d entries (%v)", len(crl.RevokedCertificateEntries), err)
		}
		if err := crl.CheckSignatureFrom(benchIssuer(b, m, c, sub)); err != nil {
			b.Fatalf("CRL signature: %v", err)
		}
	}
	// build: the first CRL of the million; rebuild: the next one, with
	// the first stored (what every later revocation's fetch does).
	b.Run("build", build)
	b.Run("rebuild", build)
	b.Run("revoke-one-more-crl-stored", revokeOneMore)
	// The one build per CA after the upgrade: it writes the CA's kept
	// list from the certificate tables first.
	b.Run("first-build-after-upgrade", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			if err := m.sqlStore().ForgetCRLEntriesForBenchmark(ctx, sub); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if _, err := m.CRL(ctx, sub); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// benchIssuer is the CA's certificate, to check its CRL's signature.
func benchIssuer(b *testing.B, m *Manager, c Caller, ca string) *x509.Certificate {
	b.Helper()
	row, err := m.sqlStore().GetCACertificate(context.Background(), c.AccountID, ca)
	if err != nil {
		b.Fatal(err)
	}
	cert, err := x509.ParseCertificate(row.Certificate)
	if err != nil {
		b.Fatal(err)
	}
	return cert
}

func benchIssuingCA(b *testing.B, m *Manager, c Caller) string {
	b.Helper()
	base := CreateCARequest{CommonName: "bench", Organization: "o", OrganizationUnit: "ou", Locality: "l", State: "s", CountryCode: "CN", Algorithm: "ECC_256", Years: 5}
	root, err := m.CreateRootCACertificate(context.Background(), c, base)
	if err != nil {
		b.Fatal(err)
	}
	base.ParentIdentifier, base.Years, base.EnableCrl = root.Identifier, 2, true
	sub, err := m.CreateSubCACertificate(context.Background(), c, base)
	if err != nil {
		b.Fatal(err)
	}
	return sub.Identifier
}

func bulkRevoke(ctx context.Context, m *Manager, ca string, at time.Time) error {
	return m.sqlStore().BulkRevokeForBenchmark(ctx, ca, at)
}

func markDirty(ctx context.Context, b *testing.B, m *Manager, ca string) {
	b.Helper()
	if err := m.sqlStore().MarkCRLDirty(ctx, ca); err != nil {
		b.Fatal(err)
	}
}

// setupPeakRSSMiB is the process's peak RSS before the first build.
var setupPeakRSSMiB float64

// resetPeakRSS resets the process's peak RSS (VmHWM) to its current RSS
// (Linux 4.0+), so that the next reading is the peak of what follows.
func resetPeakRSS(b *testing.B) {
	b.Helper()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Fatalf("reset peak RSS: %v", err)
	}
}

// procStatusMiB reads a kB field of /proc/self/status (Linux), such as
// VmHWM (peak RSS) or VmRSS, in MiB.
func procStatusMiB(field string) float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			return kb / 1024
		}
	}
	return 0
}
