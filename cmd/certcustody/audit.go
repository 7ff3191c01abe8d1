package main

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/certcustody/certcustody/certmgr"
	"github.com/spf13/cobra"
)

const auditKeyFileName = "audit-public-key.pem"

// pinAuditKey exports the audit public key on first start so it can be
// pinned outside the database (copy it somewhere the database's owner
// cannot write).
func (a *app) pinAuditKey(ctx context.Context) error {
	path := filepath.Join(a.flags.dataDir, auditKeyFileName)
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	pub, err := a.mgr.AuditPublicKey(ctx)
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return err
	}
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644)
}

func newAuditCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Work with the tamper-evident audit log"}
	var keyFile string
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Check the audit log's hash chain and signed checkpoints; exits non-zero at the first broken record",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := openApp(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer a.Close()
			if keyFile == "" {
				keyFile = filepath.Join(g.dataDir, auditKeyFileName)
			}
			pub, err := readPublicKey(keyFile)
			if err != nil {
				return fmt.Errorf("audit public key: %w (start the server once to export it, or pass --public-key)", err)
			}
			rep, err := a.mgr.VerifyAudit(cmd.Context(), pub)
			var brk *certmgr.AuditBreak
			if errors.As(err, &brk) {
				_ = printJSON(map[string]any{"Verified": false, "BrokenChain": brk.Chain, "BrokenRecord": brk.Seq, "Reason": brk.Reason, "RecordsBefore": rep.Records})
				return fmt.Errorf("audit log broken: %w", brk)
			}
			if err != nil {
				return err
			}
			return printJSON(map[string]any{"Verified": true, "Records": rep.Records, "Checkpoints": rep.Checkpoints,
				"LastSignedSeq": rep.LastSigned, "UnsignedTail": rep.UnsignedTail, "Chains": rep.Chains})
		},
	}
	verify.Flags().StringVar(&keyFile, "public-key", "", "pinned audit public key (default <data-dir>/"+auditKeyFileName+")")
	cmd.AddCommand(verify)
	return cmd
}

func readPublicKey(path string) (crypto.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("not PEM")
	}
	return x509.ParsePKIXPublicKey(blk.Bytes)
}
