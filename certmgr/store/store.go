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

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

var (
	// ErrNotFound: no row matched (including a row of another account).
	ErrNotFound = errors.New("store: not found")
	// ErrConflict: a unique constraint or a compare-and-set failed.
	ErrConflict = errors.New("store: conflict")
)

// DB is the store, on SQLite (the embedded default) or PostgreSQL (several
// nodes). It is safe for concurrent use.
type DB struct {
	queries
	db *sql.DB
	// reads runs snapshot reads: for SQLite a pool of its own whose
	// transactions begin DEFERRED (db's begin IMMEDIATE and would queue
	// behind writers); for PostgreSQL db itself.
	reads  *sql.DB
	d      dialect
	group  *committer
	lastGC atomicTime // when this process last pruned expired nonces
	// lastTokenGC: when it last pruned expired ClientToken claims.
	lastTokenGC atomicTime
	signing     atomic.Pointer[auditSigning] // set by SignAuditEvery
	// noMigrate: a schema behind this binary is an error, not migrated.
	noMigrate bool
	// migrateTo, when set, stops migrating at that version (tests build
	// a database of an older schema with it).
	migrateTo int
	// chain is the audit hash chain this store appends to: "" for the one
	// node of the embedded default, a node's own name in a cluster.
	chain string
	tip   *chainTip // the chain's head as this process's last commit left it
}

// WithAuditChain makes the store append its audit records to a chain of
// its own: each node of a cluster has one, so nodes never wait for each
// other to append, and verification walks every chain.
func WithAuditChain(name string) Option { return func(s *DB) { s.chain = name } }

// Option changes how a database is opened.
type Option func(*DB)

// WithoutMigrations opens a database without migrating it: a schema
// behind the binary is ErrSchemaBehind. Nodes of a cluster can start this
// way so that only "certcustody migrate" changes the schema.
func WithoutMigrations() Option { return func(s *DB) { s.noMigrate = true } }

// Open opens (creating if needed) the SQLite database at path and applies
// pending migrations. A response is only sent after its row is committed,
// so synchronous=FULL: a committed row survives power loss.
func Open(ctx context.Context, path string, opts ...Option) (*DB, error) {
	dsn := func(txlock string) string {
		q := url.Values{}
		q.Set("_journal_mode", "WAL")
		q.Set("_synchronous", "FULL")
		q.Set("_foreign_keys", "on")
		q.Set("_busy_timeout", "10000")
		q.Set("_txlock", txlock)
		// Each connection keeps its prepared statements: the queries are a
		// fixed set, and preparing one costs more than running it.
		q.Set("_stmt_cache_size", "128")
		return "file:" + path + "?" + q.Encode()
	}
	db, err := sql.Open(sqliteDriver, dsn("immediate")) // writers queue at BEGIN instead of failing at COMMIT
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	// Keep the connections open between requests: database/sql keeps two
	// idle by default, so every burst of concurrent reads opened (and
	// closed) SQLite connections and re-prepared their statements.
	// Open connections stay unbounded as before: a writer waiting at BEGIN
	// IMMEDIATE holds one, and a cap could starve the reads of the writer
	// it waits for.
	db.SetMaxIdleConns(sqliteIdleConns)
	reads, err := sql.Open(sqliteDriver, dsn("deferred")) // a read transaction takes no write lock
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	reads.SetMaxIdleConns(sqliteSnapshotIdleConns)
	return open(ctx, db, reads, sqliteDialect, opts)
}

// OpenURL opens the database a URL names: postgres:// or postgresql://
// for PostgreSQL (through pgx), anything else as a SQLite file path.
func OpenURL(ctx context.Context, url string, opts ...Option) (*DB, error) {
	if !IsPostgresURL(url) {
		return Open(ctx, url, opts...)
	}
	db, err := sql.Open("pgx", url)
	if err != nil {
		return nil, fmt.Errorf("store: open PostgreSQL: %w", err)
	}
	// Several nodes share the server's connections; each keeps a few.
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(16)
	return open(ctx, db, db, postgresDialect, opts)
}

// sqliteIdleConns is how many SQLite connections stay open between
// requests: WAL readers run side by side and each API call reads a few
// rows, so about as many as the concurrent requests of a busy node.
const sqliteIdleConns = 32

// sqliteSnapshotIdleConns is how many connections of the snapshot pool
// (the page-number listings) stay open between requests.
const sqliteSnapshotIdleConns = 8

// IsPostgresURL reports whether a database URL names PostgreSQL.
func IsPostgresURL(url string) bool {
	return strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://")
}

