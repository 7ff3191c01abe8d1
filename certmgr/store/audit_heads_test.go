package store

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestOtherChainHeadsSkipThroughTheLog: the heads a checkpoint names are
// every other chain's newest record, found with a seek per chain, not a
// read of the log: on a log of 4,000 analyzed records in three chains,
// SQLite's plan has no scan of audit_log and no PostgreSQL plan node
// touches more than a handful of rows.
func TestOtherChainHeadsSkipThroughTheLog(t *testing.T) {
	eachBackend(t, testOtherChainHeadsSkipThroughTheLog)
}

func testOtherChainHeadsSkipThroughTheLog(t *testing.T) {
	url := testURL(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	nodes := map[string]*DB{}
	for chain, records := range map[string]int{"node-a": 2000, "node-b": 1500, "node-c": 500} {
		db, err := OpenURL(ctx, url, WithAuditChain(chain))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		nodes[chain] = db
		jctx, j := journalCtx(now)
		for i := range records - 1 { // and the call's own record
			j.AddUse("token:sign/CKM_ECDSA", fmt.Sprint("key-", i), "OK")
		}
		if err := db.Flush(jctx, j, "OK"); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]*AuditRecord{}
	if err := nodes["node-a"].WalkAudit(ctx, func(r *AuditRecord) error {
		want[r.Chain] = r
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	heads, err := nodes["node-a"].OtherChainHeads(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(heads) != 2 || heads[0].Chain != "node-b" || heads[1].Chain != "node-c" {
		t.Fatalf("heads %+v, want node-b's and node-c's", heads)
	}
	for _, h := range heads {
		if w := want[h.Chain]; h.Seq != w.Seq || !bytes.Equal(h.Hash, w.Hash) {
			t.Errorf("%s head at %d, the log's newest is %d", h.Chain, h.Seq, w.Seq)
		}
	}
	if want["node-c"].Seq != 500 {
		t.Fatalf("node-c wrote %d records, want 500", want["node-c"].Seq)
	}

	db := nodes["node-a"]
	if _, err := db.db.ExecContext(ctx, `ANALYZE`); err != nil {
		t.Fatal(err)
	}
	text := planOf(t, db, otherHeadsQuery, "node-a")
	if !strings.Contains(text, "audit_log") {
		t.Fatalf("the plan does not read audit_log:\n%s", text)
	}
	if db.d == postgresDialect {
		if n := planMaxRows(text); n > 10 {
			t.Fatalf("a plan node touches %d rows:\n%s", n, text)
		}
		if strings.Contains(text, "Seq Scan on audit_log") {
			t.Fatalf("the plan scans the log:\n%s", text)
		}
	} else if regexp.MustCompile(`SCAN (audit_log|a)\b`).MatchString(text) {
		t.Fatalf("the plan scans the log:\n%s", text)
	}
}
