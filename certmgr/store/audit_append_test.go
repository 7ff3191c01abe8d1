package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestAuditAppendFollowsAnotherWriter: on PostgreSQL a process appends
// after the head its own last commit left without reading it again, and
// when another process on the same chain (the accesskey command beside a
// running server) has appended since, it notices, reads the head once and
// chains after it. On both backends the chain stays whole, with no fork
// and no gap.
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
	// SQLite reads the head in every transaction (in process): the read
	// counts are PostgreSQL's.
	headReads := func(want int64, what string) {
		t.Helper()
		if got := server.tip.reads.Load(); backendOf(t) == "postgres" && got != want {
			t.Fatalf("%s: the head was read %d times in all, want %d", what, got, want)
		}
	}

	write(server, true)
	headReads(1, "first append")
	for range 3 {
		write(server, true)
		write(server, false)
	}
	headReads(1, "appends after the process's own commits")
	write(command, false)
	write(server, true)
	headReads(2, "after another writer's append")
	write(command, true)
	write(command, true)
	write(server, false)
	write(server, true)
	headReads(3, "after two more of the other writer's appends")

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

// TestAuditGuardReadsOneIndexEntry: the guard of a PostgreSQL audit
// append reads the chain's head from the (chain, seq) key, never a scan of
// the log, in the generic plan of the prepared statement (the one
// PostgreSQL uses after five executions, which cannot see the parameters:
// a guard it planned as a scan made every call read the whole log).
// SQLite appends without a guard: it reads the head in the transaction.
func TestAuditGuardReadsOneIndexEntry(t *testing.T) {
	t.Run("postgres", testAuditGuardReadsOneIndexEntry)
}

func testAuditGuardReadsOneIndexEntry(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	// A log of some size, analyzed: planners choose by its statistics.
	now := time.Now().UTC().Truncate(time.Millisecond)
	jctx, j := journalCtx(now)
	for i := range 3000 {
		j.AddUse("token:sign/CKM_ECDSA", fmt.Sprint("key-", i), "OK")
	}
	if err := db.Flush(jctx, j, "OK"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.db.ExecContext(ctx, `ANALYZE audit_log`); err != nil {
		t.Fatal(err)
	}
	conn, err := db.db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var plan []string
	explain := func(q string, args ...any) {
		t.Helper()
		rows, err := conn.QueryContext(ctx, q, args...)
		if err != nil {
			t.Fatal(err)
		}
		plan = append(plan, planLines(t, rows)...)
	}
	if _, err := conn.ExecContext(ctx, `SET plan_cache_mode = force_generic_plan`); err != nil {
		t.Fatal(err)
	}
	for i, q := range []string{guardedAuditInsert(2), nonceAndAuditInsert(2)} {
		if _, err := conn.ExecContext(ctx, fmt.Sprintf(`PREPARE guard%d AS %s`, i, db.d.rebind(q))); err != nil {
			t.Fatal(err)
		}
		args := auditInsertArgs("node-a", 7, []*AuditRecord{{Chain: "node-a", Seq: 8}, {Chain: "node-a", Seq: 9}})
		if i == 1 {
			args = append([]any{int64(2), "AK1", "n-1"}, args...)
		}
		// EXPLAIN EXECUTE takes no bound parameters: literals.
		lit := make([]string, len(args))
		for j, a := range args {
			switch v := a.(type) {
			case string:
				lit[j] = "'" + strings.ReplaceAll(v, "'", "''") + "'"
			case int64:
				lit[j] = fmt.Sprint(v)
			default:
				lit[j] = "NULL"
			}
		}
		explain(fmt.Sprintf(`EXPLAIN EXECUTE guard%d(%s)`, i, strings.Join(lit, ",")))
	}
	text := strings.Join(plan, "\n")
	if len(plan) == 0 || strings.Contains(text, "Seq Scan on audit_log") {
		t.Fatalf("the guard's plan scans the log:\n%s", text)
	}
	if !strings.Contains(text, "audit_log") {
		t.Fatalf("the plan does not read audit_log at all:\n%s", text)
	}
}
