package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"sort"
	"strings"
)

// Moving an embedded install up to PostgreSQL ("certcustody store copy").
//
// The copy knows no table by name: it reads the tables, their columns and
// their foreign keys from the source's sqlite_master, so a migration that
// adds a table or a column needs no change here. The source is read in one
// read transaction (one snapshot, even if a server were still writing) and
// streamed in batches, so memory stays flat however many rows there are.
// Everything is written in one PostgreSQL transaction and checked inside
// it (row counts, then the caller's check, e.g. the audit chain) before it
// commits: a copy that fails anywhere leaves no row behind. The one change
// a failed copy can leave is the migrations that brought an empty target
// to this binary's schema, which is a state copy accepts again.

var (
	// ErrCopySource: the copy's source is not a SQLite database at this
	// binary's schema version.
	ErrCopySource = errors.New("store copy: source")
	// ErrCopyTarget: the copy's target is not an empty PostgreSQL
	// database.
	ErrCopyTarget = errors.New("store copy: target")
)

// CopyOptions are the optional parts of a copy.
type CopyOptions struct {
	// Check runs inside the copy's transaction once every row is written
	// and counted; it reads the target as it will be committed. An error
	// rolls the whole copy back.
	Check func(ctx context.Context, target *Tx) error
	// Progress, when set, is told a table's rows so far every
	// copyProgressEvery rows, and its total (done) when it is copied.
	Progress func(table string, rows int64, done bool)
}

// CopyReport is what a committed copy brought over.
type CopyReport struct {
	SchemaVersion int
	// Tables in the order they were copied: parents before children.
	Tables []CopiedTable
}

// CopiedTable is one table of a copy and its row count, the same in the
// source and the target.
type CopiedTable struct {
	Name string
	Rows int64
}

// copyBatchRows and copyBatchBytes bound one INSERT: whichever is reached
// first sends the batch, so a table of large rows (a CRL of a million
// revocations is tens of megabytes) does not pile up either. Variables so
// that a test can make batches of a few rows.
var (
	copyBatchRows  = 500
	copyBatchBytes = 4 << 20
)

const (
	// copyMaxParams is PostgreSQL's limit on one statement's parameters.
	copyMaxParams     = 65535
	copyProgressEvery = 100_000
)

// Copy copies every table of the SQLite database at fromPath (a stopped
// embedded install) into the empty PostgreSQL database toURL. It refuses,
// changing nothing, a source that is not a SQLite file at this binary's
// schema version (behind: run this binary's migrate on it; ahead: use the
// binary that last served it) and a target with rows in any table of
// ours. It migrates the target itself, then copies in one transaction
// holding the store's write lock and locks on every table, checks that
// each table holds exactly the source's rows, runs opts.Check, and
// commits; any failure rolls the copy back.
func Copy(ctx context.Context, fromPath, toURL string, opts CopyOptions) (*CopyReport, error) {
	if !IsPostgresURL(toURL) {
		return nil, fmt.Errorf("%w: %s is not a PostgreSQL URL (postgres://... or postgresql://...)", ErrCopyTarget, RedactURL(toURL))
	}
	src, err := openCopySource(fromPath)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	// One deferred read transaction: its first SELECT fixes the snapshot
	// every later read of every table sees.
	snap, err := src.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %s is not a SQLite database we can read: %w", ErrCopySource, fromPath, err)
	}
	defer snap.Rollback()
	v, err := copySourceVersion(ctx, snap, fromPath)
	if err != nil {
		return nil, err
	}
	tables, err := sqliteTables(ctx, snap)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: read schema: %w", ErrCopySource, fromPath, err)
	}
	// Refuse a non-empty target before migrating it: a refusal changes
	// nothing.
	if err := checkTargetBeforeMigrating(ctx, toURL, tables); err != nil {
		return nil, err
	}
	dst, err := OpenURL(ctx, toURL)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrCopyTarget, RedactURL(toURL), err)
	}
	defer dst.Close()
	rep := &CopyReport{SchemaVersion: v}
	if err := dst.copyIn(ctx, snap, tables, opts, rep); err != nil {
		return nil, err
	}
	return rep, nil
}

