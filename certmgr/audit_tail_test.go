package certmgr

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/certcustody/certcustody/certmgr/store"
)

// enforceTailBound makes the database itself refuse any audit record that
// would leave more than bound records after the last signed checkpoint,
// checked at every insert inside every transaction: if the tail exceeds
// the bound at any point, some write fails.
func enforceTailBound(t *testing.T, path string, bound int) {
	t.Helper()
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(fmt.Sprintf(`CREATE TRIGGER tail_bound BEFORE INSERT ON audit_log
		WHEN NEW.seq - COALESCE((SELECT MAX(seq) FROM audit_checkpoints), 0) > %d
		BEGIN SELECT RAISE(ABORT, 'unsigned audit tail over the bound'); END`, bound)); err != nil {
		t.Fatal(err)
	}
}

// auditOp is one audited call: a change committed through group commit
// (or a plain transaction), or none, then Finish with its code.
func auditOp(m *Manager, c Caller, name string, change int) error {
	ctx, j := m.StartAudit(context.Background(), name, "127.0.0.1")
	j.SetCaller(c, "2016-01-20/Test", "*")
	now := time.Now()
	insert := func(tx *store.Tx) error {
		return tx.InsertAccount(ctx, &store.Account{ID: name, Name: name, CreatedAt: now})
	}
	var err error
	switch change {
	case 1:
		err = m.sqlStore().Group(ctx, insert)
	case 2:
		err = m.sqlStore().Tx(ctx, insert)
	}
	if err != nil {
		return err
	}
	_, err = j.Finish(ctx, "OK")
	return err
}

// TestAuditTailBoundUnderLoad: many goroutines append records through
// group commit, plain transactions and journal flushes, while one call
// that committed its change stays open; at no point (the database checks
// every insert) and not at the end is the unsigned tail longer than
// checkpointEvery, and the log verifies.
func TestAuditTailBoundUnderLoad(t *testing.T) {
	m, c, path := newManagerAt(t)
	enforceTailBound(t, path, checkpointEvery)
	ctx := context.Background()
	pub, err := m.AuditPublicKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Bring the log to just below a checkpoint, so that the long call's
	// change record is the one that completes it.
	rep, err := m.VerifyAudit(ctx, pub)
	if err != nil {
		t.Fatal(err)
	}
	for i := rep.Records; i < checkpointEvery-1; i++ {
		if err := auditOp(m, c, fmt.Sprint("fill-", i), 0); err != nil {
			t.Fatal(err)
		}
	}
	// A slow call: its change commits record 100, and it finishes only
	// after the load below.
	lctx, long := m.StartAudit(ctx, "long", "127.0.0.1")
	long.SetCaller(c, "2016-01-20/Slow", "*")
	if err := m.sqlStore().Group(lctx, func(tx *store.Tx) error {
		return tx.InsertAccount(lctx, &store.Account{ID: "long", Name: "long", CreatedAt: time.Now()})
	}); err != nil {
		t.Fatal(err)
	}

	const workers, ops = 16, 40
	var wg sync.WaitGroup
	errs := make(chan error, workers*ops)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range ops {
				if err := auditOp(m, c, fmt.Sprintf("w%d-%d", w, i), (w+i)%3); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("audited write under load: %v", err)
	}
	if _, err := long.Finish(lctx, "OK"); err != nil {
		t.Fatal(err)
	}
	rep, err = m.VerifyAudit(ctx, pub)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Records < workers*ops || rep.UnsignedTail > checkpointEvery {
		t.Fatalf("after the load: %+v, want an unsigned tail of at most %d", rep, checkpointEvery)
	}
	t.Logf("%d records, %d checkpoints, unsigned tail %d", rep.Records, rep.Checkpoints, rep.UnsignedTail)
}
