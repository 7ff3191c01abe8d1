package store

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// planOf is how the database runs q with args: SQLite's EXPLAIN QUERY PLAN
// details, or PostgreSQL's EXPLAIN ANALYZE (the query is run, so each
// node shows the rows it actually touched), one line per plan line.
func planOf(t *testing.T, db *DB, q string, args ...any) string {
	t.Helper()
	explain := `EXPLAIN QUERY PLAN `
	if db.d == postgresDialect {
		explain = `EXPLAIN (ANALYZE, COSTS OFF) `
	}
	rows, err := db.db.QueryContext(context.Background(), explain+db.d.rebind(q), args...)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(planLines(t, rows), "\n")
}

// planLines reads an EXPLAIN's rows: the last column of each, which is
// the whole line in PostgreSQL and the detail in SQLite.
func planLines(t *testing.T, rows *sql.Rows) []string {
	t.Helper()
	defer rows.Close()
	cols, _ := rows.Columns()
	var plan []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, fmt.Sprint(vals[len(vals)-1]))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return plan
}

var (
	actualRows  = regexp.MustCompile(`actual time=\S+ rows=(\d+) loops=(\d+)`)
	removedRows = regexp.MustCompile(`Rows Removed by (?:Filter|Index Recheck|Join Filter): (\d+)`)
)

// planMaxRows is the most rows any node of a PostgreSQL EXPLAIN ANALYZE
// plan touched: those it returned over all its loops, or those it read
// and then dropped by a filter (which "rows=" does not count).
func planMaxRows(plan string) int {
	most := 0
	for _, m := range actualRows.FindAllStringSubmatch(plan, -1) {
		n, _ := strconv.Atoi(m[1])
		loops, _ := strconv.Atoi(m[2])
		most = max(most, n*loops)
	}
	for _, m := range removedRows.FindAllStringSubmatch(plan, -1) {
		n, _ := strconv.Atoi(m[1])
		most = max(most, n)
	}
	return most
}