// openCopySource opens a SQLite file read-only; a missing path is an
// error, never a new empty database.
func openCopySource(path string) (*sql.DB, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCopySource, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a SQLite database file", ErrCopySource, path)
	}
	q := url.Values{}
	q.Set("mode", "ro")
	q.Set("_busy_timeout", "10000")
	q.Set("_txlock", "deferred")
	// In a file: URI these three would end the path.
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	db, err := sql.Open("sqlite3", "file:"+esc+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("%w: open %s: %w", ErrCopySource, path, err)
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// copySourceVersion returns the source's schema version, which must be
// this binary's: the copy neither migrates its source nor writes a target
// at another version than its own.
func copySourceVersion(ctx context.Context, snap *sql.Tx, path string) (int, error) {
	var n int
	if err := snap.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&n); err != nil {
		return 0, fmt.Errorf("%w: %s is not a SQLite database we can read: %w", ErrCopySource, path, err)
	}
	v := 0
	if n > 0 {
		if err := snap.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
			return 0, fmt.Errorf("%w: %s: read schema version: %w", ErrCopySource, path, err)
		}
	}
	switch want := len(migrations); {
	case v == 0:
		return 0, fmt.Errorf("%w: %s is not a certcustody database (no schema version)", ErrCopySource, path)
	case v < want:
		return 0, fmt.Errorf("%w: %s is at schema version %d, behind this binary's %d: run this binary's `certcustody migrate` on its data directory (or start `certcustody serve` on it once), then copy again",
			ErrCopySource, path, v, want)
	case v > want:
		return 0, fmt.Errorf("%w: %s is at schema version %d, newer than this binary's %d: copy with the binary that last served it",
			ErrCopySource, path, v, want)
	}
	return v, nil
}

// copyTable is one source table: what to select and in which order.
type copyTable struct {
	name    string
	cols    []string
	parents []string // tables it references, other than itself
	self    *selfRef // non-nil: it references itself
}

// selfRef is a one-column reference of a table to itself (a CA's parent):
// rows are copied parents first, as the target checks each reference as
// the row arrives.
type selfRef struct{ from, to string }

