package certmgr

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"

	_ "github.com/mattn/go-sqlite3"

	"github.com/certcustody/certcustody/certmgr/store"
)

// TestAuditDetectsTampering fills the log to 250 records (two signed checkpoints),
// verifies the untouched log, then edits, deletes and swaps records behind
// the service's back; each time verification names the broken record.
func TestAuditDetectsTampering(t *testing.T) {
	ctx := context.Background()
	tampers := []struct {
		name  string
		sql   string
		where int64
	}{
		{"edited", `UPDATE audit_log SET code = 'OK' WHERE seq = 10`, 10}, // hide a Forbidden.RAM
		{"deleted", `DELETE FROM audit_log WHERE seq = 9`, 9},
		// Records 3 and 4 trade places, each intact with its own hash.
		{"swapped", `UPDATE audit_log SET seq = -1 WHERE seq = 3; UPDATE audit_log SET seq = 3 WHERE seq = 4; UPDATE audit_log SET seq = 4 WHERE seq = -1`, 3},
		{"truncated", `DELETE FROM audit_log WHERE seq > 150`, 200},
		{"re-signed head", `UPDATE audit_checkpoints SET signature = x'3006020101020101' WHERE seq = 100`, 100},
	}
	for _, tc := range tampers {
		t.Run(tc.name, func(t *testing.T) {
			m, c, path := newManagerAt(t)
			// Creating the caller's AccessKey is already on the log.
			pub, err := m.AuditPublicKey(ctx)
			if err != nil {
				t.Fatal(err)
			}
			before, err := m.VerifyAudit(ctx, pub)
			if err != nil || before.Records == 0 {
				t.Fatalf("set-up records: %+v %v", before, err)
			}
			for i := range 250 - int(before.Records) {
				code := "OK"
				if (int(before.Records)+i+1)%5 == 0 { // every fifth sequence number
					code = "Forbidden.RAM"
				}
				_, j := m.StartAudit(ctx, fmt.Sprint("req-", i), "127.0.0.1")
				j.SetCaller(c, "2016-01-20/DescribeCertificate", "acs:kms:cn-hangzhou:"+c.AccountID+":certificate/*")
				if _, err := j.Finish(ctx, code); err != nil {
					t.Fatal(err)
				}
			}
			rep, err := m.VerifyAudit(ctx, pub)
			if err != nil || rep.Records != 250 || rep.Checkpoints != 2 || rep.LastSigned != 200 || rep.UnsignedTail != 50 {
				t.Fatalf("untouched log: %+v %v", rep, err)
			}
			raw, err := sql.Open("sqlite3", path)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := raw.Exec(tc.sql); err != nil {
				t.Fatal(err)
			}
			raw.Close()
			_, err = m.VerifyAudit(ctx, pub)
			var brk *AuditBreak
			if !errors.As(err, &brk) || brk.Seq != tc.where {
				t.Fatalf("got %v, want a break at record %d", err, tc.where)
			}
		})
	}
}

// TestSignAuditHeadCoversTheTail: records after the last hundredth are
// protected only by the hash chain, which whoever can write the database
// can recompute. Signing the head closes that gap: a tail record rewritten
// with a recomputed hash verifies without the head signature and is caught
// with it.
func TestSignAuditHeadCoversTheTail(t *testing.T) {
	ctx := context.Background()
	m, c, path := newManagerAt(t)
	for i := range 5 {
		_, j := m.StartAudit(ctx, fmt.Sprint("req-", i), "127.0.0.1")
		j.SetCaller(c, "2016-01-20/DescribeCertificate", "*")
		if _, err := j.Finish(ctx, "Forbidden.RAM"); err != nil {
			t.Fatal(err)
		}
	}
	pub, err := m.AuditPublicKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rewriteHead := func() int64 {
		t.Helper()
		var last *store.AuditRecord
		if err := m.sqlStore().WalkAudit(ctx, func(r *store.AuditRecord) error { last = r; return nil }); err != nil {
			t.Fatal(err)
		}
		last.Code += "-rewritten"
		raw, err := sql.Open("sqlite3", path)
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		if _, err := raw.Exec(`UPDATE audit_log SET code = ?, hash = ? WHERE seq = ?`, last.Code, last.ComputeHash(), last.Seq); err != nil {
			t.Fatal(err)
		}
		return last.Seq
	}

	// Unsigned, the rewrite goes unnoticed: this is the gap.
	rewriteHead()
	if rep, err := m.VerifyAudit(ctx, pub); err != nil || rep.UnsignedTail == 0 {
		t.Fatalf("unsigned tail: %+v %v", rep, err)
	}

	cp, err := m.SignAuditHead(ctx)
	if err != nil || cp == nil {
		t.Fatalf("SignAuditHead: %+v %v", cp, err)
	}
	rep, err := m.VerifyAudit(ctx, pub)
	if err != nil || rep.LastSigned != cp.Seq || rep.UnsignedTail != 0 || rep.Records != cp.Seq {
		t.Fatalf("after signing the head: %+v %v", rep, err)
	}
	if again, err := m.SignAuditHead(ctx); err != nil || again != nil {
		t.Fatalf("signing a signed head again: %+v %v", again, err)
	}
	seq := rewriteHead()
	_, err = m.VerifyAudit(ctx, pub)
	var brk *AuditBreak
	if !errors.As(err, &brk) || brk.Seq != seq {
		t.Fatalf("rewritten signed head: %v, want a break at %d", err, seq)
	}
}
