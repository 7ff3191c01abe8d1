package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Every authenticated request records its signature nonce, so nonce writes
// are the hottest writes in the system. With synchronous=FULL each commit
// costs an fsync; the batcher commits the nonces of concurrent requests
// together (group commit) and answers each request only after its row is
// committed.

const (
	maxNonceBatch = 256
	nonceGCEvery  = time.Minute
)

type nonceReq struct {
	accessKeyID, nonce string
	until, now         time.Time
	res                chan nonceRes
}

type nonceRes struct {
	fresh bool
	err   error
}

type nonceBatcher struct {
	db     *sql.DB
	reqs   chan nonceReq
	done   chan struct{}
	lastGC time.Time
}

func newNonceBatcher(db *sql.DB) *nonceBatcher {
	b := &nonceBatcher{db: db, reqs: make(chan nonceReq, maxNonceBatch), done: make(chan struct{})}
	go b.run()
	return b
}

func (b *nonceBatcher) stop() {
	close(b.reqs)
	<-b.done
}

// UseNonce records a nonce for an access key until the given time. It
// returns false when the nonce was already used and is still recorded.
func (s *DB) UseNonce(ctx context.Context, accessKeyID, nonce string, until, now time.Time) (bool, error) {
	r := nonceReq{accessKeyID: accessKeyID, nonce: nonce, until: until, now: now, res: make(chan nonceRes, 1)}
	select {
	case s.nonces.reqs <- r:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	select {
	case out := <-r.res:
		return out.fresh, out.err
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

func (b *nonceBatcher) run() {
	defer close(b.done)
	for first := range b.reqs {
		batch := []nonceReq{first}
	drain:
		for len(batch) < maxNonceBatch {
			select {
			case r, ok := <-b.reqs:
				if !ok {
					break drain
				}
				batch = append(batch, r)
			default:
				break drain
			}
		}
		fresh, err := b.commit(batch)
		for i, r := range batch {
			r.res <- nonceRes{fresh: err == nil && fresh[i], err: err}
		}
	}
}

// commit inserts a batch in one transaction; a nonce already present (or
// earlier in the same batch) is not fresh. Expired nonces are pruned at most
// once a minute.
func (b *nonceBatcher) commit(batch []nonceReq) ([]bool, error) {
	tx, err := b.db.Begin()
	if err != nil {
		return nil, fmt.Errorf("store: begin nonce batch: %w", err)
	}
	defer tx.Rollback()
	now := batch[0].now
	if now.Sub(b.lastGC) > nonceGCEvery {
		if _, err := tx.Exec(`DELETE FROM nonces WHERE expires_at < ?`, ms(now)); err != nil {
			return nil, fmt.Errorf("store: prune nonces: %w", err)
		}
	}
	fresh := make([]bool, len(batch))
	for i, r := range batch {
		// An expired row does not count: it is taken over as if pruned.
		res, err := tx.Exec(`INSERT INTO nonces (access_key_id, nonce, expires_at) VALUES (?,?,?)
			ON CONFLICT (access_key_id, nonce) DO UPDATE SET expires_at = excluded.expires_at WHERE nonces.expires_at < ?`,
			r.accessKeyID, r.nonce, ms(r.until), ms(r.now))
		if err != nil {
			return nil, fmt.Errorf("store: record nonce: %w", err)
		}
		n, _ := res.RowsAffected()
		fresh[i] = n == 1
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("store: commit nonces: %w", err)
	}
	if now.Sub(b.lastGC) > nonceGCEvery {
		b.lastGC = now
	}
	return fresh, nil
}
