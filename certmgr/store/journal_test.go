package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// auditRows returns the audit log in sequence order.
func auditRows(t *testing.T, db *DB) []*AuditRecord {
	t.Helper()
	var out []*AuditRecord
	if err := db.WalkAudit(context.Background(), func(r *AuditRecord) error { out = append(out, r); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// refuseAudit makes every audit append fail, as a full disk or a broken
// log would, until the returned func lifts it.
func refuseAudit(t *testing.T, db *DB) func() {
	t.Helper()
	ctx := context.Background()
	for _, q := range refuseAuditSQL(db) {
		if _, err := db.db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	return func() {
		for _, q := range allowAuditSQL(db) {
			if _, err := db.db.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func journalCtx(now time.Time) (context.Context, *Journal) {
	j := NewJournal("req-1", "127.0.0.1", func() time.Time { return now })
	j.SetCall("acct", "AK1", "2016-01-20/CreateCertificate", "acs:kms:*:acct:certificate/*")
	return WithJournal(context.Background(), j), j
}

// A change whose audit record cannot be written does not happen, in both
// the plain and the group-committed transaction; once the log accepts
// records, the change and its records commit together.
func TestChangeAndAuditRecordCommitTogether(t *testing.T) {
	eachBackend(t, testChangeAndAuditRecordCommitTogether)
}

func testChangeAndAuditRecordCommitTogether(t *testing.T) {
	for name, run := range map[string]func(db *DB, ctx context.Context, fn func(*Tx) error) error{
		"Tx":    (*DB).Tx,
		"Group": (*DB).Group,
	} {
		t.Run(name, func(t *testing.T) {
			db := openTest(t)
			now := time.Now().UTC().Truncate(time.Millisecond)
			ctx, j := journalCtx(now)
			j.AddUse("token:generate/CKM_EC_KEY_PAIR_GEN", "key-1", "OK")
			insert := func(tx *Tx) error { return tx.InsertAccount(ctx, &Account{ID: "a", Name: "a", CreatedAt: now}) }

			lift := refuseAudit(t, db)
			if err := run(db, ctx, insert); err == nil {
				t.Fatal("change committed without its audit record")
			}
			if _, err := db.AccountByName(ctx, "a"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("change is visible without its audit record: %v", err)
			}
			if j.CallRecorded() || len(j.Written()) != 0 {
				t.Fatalf("journal believes rolled-back records were written: %v", j.Written())
			}

			lift()
			if err := run(db, ctx, insert); err != nil {
				t.Fatal(err)
			}
			if _, err := db.AccountByName(ctx, "a"); err != nil {
				t.Fatalf("change missing after commit: %v", err)
			}
			rows := auditRows(t, db)
			if len(rows) != 2 {
				t.Fatalf("want call + key-use records, got %d", len(rows))
			}
			call, use := rows[0], rows[1]
			if call.Action != "2016-01-20/CreateCertificate" || call.Code != "OK" || call.AccountID != "acct" || call.RequestID != "req-1" {
				t.Errorf("call record: %+v", call)
			}
			if use.Action != "token:generate/CKM_EC_KEY_PAIR_GEN" || use.Resource != "key-1" || use.AccessKeyID != "AK1" || use.SourceIP != "127.0.0.1" {
				t.Errorf("key-use record does not carry the caller: %+v", use)
			}

			// Nothing is left to write, so the end of a successful call adds nothing.
			if err := db.Flush(context.Background(), j, "OK"); err != nil {
				t.Fatal(err)
			}
			if n := len(auditRows(t, db)); n != 2 {
				t.Fatalf("flush after commit wrote again: %d records", n)
			}
		})
	}
}

// A call that changes nothing is recorded by Flush with its final code; a
// call that failed after its change committed gets a second record naming
// the failure, so the log never says only "OK" for it.
func TestFlushWritesWhatNoChangeCarried(t *testing.T) {
	eachBackend(t, testFlushWritesWhatNoChangeCarried)
}

func testFlushWritesWhatNoChangeCarried(t *testing.T) {
	db := openTest(t)
	now := time.Now().UTC().Truncate(time.Millisecond)

	ctx, j := journalCtx(now)
	j.AddUse("token:sign/CKM_ECDSA", "key-1", "Failed.Token")
	if err := db.Flush(ctx, j, "Forbidden.RAM"); err != nil {
		t.Fatal(err)
	}
	rows := auditRows(t, db)
	if len(rows) != 2 || rows[0].Code != "Forbidden.RAM" || rows[1].Code != "Failed.Token" {
		t.Fatalf("refused call: %+v", rows)
	}

	ctx, j = journalCtx(now)
	if err := db.Tx(ctx, func(tx *Tx) error {
		return tx.InsertAccount(ctx, &Account{ID: "b", Name: "b", CreatedAt: now})
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Flush(ctx, j, "InternalError"); err != nil {
		t.Fatal(err)
	}
	rows = auditRows(t, db)[2:]
	if len(rows) != 2 || rows[0].Code != "OK" || rows[1].Code != "InternalError" || rows[1].RequestID != rows[0].RequestID {
		t.Fatalf("call failing after its change: %+v", rows)
	}

	// A flush the log refuses leaves the records pending, not lost.
	ctx, j = journalCtx(now)
	lift := refuseAudit(t, db)
	if err := db.Flush(ctx, j, "OK"); err == nil {
		t.Fatal("flush succeeded while the log refused records")
	}
	lift()
	if err := db.Flush(ctx, j, "OK"); err != nil || !j.CallRecorded() {
		t.Fatalf("retried flush: %v recorded=%v", err, j.CallRecorded())
	}
}

// Records appended from concurrent group-committed changes form one chain
// with no gaps or forks.
func TestGroupedJournalsChain(t *testing.T) { eachBackend(t, testGroupedJournalsChain) }

func testGroupedJournalsChain(t *testing.T) {
	db := openTest(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	const n = 40
	errs := make(chan error, n)
	for i := range n {
		go func() {
			j := NewJournal("req", "127.0.0.1", func() time.Time { return now })
			j.SetCall("acct", "AK1", "x", "r")
			ctx := WithJournal(context.Background(), j)
			id := string(rune('A' + i))
			errs <- db.Group(ctx, func(tx *Tx) error {
				return tx.InsertAccount(ctx, &Account{ID: id, Name: id, CreatedAt: now})
			})
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	rows := auditRows(t, db)
	if len(rows) != n {
		t.Fatalf("%d records for %d changes", len(rows), n)
	}
	prev := make([]byte, 32)
	for i, r := range rows {
		if r.Seq != int64(i+1) || string(r.PrevHash) != string(prev) || string(r.ComputeHash()) != string(r.Hash) {
			t.Fatalf("chain broken at seq %d", r.Seq)
		}
		prev = r.Hash
	}
}

// Key uses made before the caller is known (unsealing the AccessKey secret
// to check a signature) wait for the caller's identity: a transaction that
// commits meanwhile (storing the nonce) does not take them.
func TestKeyUsesWaitForTheCaller(t *testing.T) { eachBackend(t, testKeyUsesWaitForTheCaller) }

func testKeyUsesWaitForTheCaller(t *testing.T) {
	db := openTest(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	j := NewJournal("req-2", "127.0.0.1", func() time.Time { return now })
	ctx := WithJournal(context.Background(), j)
	j.AddUse("token:unseal/CKM_AES_GCM", "kek", "OK")
	if _, err := db.UseNonce(ctx, "AK1", "n1", now.Add(time.Minute), now); err != nil {
		t.Fatal(err)
	}
	if n := len(auditRows(t, db)); n != 0 {
		t.Fatalf("a transaction before authentication wrote %d records", n)
	}
	j.SetCall("acct", "AK1", "2016-01-20/ListCertificates", "*")
	if err := db.Flush(ctx, j, "OK"); err != nil {
		t.Fatal(err)
	}
	rows := auditRows(t, db)
	if len(rows) != 2 || rows[0].Action != "2016-01-20/ListCertificates" || rows[1].Action != "token:unseal/CKM_AES_GCM" || rows[1].AccountID != "acct" {
		t.Fatalf("records: %+v", rows)
	}

	// A caller that never becomes known (bad signature): the use is still
	// recorded, with what the request did reveal.
	j = NewJournal("req-3", "127.0.0.1", func() time.Time { return now })
	j.AddUse("token:unseal/CKM_AES_GCM", "kek", "OK")
	if err := db.Flush(context.Background(), j, "IncompleteSignature"); err != nil {
		t.Fatal(err)
	}
	rows = auditRows(t, db)[2:]
	if len(rows) != 1 || rows[0].RequestID != "req-3" || rows[0].Action != "token:unseal/CKM_AES_GCM" || rows[0].AccountID != "" {
		t.Fatalf("records of an unauthenticated request: %+v", rows)
	}
}

// A key use after the operation's journal was flushed is refused, so the
// caller can count it as unaudited instead of losing it silently.
func TestJournalRefusesUsesAfterFlush(t *testing.T) { eachBackend(t, testJournalRefusesUsesAfterFlush) }

func testJournalRefusesUsesAfterFlush(t *testing.T) {
	db := openTest(t)
	ctx, j := journalCtx(time.Now())
	if !j.AddUse("token:sign/CKM_ECDSA", "k", "OK") {
		t.Fatal("open journal refused a key use")
	}
	if err := db.Flush(ctx, j, "OK"); err != nil {
		t.Fatal(err)
	}
	if j.AddUse("token:sign/CKM_ECDSA", "k", "OK") {
		t.Fatal("flushed journal accepted a key use nothing will write")
	}
	if n := len(auditRows(t, db)); n != 2 {
		t.Fatalf("%d records, want the call and one use", n)
	}
}

// The writer signs a checkpoint in the transaction whose record completes
// the bound; when it cannot sign, that transaction's change does not
// happen, so the unsigned tail never grows past the bound. (The signature
// itself is the token's business; here it is a marker.)
func TestWriterSignsAtTheBound(t *testing.T) { eachBackend(t, testWriterSignsAtTheBound) }

func testWriterSignsAtTheBound(t *testing.T) {
	db := openTest(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	var refuse bool
	db.SignAuditEvery(5, func() time.Time { return now }, func(_ context.Context, cp *AuditCheckpoint) ([]byte, error) {
		if refuse {
			return nil, errors.New("token unavailable")
		}
		return append([]byte("sig-"), cp.HeadHash...), nil
	})
	write := func(i int) error {
		ctx, j := journalCtx(now)
		id := fmt.Sprint("acct-", i)
		err := db.Group(ctx, func(tx *Tx) error { return tx.InsertAccount(ctx, &Account{ID: id, Name: id, CreatedAt: now}) })
		if err == nil && i%2 == 0 {
			err = db.Flush(ctx, j, "Failed.Later") // a second record
		}
		return err
	}
	for i := range 6 {
		if err := write(i); err != nil {
			t.Fatal(err)
		}
	}
	cps, err := db.AuditCheckpoints(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(cps) != 1 || cps[CheckpointKey{Seq: 5}] == nil {
		t.Fatalf("checkpoints %v, want one at record 5", cps)
	}
	seq, _, _, _ := db.AuditHead(context.Background())
	refuse = true
	for i := 7; seq < 9; i += 2 { // odd: one record each, up to just below the bound
		if err := write(i); err != nil {
			t.Fatal(err)
		}
		seq, _, _, _ = db.AuditHead(context.Background())
	}
	if err := write(100); err == nil {
		t.Fatal("a write that would leave the tail past the bound unsigned committed")
	}
	if _, err := db.AccountByName(context.Background(), "acct-100"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the refused write's change is visible: %v", err)
	}
	refuse = false
	if err := write(101); err != nil {
		t.Fatal(err)
	}
	if cps, _ := db.AuditCheckpoints(context.Background()); len(cps) != 2 || cps[CheckpointKey{Seq: 10}] == nil {
		t.Fatalf("checkpoints %v, want records 5 and 10", cps)
	}
}

// TestAuditChainsPerNode: two stores on one database, as two nodes, each
// append to their own chain without waiting for the other; under
// concurrent writes both chains stay contiguous and linked, and a
// checkpoint names the other chain's head.
func TestAuditChainsPerNode(t *testing.T) { eachBackend(t, testAuditChainsPerNode) }

func testAuditChainsPerNode(t *testing.T) {
	url := testURL(t)
	ctx := context.Background()
	var nodes []*DB
	for _, name := range []string{"node-a", "node-b"} {
		db, err := OpenURL(ctx, url, WithAuditChain(name))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		db.SignAuditEvery(7, time.Now, func(_ context.Context, cp *AuditCheckpoint) ([]byte, error) { return []byte("sig"), nil })
		nodes = append(nodes, db)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db := nodes[i%2]
			jctx, _ := journalCtx(now)
			id := fmt.Sprint("acct-", i)
			errs <- db.Group(jctx, func(tx *Tx) error { return tx.InsertAccount(jctx, &Account{ID: id, Name: id, CreatedAt: now}) })
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// Concurrent batches may each sign before the other commits; a
	// checkpoint signed after both committed must name the other head.
	for i := range 7 {
		jctx, _ := journalCtx(now)
		id := fmt.Sprint("late-", i)
		if err := nodes[0].Group(jctx, func(tx *Tx) error { return tx.InsertAccount(jctx, &Account{ID: id, Name: id, CreatedAt: now}) }); err != nil {
			t.Fatal(err)
		}
	}
	next := map[string]int64{}
	prev := map[string][]byte{}
	if err := nodes[0].WalkAudit(ctx, func(r *AuditRecord) error {
		if p, ok := prev[r.Chain]; !ok && r.Seq != 1 || ok && (r.Seq != next[r.Chain] || string(r.PrevHash) != string(p)) || string(r.ComputeHash()) != string(r.Hash) {
			t.Fatalf("chain %s broken at %d", r.Chain, r.Seq)
		}
		prev[r.Chain], next[r.Chain] = r.Hash, r.Seq+1
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if next["node-a"] != 28 || next["node-b"] != 21 || len(next) != 2 {
		t.Fatalf("chains %v, want node-a with 27 records and node-b with 20", next)
	}
	cps, err := nodes[0].AuditCheckpoints(ctx)
	if err != nil {
		t.Fatal(err)
	}
	named := 0
	for _, cp := range cps {
		for _, h := range cp.Heads {
			if h.Chain != cp.Chain {
				named++
			}
		}
	}
	if len(cps) < 4 || named == 0 {
		t.Fatalf("%d checkpoints naming %d other heads; want two per chain, naming the other chain", len(cps), named)
	}
}

// TestChangeRecordsRollBackWithTheirTransaction: a key use noted before a
// failed transaction is still written by the next one (the use happened),
// but an AddChange record goes only with the transaction that made the
// change: a rolled-back one drops it, and Flush never writes one that no
// transaction took.
func TestChangeRecordsRollBackWithTheirTransaction(t *testing.T) {
	eachBackend(t, testChangeRecordsRollBackWithTheirTransaction)
}

func testChangeRecordsRollBackWithTheirTransaction(t *testing.T) {
	db := openTest(t)
	ctx, j := journalCtx(time.Now())
	j.AddUse("token:sign/CKM_ECDSA", "kms-1", "OK")
	// The change record is the transaction's last step, and the
	// transaction still fails when it appends the records (as a rejected
	// ClientToken would fail it).
	lift := refuseAudit(t, db)
	err := db.Group(ctx, func(tx *Tx) error {
		if err := tx.InsertAccount(ctx, &Account{ID: "x", Name: "x", CreatedAt: time.Now()}); err != nil {
			return err
		}
		j.AddChange("keypool:claim", "kms-1", "OK")
		return nil
	})
	if err == nil {
		t.Fatal("the refused audit append did not fail the transaction")
	}
	lift()
	if err := db.Group(ctx, func(tx *Tx) error { return tx.InsertAccount(ctx, &Account{ID: "a", Name: "a", CreatedAt: time.Now()}) }); err != nil {
		t.Fatal(err)
	}
	j.AddChange("keypool:claim", "kms-2", "OK") // no transaction takes it
	if err := db.Flush(ctx, j, "OK"); err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, r := range auditRows(t, db) {
		actions = append(actions, r.Action+" "+r.Resource)
	}
	want := fmt.Sprint([]string{"2016-01-20/CreateCertificate acs:kms:*:acct:certificate/*", "token:sign/CKM_ECDSA kms-1"})
	if fmt.Sprint(actions) != want {
		t.Fatalf("records %v, want %v", actions, want)
	}
	// And a change record taken by a transaction that commits is written.
	j2ctx, j2 := journalCtx(time.Now())
	if err := db.Group(j2ctx, func(tx *Tx) error {
		j2.AddChange("keypool:claim", "kms-3", "OK")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	rows := auditRows(t, db)
	if last := rows[len(rows)-1]; last.Action != "keypool:claim" || last.Resource != "kms-3" || last.AccountID != "acct" {
		t.Fatalf("committed change record: %+v", last)
	}
}
