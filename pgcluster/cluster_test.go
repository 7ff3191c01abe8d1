package pgcluster_test

import (
	"database/sql"
	"testing"

	"github.com/certcustody/certcustody/pgcluster/pgclustertest"
)

// TestClusterServesTwoDatabases: a cluster starts (as nobody when run as
// root), gives each test a database of its own, and answers SQL on both.
func TestClusterServesTwoDatabases(t *testing.T) {
	c, stop := pgclustertest.Start()
	defer stop()
	a, b := pgclustertest.Database(t, c), pgclustertest.Database(t, c)
	if a == b {
		t.Fatal("two tests got one database")
	}
	for _, url := range []string{a, b} {
		db, err := sql.Open("pgx", url)
		if err != nil {
			t.Fatal(err)
		}
		var v string
		if err := db.QueryRowContext(t.Context(), `SHOW server_version`).Scan(&v); err != nil || v == "" {
			t.Fatalf("%s: %q %v", url, v, err)
		}
		if _, err := db.ExecContext(t.Context(), `CREATE TABLE t (x int)`); err != nil {
			t.Fatal(err)
		}
		db.Close()
	}
}
