package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5/pgconn"
	sqlite3 "github.com/mattn/go-sqlite3"
)

// dialect is the SQL a backend speaks. Statements are written once, in the
// subset both SQLite and PostgreSQL accept, with '?' placeholders; for
// PostgreSQL they are rewritten to $1, $2, ... once and cached.
type dialect int

const (
	sqliteDialect dialect = iota
	postgresDialect
)

// String names the backend.
func (d dialect) String() string {
	if d == postgresDialect {
		return "postgres"
	}
	return "sqlite"
}

var rebound sync.Map // '?' statement → PostgreSQL statement

// rebind rewrites '?' placeholders for PostgreSQL. Our statements carry no
// '?' inside literals, so every '?' is a placeholder.
func (d dialect) rebind(q string) string {
	if d != postgresDialect || !strings.Contains(q, "?") {
		return q
	}
	if v, ok := rebound.Load(q); ok {
		return v.(string)
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	out := b.String()
	rebound.Store(q, out)
	return out
}

// rebinder runs statements on a database or transaction in its dialect.
type rebinder struct {
	x execer
	d dialect
}

// ctx is the context a statement runs under. A SQLite statement runs to
// its end whatever becomes of the caller: it is a bounded in-process call
// (a page, a row, a batch's insert), and interrupting one inside a group
// commit only turns a write that the batch's commit is about to make
// durable into a failure (its savepoint rolls back). Not watching for cancellation also spares go-sqlite3 a goroutine and
// two channel handoffs per statement (5 µs instead of 9 for an insert).
// A PostgreSQL statement can wait on a lock or the network, so it keeps
// the caller's deadline and cancellation.
func (r rebinder) ctx(ctx context.Context) context.Context {
	if r.d == sqliteDialect {
		return context.WithoutCancel(ctx)
	}
	return ctx
}

func (r rebinder) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return r.x.ExecContext(r.ctx(ctx), r.d.rebind(q), args...)
}

func (r rebinder) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return r.x.QueryContext(r.ctx(ctx), r.d.rebind(q), args...)
}

func (r rebinder) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return r.x.QueryRowContext(r.ctx(ctx), r.d.rebind(q), args...)
}

// mapErr turns a driver's constraint violation into ErrConflict and "no
// rows" into ErrNotFound, for either backend.
func mapErr(err error) error {
	var se sqlite3.Error
	if errors.As(err, &se) && se.Code == sqlite3.ErrConstraint {
		return fmt.Errorf("%w: %v", ErrConflict, err)
	}
	var pe *pgconn.PgError
	// 23xxx: integrity constraint violations (unique, foreign key, check).
	if errors.As(err, &pe) && strings.HasPrefix(pe.Code, "23") {
		return fmt.Errorf("%w: %v", ErrConflict, err)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

// violates reports whether err is PostgreSQL refusing a write for the
// named constraint. PostgreSQL aborts the transaction with the failed
// statement, so the constraint must be read from the error, not asked of
// the data afterwards. (SQLite's errors name no constraint: false.)
func violates(err error, constraint string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.ConstraintName == constraint
}

var (
	pgInteger    = regexp.MustCompile(`\bINTEGER\b`)
	pgBlob       = regexp.MustCompile(`\bBLOB\b`)
	pgWithoutRow = regexp.MustCompile(`\)\s*WITHOUT ROWID`)
)

// postgresDDL is a migration in PostgreSQL's words: the schema is the
// same, but SQLite's INTEGER (64-bit) is BIGINT there, BLOB is BYTEA, and
// WITHOUT ROWID has no meaning.
func postgresDDL(sqliteDDL string) string {
	s := pgInteger.ReplaceAllString(sqliteDDL, "BIGINT")
	s = pgBlob.ReplaceAllString(s, "BYTEA")
	return pgWithoutRow.ReplaceAllString(s, ")")
}

// dialectOf is the dialect a statement runner speaks: writers that differ
// by backend (a lock, SKIP LOCKED) ask it.
func dialectOf(e execer) dialect {
	if r, ok := e.(rebinder); ok {
		return r.d
	}
	return sqliteDialect
}
