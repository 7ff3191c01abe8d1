package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/certcustody/certcustody/pgcluster/pgclustertest"
)

// BenchmarkAuditFlush times the commit of one read-only call's records
// (the call record and one token-key use, with its signature nonce), one
// after another, on each backend: what every audited call pays to land
// in the log.
func BenchmarkAuditFlush(b *testing.B) {
	for _, backend := range backends {
		b.Run(backend, func(b *testing.B) {
			url := ""
			if backend == "postgres" {
				url = pgclustertest.Database(b, cluster)
			} else {
				url = b.TempDir() + "/bench.db"
			}
			db, err := OpenURL(context.Background(), url)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { db.Close() })
			now := time.Now().UTC().Truncate(time.Millisecond)
			i := 0
			for b.Loop() {
				i++
				ctx, j := nonceJournal(now, fmt.Sprint("req-", i), fmt.Sprint("n-", i))
				j.AddUse("token:sign/CKM_ECDSA", "kms-1", "OK")
				if err := db.Flush(ctx, j, "OK"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