// sqliteTables lists the source's tables (not SQLite's own nor
// schema_migrations: the target keeps its own record of migrations) with
// their columns, parents before children.
func sqliteTables(ctx context.Context, snap *sql.Tx) ([]copyTable, error) {
	names, err := queryStrings(ctx, snap, `SELECT name FROM sqlite_master WHERE type = 'table'
		AND name NOT LIKE 'sqlite\_%' ESCAPE '\' AND name <> 'schema_migrations' ORDER BY name`)
	if err != nil {
		return nil, err
	}
	tables := make([]copyTable, 0, len(names))
	for _, name := range names {
		t := copyTable{name: name}
		var pk []string
		rows, err := snap.QueryContext(ctx, `SELECT name, pk FROM pragma_table_info(?) ORDER BY cid`, name)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var col string
			var pkPos int
			if err := rows.Scan(&col, &pkPos); err != nil {
				rows.Close()
				return nil, err
			}
			t.cols = append(t.cols, col)
			if pkPos > 0 {
				pk = append(pk, col)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		if err := t.readForeignKeys(ctx, snap, pk); err != nil {
			return nil, err
		}
		tables = append(tables, t)
	}
	return fkOrder(tables)
}

// readForeignKeys fills in the tables t references and its reference to
// itself, if any.
func (t *copyTable) readForeignKeys(ctx context.Context, snap *sql.Tx, pk []string) error {
	rows, err := snap.QueryContext(ctx, `SELECT id, "table", "from", COALESCE("to", '') FROM pragma_foreign_key_list(?) ORDER BY id, seq`, t.name)
	if err != nil {
		return err
	}
	defer rows.Close()
	selfCols := map[int][]selfRef{}
	seen := map[string]bool{}
	for rows.Next() {
		var id int
		var parent, from, to string
		if err := rows.Scan(&id, &parent, &from, &to); err != nil {
			return err
		}
		if parent != t.name {
			if !seen[parent] {
				seen[parent] = true
				t.parents = append(t.parents, parent)
			}
			continue
		}
		if to == "" && len(pk) == 1 { // REFERENCES t: its primary key
			to = pk[0]
		}
		selfCols[id] = append(selfCols[id], selfRef{from: from, to: to})
	}
	if err := rows.Err(); err != nil {
		return err
	}
	switch {
	case len(selfCols) > 1:
		return fmt.Errorf("%w: table %s references itself more than once; store copy orders rows by one such reference", ErrCopySource, t.name)
	case len(selfCols) == 1:
		for _, refs := range selfCols {
			if len(refs) != 1 || refs[0].to == "" {
				return fmt.Errorf("%w: table %s references itself with several columns; store copy orders rows by a one-column reference", ErrCopySource, t.name)
			}
			t.self = &refs[0]
		}
	}
	return nil
}

// fkOrder puts every table after the tables it references (the target
// checks each reference as its row arrives), by name where the keys leave
// a choice, so the order is the same on every run. References to tables
// the copy does not write are not ordering constraints.
func fkOrder(tables []copyTable) ([]copyTable, error) {
	known := map[string]bool{}
	for _, t := range tables {
		known[t.name] = true
	}
	placed := map[string]bool{}
	out := make([]copyTable, 0, len(tables))
	ready := func(t copyTable) bool {
		for _, p := range t.parents {
			if known[p] && !placed[p] {
				return false
			}
		}
		return true
	}
	for len(out) < len(tables) {
		// Each time the first ready table by name: a child follows its
		// parent as soon as it can, which reads well in the summary.
		next := -1
		for i, t := range tables {
			if !placed[t.name] && ready(t) {
				next = i
				break
			}
		}
		if next >= 0 {
			out = append(out, tables[next])
			placed[tables[next].name] = true
			continue
		}
		var left []string
		for _, t := range tables {
			if !placed[t.name] {
				left = append(left, t.name)
			}
		}
		sort.Strings(left)
		return nil, fmt.Errorf("%w: tables %s reference each other in a cycle (or hang below one); store copy needs an order in which every parent comes first",
			ErrCopySource, strings.Join(left, ", "))
	}
	return out, nil
}

// selectSQL reads the table's rows, parents first when it references
// itself: the recursive query gives each row its depth below a root (a
// row whose reference is NULL). A row no root reaches (a cycle) comes
// last and the target's foreign key refuses it, naming the constraint.
func (t copyTable) selectSQL() string {
	cols := make([]string, len(t.cols))
	for i, c := range t.cols {
		cols[i] = "s." + quoteIdent(c)
	}
	sel := "SELECT " + strings.Join(cols, ", ") + " FROM " + quoteIdent(t.name) + " AS s"
	if t.self == nil {
		return sel
	}
	from, to, tbl := quoteIdent(t.self.from), quoteIdent(t.self.to), quoteIdent(t.name)
	return `WITH RECURSIVE copy_depth(k, depth) AS (
		SELECT ` + to + `, 0 FROM ` + tbl + ` WHERE ` + from + ` IS NULL
		UNION ALL
		SELECT c.` + to + `, d.depth + 1 FROM ` + tbl + ` AS c JOIN copy_depth AS d ON c.` + from + ` = d.k)
	` + sel + ` LEFT JOIN copy_depth AS d ON s.` + to + ` = d.k ORDER BY d.depth IS NULL, d.depth`
}

// checkTargetBeforeMigrating refuses a target with rows in a table of
// ours, reading only: it runs before the target is migrated.
func checkTargetBeforeMigrating(ctx context.Context, toURL string, tables []copyTable) error {
	db, err := sql.Open("pgx", toURL)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrCopyTarget, RedactURL(toURL), err)
	}
	defer db.Close()
	return checkTargetEmpty(ctx, db, RedactURL(toURL), tables)
}