func open(ctx context.Context, db, reads *sql.DB, d dialect, opts []Option) (*DB, error) {
	s := &DB{db: db, reads: reads, d: d, queries: queries{e: rebinder{db, d}}, tip: newChainTip()}
	for _, o := range opts {
		o(s)
	}
	s.group = newCommitter(s)
	if err := s.migrate(ctx); err != nil {
		s.group.stop()
		s.closeDBs()
		return nil, err
	}
	return s, nil
}

func (s *DB) closeDBs() error {
	err := s.db.Close()
	if s.reads != s.db {
		err = errors.Join(err, s.reads.Close())
	}
	return err
}

// Backend names the database: "sqlite" or "postgres".
func (s *DB) Backend() string { return s.d.String() }

// Close stops the group committer and closes the database.
func (s *DB) Close() error {
	s.group.stop()
	return s.closeDBs()
}

// snapshot runs fn's reads in one read-only transaction, so that they
// all see one committed state: a page and the counts that locate it
// agree even while writers commit.
func (s *DB) snapshot(ctx context.Context, fn func(q queries) error) error {
	opts := &sql.TxOptions{ReadOnly: true}
	if s.d == postgresDialect {
		opts.Isolation = sql.LevelRepeatableRead
	} else {
		opts = nil // the driver's BEGIN (DEFERRED on reads) is a snapshot from the first read
	}
	tx, err := s.reads.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("store: begin read: %w", err)
	}
	defer tx.Rollback()
	return fn(queries{e: rebinder{tx, s.d}})
}

// Ping checks that the database answers (for /readyz).
func (s *DB) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// Tx runs fn in one transaction: committed when fn returns nil, rolled back
// otherwise. certmgr uses it to make a token change and its row atomic. The
// audit records pending in ctx's Journal are appended before the commit.
func (s *DB) Tx(ctx context.Context, fn func(tx *Tx) error) error {
	sqlTx, err := s.begin(ctx)
	if err != nil {
		return err
	}
	tx := s.newTx(sqlTx)
	if err := fn(tx); err != nil {
		_ = sqlTx.Rollback()
		return err
	}
	j := JournalFrom(ctx)
	b := j.take()
	if err := appendBatch(ctx, tx, &b); err != nil {
		_ = sqlTx.Rollback()
		j.settle(b, err)
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		err = fmt.Errorf("store: commit: %w", mapErr(err))
		j.settle(b, err)
		return err
	}
	tx.committed()
	j.settle(b, nil)
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
	chain   string        // the audit chain its records join
	// head and lastCheckpoint remember the chain's head and last signed
	// sequence within the transaction (nil: not read yet).
	head           *ChainHead
	lastCheckpoint *int64
	// tip is what this process's commits left at the chain's head
	// (audit_append.go); tipTried and checkpointTried: already consulted.
	tip                       *chainTip
	tipTried, checkpointTried bool
	lastGC                    *atomicTime // when this process last pruned expired nonces
	lastTokenGC               *atomicTime // and expired ClientToken claims
}

func (s *DB) newTx(sqlTx *sql.Tx) *Tx {
	r := rebinder{sqlTx, s.d}
	return &Tx{tx: sqlTx, queries: queries{e: r}, writers: writers{x: r, d: s.d, shard: s.chain}, signing: s.signing.Load(), chain: s.chain, tip: s.tip, lastGC: &s.lastGC, lastTokenGC: &s.lastTokenGC}
}

// The advisory lock every PostgreSQL write transaction takes first is its
// audit chain's: the writers of one chain (one node) take turns, as
// SQLite's BEGIN IMMEDIATE makes them, so reading the chain's head and
// appending after it cannot fork it; other nodes' writers do not wait.

// begin starts a write transaction holding the store's write lock.
func (s *DB) begin(ctx context.Context) (*sql.Tx, error) {
	sqlTx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("store: begin: %w", err)
	}
	if s.d == postgresDialect {
		if _, err := sqlTx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey("chain", s.chain)); err != nil {
			_ = sqlTx.Rollback()
			return nil, fmt.Errorf("store: write lock: %w", err)
		}
	}
	return sqlTx, nil
}

// queries holds the read statements; DB runs them on their own, Tx inside
// the transaction.
type queries struct {
	e execer
}

// writers holds the statements that change rows; only a Tx has them.
type writers struct {
	x execer
	d dialect
	// shard names this writer's rows of the per-node counters
	// (ca_issued_counts): its audit chain, one per node.
	shard string
}

// execer is what both *sql.DB and *sql.Tx offer.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
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
