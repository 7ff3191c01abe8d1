package certmgr

import (
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/certcustody/certcustody/certmgr/store"
)

// BenchmarkCRL1M builds the CRL of a P-256 CA with 1,000,000 revoked
// entries and reports the time per build and the process's peak RSS; it
// also times one more revocation with a million already revoked (the cost
// must not grow with the list). Run: go test -run '^$' -bench CRL1M -benchtime 1x ./certmgr
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
	for i := range n {
		if _, err := m.sqlStore().RevokeIssued(ctx, c.AccountID, fmt.Sprintf("bench-%d", i), 1, now); err != nil && i < 10 {
			b.Fatal(err)
		}
		if i == 0 {
			// bulk-revoke the rest in one statement: the benchmark measures
			// CRL builds, not a million API calls
			if err := bulkRevoke(ctx, m, sub, now); err != nil {
				b.Fatal(err)
			}
			break
		}
	}
	b.Run("revoke-one-more", func(b *testing.B) {
		extra := 0
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
	})
	b.Run("build", func(b *testing.B) {
		var doc *CRLDocument
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
		b.ReportMetric(peakRSSMiB(), "peakRSS-MiB")
		b.ReportMetric(float64(len(doc.DER))/(1<<20), "MiB/crl")
		crl, err := x509.ParseRevocationList(doc.DER)
		if err != nil || len(crl.RevokedCertificateEntries) < n {
			b.Fatalf("CRL has %d entries (%v)", len(crl.RevokedCertificateEntries), err)
		}
	})
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

// peakRSSMiB reads VmHWM from /proc/self/status (Linux).
func peakRSSMiB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			return kb / 1024
		}
	}
	return 0
}