// checkTargetEmpty refuses a target (named so, for errors) where any
// table the copy writes exists and holds a row. Tables that do not exist
// yet are what migrating creates; schema_migrations is not ours to fill.
func checkTargetEmpty(ctx context.Context, q execer, target string, tables []copyTable) error {
	existing, err := queryStrings(ctx, q, `SELECT tablename FROM pg_tables WHERE schemaname = current_schema()`)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrCopyTarget, target, err)
	}
	exists := map[string]bool{}
	for _, n := range existing {
		exists[n] = true
	}
	for _, t := range tables {
		if !exists[t.name] {
			continue
		}
		var has bool
		if err := q.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM `+quoteIdent(t.name)+`)`).Scan(&has); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrCopyTarget, target, err)
		}
		if has {
			return fmt.Errorf("%w: %s is not empty (table %s has rows); store copy fills only a new database or one migrated and never served",
				ErrCopyTarget, target, t.name)
		}
	}
	return nil
}

// targetColumn is a column of the target as PostgreSQL describes it.
type targetColumn struct {
	dataType string
	sequence string // the sequence its default draws from, if any
}

// copyIn runs the copy's transaction on the (migrated) target.
func (s *DB) copyIn(ctx context.Context, snap *sql.Tx, tables []copyTable, opts CopyOptions, rep *CopyReport) error {
	sqlTx, err := s.begin(ctx)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCopyTarget, err)
	}
	defer sqlTx.Rollback()
	tx := s.newTx(sqlTx)
	schemas := make([]map[string]targetColumn, len(tables))
	quoted := make([]string, len(tables))
	for i, t := range tables {
		if schemas[i], err = targetColumns(ctx, sqlTx, t); err != nil {
			return err
		}
		quoted[i] = quoteIdent(t.name)
	}
	// Nothing else writes these tables until the copy commits or rolls
	// back; the store's own writers also wait on the write lock begin took.
	if _, err := sqlTx.ExecContext(ctx, `LOCK TABLE `+strings.Join(quoted, ", ")+` IN EXCLUSIVE MODE`); err != nil {
		return fmt.Errorf("%w: lock tables: %w", ErrCopyTarget, err)
	}
	if err := checkTargetEmpty(ctx, sqlTx, "the target", tables); err != nil {
		return err
	}
	for i, t := range tables {
		n, err := copyRows(ctx, snap, sqlTx, t, schemas[i], opts.Progress)
		if err != nil {
			return fmt.Errorf("store copy: table %s: %w", t.name, err)
		}
		rep.Tables = append(rep.Tables, CopiedTable{Name: t.name, Rows: n})
	}
	if opts.Check != nil {
		if err := opts.Check(ctx, tx); err != nil {
			return err
		}
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("store copy: commit: %w", err)
	}
	return nil
}

// targetColumns describes the target table's columns, which must be the
// source's: both are at one schema version, so a difference means one of
// them was changed by hand, and copying would lose or invent data.
func targetColumns(ctx context.Context, q *sql.Tx, t copyTable) (map[string]targetColumn, error) {
	rows, err := q.QueryContext(ctx, `SELECT column_name, data_type, COALESCE(pg_get_serial_sequence($1, column_name), '')
		FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $2`, quoteIdent(t.name), t.name)
	if err != nil {
		return nil, fmt.Errorf("%w: describe table %s: %w", ErrCopyTarget, t.name, err)
	}
	defer rows.Close()
	cols := map[string]targetColumn{}
	for rows.Next() {
		var name string
		var c targetColumn
		if err := rows.Scan(&name, &c.dataType, &c.sequence); err != nil {
			return nil, fmt.Errorf("%w: describe table %s: %w", ErrCopyTarget, t.name, err)
		}
		cols[name] = c
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%w: describe table %s: %w", ErrCopyTarget, t.name, err)
	}
	if len(cols) == 0 {
		return nil, fmt.Errorf("%w: has no table %s although its schema version is the source's", ErrCopyTarget, t.name)
	}
	for _, c := range t.cols {
		if _, ok := cols[c]; !ok {
			return nil, fmt.Errorf("%w: table %s has no column %s although its schema version is the source's", ErrCopyTarget, t.name, c)
		}
	}
	if len(cols) != len(t.cols) {
		return nil, fmt.Errorf("%w: table %s has %d columns, the source's has %d, although their schema versions match", ErrCopyTarget, t.name, len(cols), len(t.cols))
	}
	return cols, nil
}

// copyRows streams one table from the source snapshot into the target in
// batched INSERTs and returns its row count, after checking that the
// source, the rows read and the target all agree on it.
func copyRows(ctx context.Context, snap, dst *sql.Tx, t copyTable, cols map[string]targetColumn, progress func(string, int64, bool)) (int64, error) {
	var want int64
	if err := snap.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+quoteIdent(t.name)).Scan(&want); err != nil {
		return 0, fmt.Errorf("count source rows: %w", err)
	}
	rows, err := snap.QueryContext(ctx, t.selectSQL())
	if err != nil {
		return 0, fmt.Errorf("read source rows: %w", err)
	}
	defer rows.Close()
	ncol := len(t.cols)
	types := make([]string, ncol)
	for i, c := range t.cols {
		types[i] = cols[c].dataType
	}
	perBatch := min(copyBatchRows, copyMaxParams/ncol)
	full := insertSQL(t, perBatch)
	vals, ptrs := make([]any, ncol), make([]any, ncol)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	args := make([]any, 0, perBatch*ncol)
	var n int64
	inBatch, size := 0, 0
	flush := func() error {
		if inBatch == 0 {
			return nil
		}
		q := full
		if inBatch != perBatch {
			q = insertSQL(t, inBatch)
		}
		if _, err := dst.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("insert: %w", err)
		}
		clear(args) // let the batch's values go
		args, inBatch, size = args[:0], 0, 0
		return nil
	}
	for rows.Next() {
		// *any receives the driver's value unconverted ([]byte copied),
		// so a BLOB stays []byte (BYTEA) and an INTEGER int64 (BIGINT).
		if err := rows.Scan(ptrs...); err != nil {
			return n, fmt.Errorf("read source row: %w", err)
		}
		for i, v := range vals {
			v = asTargetType(v, types[i])
			args = append(args, v)
			size += valueSize(v)
		}
		inBatch++
		n++
		if inBatch == perBatch || size >= copyBatchBytes {
			if err := flush(); err != nil {
				return n, err
			}
		}
		if progress != nil && n%copyProgressEvery == 0 {
			progress(t.name, n, false)
		}
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("read source rows: %w", err)
	}
	if err := flush(); err != nil {
		return n, err
	}
	var got int64
	if err := dst.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+quoteIdent(t.name)).Scan(&got); err != nil {
		return n, fmt.Errorf("count target rows: %w", err)
	}
	if n != want || got != want {
		return n, fmt.Errorf("the source has %d rows, %d were read and the target holds %d", want, n, got)
	}
	// A column that draws its default from a sequence continues after the
	// copied values, not from 1 (none does today; a later table may).
	for _, c := range t.cols {
		if seq := cols[c].sequence; seq != "" {
			if _, err := dst.ExecContext(ctx, `SELECT setval($1, COALESCE((SELECT MAX(`+quoteIdent(c)+`) FROM `+quoteIdent(t.name)+`), 0) + 1, false)`, seq); err != nil {
				return n, fmt.Errorf("advance sequence %s: %w", seq, err)
			}
		}
	}
	if progress != nil {
		progress(t.name, n, true)
	}
	return n, nil
}

// insertSQL inserts rows rows into t, in PostgreSQL's placeholders.
func insertSQL(t copyTable, rows int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO ")
	b.WriteString(quoteIdent(t.name))
	b.WriteString(" (")
	for i, c := range t.cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quoteIdent(c))
	}
	b.WriteString(") VALUES ")
	p := 0
	for r := range rows {
		if r > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for i := range t.cols {
			if i > 0 {
				b.WriteString(", ")
			}
			p++
			fmt.Fprintf(&b, "$%d", p)
		}
		b.WriteByte(')')
	}
	return b.String()
}

// asTargetType adjusts a value whose SQLite storage class differs from its
// column's declared type (SQLite keeps what it was given): text in a BYTEA
// column goes as its bytes, bytes in a TEXT column as text. Anything else
// passes as the driver read it.
func asTargetType(v any, dataType string) any {
	switch x := v.(type) {
	case string:
		if dataType == "bytea" {
			return []byte(x)
		}
	case []byte:
		if dataType == "text" || strings.HasPrefix(dataType, "character") {
			return string(x)
		}
	}
	return v
}

func valueSize(v any) int {
	switch x := v.(type) {
	case []byte:
		return len(x)
	case string:
		return len(x)
	}
	return 8
}

// quoteIdent quotes a table or column name for either dialect.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func queryStrings(ctx context.Context, q execer, query string) ([]string, error) {
	rows, err := q.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// RedactURL returns a database URL fit for a log or an error: a password,
// in the user part or as a parameter, is replaced by "xxxxx".
func RedactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(a database URL that does not parse)"
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}
