// Package pgclustertest gives test packages one throwaway PostgreSQL
// cluster and a fresh database per test. It lives apart from pgcluster so
// that nothing outside tests links the testing package.
package pgclustertest

import (
	"fmt"
	"os"
	"testing"

	"github.com/certcustody/certcustody/pgcluster"
)

// Start starts a cluster for a test package; call it from TestMain. On
// failure (PostgreSQL missing) it prints the install hint and exits
// non-zero: a missing real database is a failure, never a skip.
func Start() (*pgcluster.Cluster, func()) {
	c, err := pgcluster.Start("")
	if err != nil {
		fmt.Fprintf(os.Stderr, "%v\n%s\n", err, pgcluster.InstallHint)
		os.Exit(1)
	}
	return c, func() {
		if err := c.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}
}

// Database creates a database for one test and returns its URL.
func Database(t testing.TB, c *pgcluster.Cluster) string {
	t.Helper()
	url, err := c.CreateDatabase(t.Context(), t.Name())
	if err != nil {
		t.Fatalf("%v (%s)", err, pgcluster.InstallHint)
	}
	return url
}
