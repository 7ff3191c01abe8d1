package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"
)

var (
	// ErrNotFound: no row matched (including a row of another account).
	ErrNotFound = errors.New("store: not found")
	// ErrConflict: a unique constraint or a compare-and-set failed.
	ErrConflict = errors.New("store: conflict")
)

// DB is the SQLite store. It is safe for concurrent use.
type DB struct {
	queries
	db      *sql.DB
	group   *committer
	lastGC  atomicTime
	signing atomic.Pointer[auditSigning] // set by SignAuditEvery
}

// Open opens (creating if needed) the SQLite database at path and applies
// pending migrations. A response is only sent after its row is committed,
// so synchronous=FULL: a committed row survives power loss.
func Open(ctx context.Context, path string) (*DB, error) {
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "FULL")
	q.Set("_foreign_keys", "on")
	q.Set("_busy_timeout", "10000")
	q.Set("_txlock", "immediate") // writers queue at BEGIN instead of failing at COMMIT
	db, err := sql.Open("sqlite3", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	s := &DB{db: db, queries: queries{e: db}}
	s.group = newCommitter(db, &s.signing)
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Close stops the group committer and closes the database.
func (s *DB) Close() error {
	s.group.stop()
	return s.db.Close()
}

// Ping checks that the database answers (for /readyz).
func (s *DB) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// Tx runs fn in one transaction: committed when fn returns nil, rolled back
// otherwise. certmgr uses it to make a token change and its row atomic. The
// audit records pending in ctx's Journal are appended before the commit.
func (s *DB) Tx(ctx context.Context, fn func(tx *Tx) error) error {
	sqlTx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	tx := newTx(sqlTx, s.signing.Load())
	if err := fn(tx); err != nil {
		_ = sqlTx.Rollback()
		return err
	}
	j := JournalFrom(ctx)
	b := j.take()
	if err := appendBatch(ctx, tx, &b); err != nil {
		_ = sqlTx.Rollback()
		j.settle(b, false)
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		j.settle(b, false)
		return fmt.Errorf("store: commit: %w", mapErr(err))
	}
	j.settle(b, true)
	return nil
}

// Tx is an open transaction: it runs both the readers and the writers.
// Writers exist only here, so every change goes through Tx or Group and
// carries its audit records.
type Tx struct {
	queries
	writers
	tx      *sql.Tx
	signing *auditSigning // nil: no checkpoints signed by the writer
}

func newTx(sqlTx *sql.Tx, signing *auditSigning) *Tx {
	return &Tx{tx: sqlTx, queries: queries{e: sqlTx}, writers: writers{x: sqlTx}, signing: signing}
}

// queries holds the read statements; DB runs them on their own, Tx inside
// the transaction.
type queries struct {
	e execer
}

// writers holds the statements that change rows; only a Tx has them.
type writers struct {
	x execer
}

// execer is what both *sql.DB and *sql.Tx offer.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func mapErr(err error) error {
	var se sqlite3.Error
	if errors.As(err, &se) && se.Code == sqlite3.ErrConstraint {
		return fmt.Errorf("%w: %v", ErrConflict, err)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

func nullMS(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMilli()
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func joinList(l []string) string { return strings.Join(l, "\n") }

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}
