package store

import (
	"database/sql"

	sqlite3 "github.com/mattn/go-sqlite3"
)

// sqliteDriver is mattn's SQLite driver with the connection settings its
// DSN cannot carry.
const sqliteDriver = "certcustody-sqlite3"

func init() {
	sql.Register(sqliteDriver, &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		// Keep statement journals in memory. Each write of a group commit
		// runs in its own SAVEPOINT, and SQLite saves every page a write
		// touches first to the savepoint's journal so that ROLLBACK TO can
		// restore it: in a temporary file by default, a pwrite per page on
		// the committer's path, about a dozen per issued certificate. The
		// journal only serves a rollback inside a transaction that has
		// not committed (a crash discards that transaction through the
		// WAL anyway), and it is emptied when the last savepoint is
		// released, so it holds one write's pages at a time.
		_, err := c.Exec("PRAGMA temp_store = MEMORY", nil)
		return err
	}})
}
