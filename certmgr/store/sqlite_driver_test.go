package store

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
)

// TestSQLiteConnectionSettings reads back, on connections of both SQLite
// pools, the settings durability and the group committer rely on: WAL,
// synchronous=FULL, foreign keys, and statement journals in memory.
func TestSQLiteConnectionSettings(t *testing.T) {
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "settings.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	want := map[string]string{"journal_mode": "wal", "synchronous": "2", "foreign_keys": "1", "temp_store": "2"}
	for name, pool := range map[string]*sql.DB{"writes": db.db, "reads": db.reads} {
		// Hold several connections at once so that more than one is read.
		var conns []*sql.Conn
		for range 3 {
			c, err := pool.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
		}
		for i, c := range conns {
			for pragma, v := range want {
				var got string
				if err := c.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil {
					t.Fatal(err)
				}
				if got != v {
					t.Errorf("%s pool, connection %d: %s = %s, want %s", name, i, pragma, got, v)
				}
			}
			c.Close()
		}
	}
}
