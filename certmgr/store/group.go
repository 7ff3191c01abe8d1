package store

import (
	"context"
	"fmt"
	"time"
)

// Group commit. With synchronous=FULL every commit costs an fsync, and a
// request's answer waits for its commit. The committer runs the writes of
// concurrent requests in one transaction, each inside its own SAVEPOINT so
// that a failing write is rolled back alone, and answers each request only
// after the shared commit.

const maxGroup = 256

type groupReq struct {
	ctx  context.Context
	fn   func(tx *Tx) error
	done func(err error) // told the request's outcome in the committer, before res
	res  chan error
}

type committer struct {
	s     *DB
	reqs  chan groupReq
	done  chan struct{}
	stats groupCounters
}

func newCommitter(s *DB) *committer {
	c := &committer{s: s, reqs: make(chan groupReq, maxGroup), done: make(chan struct{})}
	go c.run()
	return c
}

func (c *committer) stop() {
	close(c.reqs)
	<-c.done
}

// Group runs fn in a transaction shared with concurrent callers and returns
// after that transaction commits. fn's writes are atomic on their own: if
// fn fails they are rolled back and the others still commit. The audit
// records pending in ctx's Journal are appended inside fn's savepoint.
func (s *DB) Group(ctx context.Context, fn func(tx *Tx) error) error {
	j := JournalFrom(ctx)
	var b batch
	r := groupReq{ctx: ctx, res: make(chan error, 1),
		fn: func(tx *Tx) error {
			if err := fn(tx); err != nil {
				return err
			}
			b = j.take()
			return appendBatch(ctx, tx, &b)
		},
		// The journal learns the outcome even when the caller has stopped
		// waiting, so a committed record is never written twice.
		done: func(err error) { j.settle(b, err) },
	}
	select {
	case s.group.reqs <- r:
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once queued, the answer is the commit's: returning early on a
	// cancelled ctx would report a failure for a write that may still
	// commit, and a caller that then undoes its token change (destroys the
	// key it generated) would leave a row pointing at nothing. fn's own
	// statements honour ctx, and a commit takes one fsync.
	return <-r.res
}

func (c *committer) run() {
	defer close(c.done)
	for first := range c.reqs {
		batch := []groupReq{first}
	drain:
		for len(batch) < maxGroup {
			select {
			case r, ok := <-c.reqs:
				if !ok {
					break drain
				}
				batch = append(batch, r)
			default:
				break drain
			}
		}
		c.commit(batch)
	}
}

func (c *committer) commit(batch []groupReq) {
	start, commitAt := time.Now(), time.Time{}
	defer func() { c.stats.record(len(batch), start, commitAt) }()
	fail := func(err error) {
		for _, r := range batch {
			r.done(err)
			r.res <- err
		}
	}
	sqlTx, err := c.s.begin(context.Background())
	if err != nil {
		fail(fmt.Errorf("store: begin group: %w", err))
		return
	}
	tx := c.s.newTx(sqlTx)
	if len(batch) == 1 {
		// Alone in its transaction, a write needs no savepoint: if it
		// fails, the whole transaction rolls back. A statement fewer
		// (SAVEPOINT: a round trip on PostgreSQL) for every write that
		// finds no company, the common case at low load.
		r := batch[0]
		if err := r.fn(tx); err != nil {
			_ = sqlTx.Rollback()
			r.done(err)
			r.res <- err
			return
		}
		commitAt = time.Now()
		if err := sqlTx.Commit(); err != nil {
			fail(fmt.Errorf("store: commit group: %w", mapErr(err)))
			return
		}
		tx.committed()
		r.done(nil)
		r.res <- nil
		return
	}
	errs := make([]error, len(batch))
	for i, r := range batch {
		// One statement, one round trip on PostgreSQL, ends the previous
		// write's savepoint and opens this one's; the last is ended by
		// COMMIT, which releases every savepoint (both dialects), and a
		// savepoint rolled back to stays open until released.
		open := `SAVEPOINT w`
		if i > 0 {
			open = `RELEASE w; SAVEPOINT w`
		}
		if _, err := sqlTx.Exec(open); err != nil {
			_ = sqlTx.Rollback()
			fail(fmt.Errorf("store: savepoint: %w", err))
			return
		}
		if errs[i] = r.fn(tx); errs[i] != nil {
			tx.forgetAuditHead()
			if _, err := sqlTx.Exec(`ROLLBACK TO w`); err != nil {
				_ = sqlTx.Rollback()
				fail(fmt.Errorf("store: rollback to savepoint: %w", err))
				return
			}
		}
	}
	commitAt = time.Now()
	if err := sqlTx.Commit(); err != nil {
		fail(fmt.Errorf("store: commit group: %w", mapErr(err)))
		return
	}
	tx.committed()
	for i, r := range batch {
		r.done(errs[i])
		r.res <- errs[i]
	}
}
