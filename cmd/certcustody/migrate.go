package main

import (
	"path/filepath"

	"github.com/certcustody/certcustody/certmgr/store"
	"github.com/spf13/cobra"
)

// newMigrateCmd brings the database's schema up to this binary's version
// and prints it. serve does the same when the schema is behind, but a
// cluster's operator may run it once, explicitly, before starting nodes
// whose database role has no DDL rights.
func newMigrateCmd(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Apply pending database migrations (under a lock; nothing to do against a current schema)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := loadConfig(g)
			if err != nil {
				return err
			}
			url := c.Database.URL
			if url == "" {
				url = filepath.Join(g.dataDir, dbFileName)
			}
			db, err := store.OpenURL(cmd.Context(), url)
			if err != nil {
				return err
			}
			defer db.Close()
			v, err := db.SchemaVersion(cmd.Context())
			if err != nil {
				return err
			}
			return printJSON(map[string]any{"Backend": db.Backend(), "SchemaVersion": v})
		},
	}
}
