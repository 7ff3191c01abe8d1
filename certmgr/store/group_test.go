package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/certcustody/certcustody/pgcluster/pgclustertest"
)

// TestGroupRollsBackOnlyTheFailingWrite runs concurrent writes through group
// commit; the ones that fail after writing leave nothing, the rest commit.
// accountWrite is a group write that inserts account i (named prefix+i)
// and then, if fail, fails with boom.
func accountWrite(ctx context.Context, i int, prefix string, fail bool, boom error) func(tx *Tx) error {
	return func(tx *Tx) error {
		if err := tx.InsertAccount(ctx, &Account{ID: fmt.Sprint(i), Name: fmt.Sprint(prefix, i), CreatedAt: time.Now()}); err != nil {
			return err
		}
		if fail {
			return boom
		}
		return nil
	}
}

func TestGroupRollsBackOnlyTheFailingWrite(t *testing.T) {
	eachBackend(t, testGroupRollsBackOnlyTheFailingWrite)
}

func testGroupRollsBackOnlyTheFailingWrite(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	boom := errors.New("refused after writing")
	var wg sync.WaitGroup
	errs := make([]error, 40)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = db.Group(ctx, accountWrite(ctx, i, "acct-", i%4 == 0, boom))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		_, getErr := db.AccountByName(ctx, fmt.Sprint("acct-", i))
		if i%4 == 0 {
			if !errors.Is(err, boom) || !errors.Is(getErr, ErrNotFound) {
				t.Fatalf("write %d failed but left its row (err %v, lookup %v)", i, err, getErr)
			}
		} else if err != nil || getErr != nil {
			t.Fatalf("write %d: %v / %v", i, err, getErr)
		}
	}
}

// TestGroupBatchOfMixedOutcomes commits one batch whose writes fail and
// succeed in turn, the last one failing: each write's savepoint is ended
// by the next one's statement or by COMMIT, a failed write leaves nothing
// and the others all commit.
func TestGroupBatchOfMixedOutcomes(t *testing.T) {
	eachBackend(t, testGroupBatchOfMixedOutcomes)
}

func testGroupBatchOfMixedOutcomes(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	boom := errors.New("refused after writing")
	fails := []bool{false, true, true, false, false, true}
	batch := make([]groupReq, len(fails))
	for i, fail := range fails {
		batch[i] = groupReq{ctx: ctx, res: make(chan error, 1), done: func(error) {}, fn: accountWrite(ctx, i, "mixed-", fail, boom)}
	}
	before := db.GroupStats()
	db.group.commit(batch)
	if st := db.GroupStats(); st.Commits != before.Commits+1 {
		t.Fatalf("%d commits for one batch", st.Commits-before.Commits)
	}
	for i, fail := range fails {
		err := <-batch[i].res
		_, getErr := db.AccountByName(ctx, fmt.Sprint("mixed-", i))
		if fail && (!errors.Is(err, boom) || !errors.Is(getErr, ErrNotFound)) {
			t.Fatalf("write %d failed but left its row (err %v, lookup %v)", i, err, getErr)
		}
		if !fail && (err != nil || getErr != nil) {
			t.Fatalf("write %d: %v / %v", i, err, getErr)
		}
	}
}

// TestGroupAnswersWithTheCommitsOutcome: a caller whose context is
// cancelled after its write was made learns that the write committed,
// rather than a cancellation that would have it undo the token key the row
// points to.
func TestGroupAnswersWithTheCommitsOutcome(t *testing.T) {
	eachBackend(t, testGroupAnswersWithTheCommitsOutcome)
}

func testGroupAnswersWithTheCommitsOutcome(t *testing.T) {
	db := openTest(t)
	ctx, cancel := context.WithCancel(context.Background())
	err := db.Group(ctx, func(tx *Tx) error {
		if err := tx.InsertAccount(ctx, &Account{ID: "x", Name: "x", CreatedAt: time.Now()}); err != nil {
			return err
		}
		cancel() // the client goes away between the write and the commit
		return nil
	})
	// The committer is serial: once a later group returns, the earlier
	// one has settled.
	if err := db.Group(context.Background(), func(*Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	_, getErr := db.AccountByName(context.Background(), "x")
	if (err == nil) != (getErr == nil) {
		t.Fatalf("Group said %v but the row lookup says %v", err, getErr)
	}
}

// BenchmarkGroupLoneWrite records nonces one after another through group
// commit, so that each write is alone in its transaction: the cost of a
// write at low load (on PostgreSQL, mostly round trips).
func BenchmarkGroupLoneWrite(b *testing.B) {
	for _, backend := range backends {
		b.Run(backend, func(b *testing.B) {
			url := filepath.Join(b.TempDir(), "bench.db")
			if backend == "postgres" {
				url = pgclustertest.Database(b, cluster)
			}
			db, err := OpenURL(context.Background(), url)
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			now := time.Now()
			b.ResetTimer()
			for i := range b.N {
				if _, err := db.UseNonce(context.Background(), "AK", fmt.Sprint("n-", i), now.Add(time.Hour), now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestGroupStatsCountWritesAndCommits checks the committer's counters:
// every write counted once, failed ones too, in no more transactions than
// writes, and time spent committing.
func TestGroupStatsCountWritesAndCommits(t *testing.T) {
	eachBackend(t, testGroupStatsCountWritesAndCommits)
}

func testGroupStatsCountWritesAndCommits(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	before := db.GroupStats()
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = db.Group(ctx, func(tx *Tx) error {
				if i%3 == 0 {
					return errors.New("refused")
				}
				return tx.InsertAccount(ctx, &Account{ID: fmt.Sprint("s", i), Name: fmt.Sprint("stats-", i), CreatedAt: time.Now()})
			})
		}()
	}
	wg.Wait()
	after := db.GroupStats()
	writes, commits := after.Writes-before.Writes, after.Commits-before.Commits
	if writes != 30 {
		t.Fatalf("%d writes counted, want 30", writes)
	}
	if commits < 1 || commits > 30 {
		t.Fatalf("%d shared transactions for 30 writes", commits)
	}
	if after.CommitSeconds <= before.CommitSeconds || after.RunSeconds < before.RunSeconds {
		t.Fatalf("durations did not grow: %+v -> %+v", before, after)
	}
}
