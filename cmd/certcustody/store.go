package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/certcustody/certcustody/certmgr"
	"github.com/certcustody/certcustody/certmgr/store"
	"github.com/spf13/cobra"
)

func newStoreCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "store", Short: "Work with the database itself"}
	var from, to, keyFile string
	cp := &cobra.Command{
		Use:   "copy",
		Short: "Copy a stopped embedded install's SQLite database into an empty PostgreSQL database, and verify the copy",
		Long: `Copies every table of the SQLite database --from (default <data-dir>/` + dbFileName + `) into the
empty PostgreSQL database --to, in one transaction that commits only once every table holds the
source's row count and the audit chain verifies on the target with the pinned audit public key.
Stop the server first. The source must be at this binary's schema version; the target must have
no rows in any table of ours (it is migrated here). Keys stay in the token: point database.url at
the target and start serve with the same token.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if from == "" {
				from = filepath.Join(g.dataDir, dbFileName)
			}
			if keyFile == "" {
				keyFile = filepath.Join(g.dataDir, auditKeyFileName)
			}
			// Ctrl-C rolls the copy back instead of leaving it to the
			// server to notice the dropped connection.
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			sum, err := copyStore(ctx, from, to, keyFile)
			if err != nil {
				return err
			}
			return printJSON(sum)
		},
	}
	cp.Flags().StringVar(&from, "from", "", "the SQLite database to copy (default <data-dir>/"+dbFileName+")")
	cp.Flags().StringVar(&to, "to", "", "the PostgreSQL database to fill: postgres://user@host:port/dbname (required)")
	cp.Flags().StringVar(&keyFile, "public-key", "", "pinned audit public key (default <data-dir>/"+auditKeyFileName+")")
	_ = cp.MarkFlagRequired("to")
	cmd.AddCommand(cp)
	return cmd
}

// copySummary is what store copy prints: the tables in the order copied
// (parents first) with their rows, the same in source and target, and the
// audit log as verified on the target before the copy committed.
type copySummary struct {
	From          string
	To            string // the password, if any, redacted
	SchemaVersion int
	Tables        []copiedTable
	Rows          int64 // all tables
	Audit         copiedAudit
}

type copiedTable struct {
	Table string
	Rows  int64
}

type copiedAudit struct {
	Verified      bool
	Records       int64
	Checkpoints   int
	LastSignedSeq int64
	UnsignedTail  int64
}

// copyStore runs the copy with the audit check inside its transaction: a
// target whose chain does not verify is rolled back like any other
// failure. The check is VerifyAudit's own, on the store alone: copying
// needs the pinned public key, not the token.
func copyStore(ctx context.Context, from, to, keyFile string) (*copySummary, error) {
	pub, err := readPublicKey(keyFile)
	if err != nil {
		return nil, fmt.Errorf("audit public key: %w (start the server once to export it, or pass --public-key)", err)
	}
	var audit *certmgr.AuditReport
	rep, err := store.Copy(ctx, from, to, store.CopyOptions{
		Check: func(ctx context.Context, target *store.Tx) error {
			r, err := certmgr.VerifyAuditLog(ctx, target, pub)
			var brk *certmgr.AuditBreak
			if errors.As(err, &brk) {
				return fmt.Errorf("store copy: the audit log does not verify on the target, nothing was copied: %w (`certcustody audit verify` on the source tells whether it verified there)", brk)
			}
			if err != nil {
				return fmt.Errorf("store copy: verify the audit log on the target: %w", err)
			}
			audit = r
			return nil
		},
		Progress: func(table string, rows int64, done bool) {
			if done {
				fmt.Fprintf(os.Stderr, "copied %s: %d rows\n", table, rows)
			} else {
				fmt.Fprintf(os.Stderr, "copying %s: %d rows so far\n", table, rows)
			}
		},
	})
	if err != nil {
		return nil, err
	}
	sum := &copySummary{From: from, To: store.RedactURL(to), SchemaVersion: rep.SchemaVersion, Tables: []copiedTable{},
		Audit: copiedAudit{Verified: true, Records: audit.Records, Checkpoints: audit.Checkpoints,
			LastSignedSeq: audit.LastSigned, UnsignedTail: audit.UnsignedTail}}
	for _, t := range rep.Tables {
		sum.Tables = append(sum.Tables, copiedTable{Table: t.Name, Rows: t.Rows})
		sum.Rows += t.Rows
	}
	return sum, nil
}
