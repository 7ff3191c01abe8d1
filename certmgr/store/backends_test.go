package store

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certcustody/certcustody/pgcluster"
	"github.com/certcustody/certcustody/pgcluster/pgclustertest"
)

// cluster is this package's throwaway PostgreSQL; every test of the store
// suite runs on SQLite and on it.
var cluster *pgcluster.Cluster

func TestMain(m *testing.M) {
	c, stop := pgclustertest.Start()
	cluster = c
	code := m.Run()
	stop()
	os.Exit(code)
}

// backends are the store's two backends, by subtest name.
var backends = []string{"sqlite", "postgres"}

// eachBackend runs a test of the store suite once per backend, as the
// subtests "sqlite" and "postgres"; openTest and testURL see which.
func eachBackend(t *testing.T, test func(t *testing.T)) {
	for _, b := range backends {
		t.Run(b, test)
	}
}

func backendOf(t *testing.T) string {
	if strings.Contains(t.Name(), "/postgres") {
		return "postgres"
	}
	return "sqlite"
}

// testURL is a fresh, empty database of the test's backend.
func testURL(t *testing.T) string {
	t.Helper()
	if backendOf(t) == "postgres" {
		return pgclustertest.Database(t, cluster)
	}
	return filepath.Join(t.TempDir(), "test.db")
}

func openTest(t *testing.T) *DB {
	t.Helper()
	db, err := OpenURL(context.Background(), testURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if db.Backend() != backendOf(t) {
		t.Fatalf("opened %s, want %s", db.Backend(), backendOf(t))
	}
	return db
}

// refuseAuditSQL makes every audit insert fail, and allowAuditSQL undoes
// it: a real database refusing a write, in each backend's words.
func refuseAuditSQL(db *DB) []string {
	if db.d == postgresDialect {
		return []string{`CREATE FUNCTION refuse_audit() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'audit refused'; END $$ LANGUAGE plpgsql`,
			`CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION refuse_audit()`}
	}
	return []string{`CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'audit refused'); END`}
}

func allowAuditSQL(db *DB) []string {
	if db.d == postgresDialect {
		return []string{`DROP TRIGGER refuse_audit ON audit_log`, `DROP FUNCTION refuse_audit()`}
	}
	return []string{`DROP TRIGGER refuse_audit`}
}

// pgclustertestDatabase is a fresh PostgreSQL database whatever the test's
// backend, for tests that are about PostgreSQL itself.
func pgclustertestDatabase(t *testing.T) string {
	t.Helper()
	return pgclustertest.Database(t, cluster)
}
