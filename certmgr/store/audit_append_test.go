package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestAuditAppendFollowsAnotherWriter: a process appends after the head
// its own last commit left without reading it again, and when another
// process on the same chain (the accesskey command beside a running
// server) has appended since, it notices, reads the head once and chains
// after it: the chain stays whole, with no fork and no gap.
func TestAuditAppendFollowsAnotherWriter(t *testing.T) {
	eachBackend(t, testAuditAppendFollowsAnotherWriter)
}

func testAuditAppendFollowsAnotherWriter(t *testing.T) {
	url := testURL(t)
	ctx := context.Background()
	open := func() *DB {
		db, err := OpenURL(ctx, url, WithAuditChain("node-a"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	server, command := open(), open()
	now := time.Now().UTC().Truncate(time.Millisecond)
	n := 0
	write := func(db *DB, grouped bool) {
		t.Helper()
		n++
		// Every call claims a nonce: on PostgreSQL it rides in the
		// statement that appends the records, also when that statement
		// finds the remembered head behind.
		jctx, j := nonceJournal(now, fmt.Sprint("req-", n), fmt.Sprint("n-", n))
		id := fmt.Sprint("acct-", n)
		insert := func(tx *Tx) error { return tx.InsertAccount(jctx, &Account{ID: id, Name: id, CreatedAt: now}) }
		var err error
		if grouped {
			err = db.Group(jctx, insert)
		} else {
			err = db.Tx(jctx, insert)
		}
		if err == nil {
			err = db.Flush(jctx, j, "Failed.Later") // a second transaction, with a second record
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	reads := func(db *DB) int64 { return db.tip.reads.Load() }

	write(server, true)
	if got := reads(server); got != 1 {
		t.Fatalf("first append read the head %d times, want 1", got)
	}
	for range 3 {
		write(server, true)
		write(server, false)
	}
	if got := reads(server); got != 1 {
		t.Fatalf("appends after the process's own commits read the head %d times in all, want the first read only", got)
	}
	write(command, false)
	write(server, true)
	if got := reads(server); got != 2 {
		t.Fatalf("after another writer's append the head was read %d times in all, want 2", got)
	}
	write(command, true)
	write(command, true)
	write(server, false)
	write(server, true)
	if got := reads(server); got != 3 {
		t.Fatalf("head read %d times in all, want 3", got)
	}

	// A replay to the process whose remembered head is behind: refused,
	// and nothing of it is written but the record of its refusal.
	write(command, false)
	jctx, j := nonceJournal(now, "req-replay", fmt.Sprint("n-", n))
	if err := server.Flush(jctx, j, "OK"); !errors.Is(err, ErrNonceUsed) {
		t.Fatalf("replayed nonce: %v, want ErrNonceUsed", err)
	}
	if err := server.Flush(jctx, j, "SignatureNonceUsed"); err != nil {
		t.Fatal(err)
	}

	want := int64(2*n + 1)
	var seq int64
	var prev []byte
	if err := server.WalkAudit(ctx, func(r *AuditRecord) error {
		seq++
		if r.Chain != "node-a" || r.Seq != seq || (seq > 1 && !bytes.Equal(r.PrevHash, prev)) || !bytes.Equal(r.ComputeHash(), r.Hash) {
			t.Fatalf("chain broken at record %d (seq %d)", seq, r.Seq)
		}
		prev = r.Hash
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if seq != want {
		t.Fatalf("chain holds %d records, want %d", seq, want)
	}
}

// TestAuditAppendWritesManyRecordsOfOneCall: a call with more records
// than one INSERT carries commits them all, in order, chained.
func TestAuditAppendWritesManyRecordsOfOneCall(t *testing.T) {
	eachBackend(t, testAuditAppendWritesManyRecordsOfOneCall)
}

func testAuditAppendWritesManyRecordsOfOneCall(t *testing.T) {
	db := openTest(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	jctx, j := journalCtx(now)
	uses := 2*recordsPerInsert + 3
	for i := range uses {
		j.AddUse("token:sign/CKM_ECDSA", fmt.Sprint("key-", i), "OK")
	}
	if err := db.Flush(jctx, j, "OK"); err != nil {
		t.Fatal(err)
	}
	rows := auditRows(t, db)
	if len(rows) != uses+1 {
		t.Fatalf("%d records, want %d", len(rows), uses+1)
	}
	for i, r := range rows {
		if r.Seq != int64(i+1) || (i > 0 && !bytes.Equal(r.PrevHash, rows[i-1].Hash)) || !bytes.Equal(r.ComputeHash(), r.Hash) {
			t.Fatalf("chain broken at record %d", i+1)
		}
		if i > 0 && r.Resource != fmt.Sprint("key-", i-1) {
			t.Fatalf("record %d is %q, want key-%d: out of order", i+1, r.Resource, i-1)
		}
	}
}
