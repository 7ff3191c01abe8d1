package main

import (
	"context"
	"fmt"

	"github.com/certcustody/certcustody/certmgr"
	"github.com/spf13/cobra"
)

// newTokenKeysCmd is `token keys [--id ID]`: every key of ours in the live
// token with its custody attributes read from the token itself and the row
// it belongs to, orphans flagged. It is the auditor's proof that a key
// created non-exportable has never been extractable (NeverExtractable and
// AlwaysSensitive are the token's own record since creation, and
// Modifiable=false means no one could have changed them).
func newTokenKeysCmd(g *globalFlags) *cobra.Command {
	var id string
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "List the token's keys with their live custody attributes and owners (JSON)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := context.Background()
			a, err := openApp(ctx, g)
			if err != nil {
				return err
			}
			defer a.Close()
			keys, err := a.mgr.TokenKeys(ctx)
			if err != nil {
				return err
			}
			if id == "" {
				return printJSON(keys)
			}
			for _, k := range keys {
				if k.KeyID == id {
					return printJSON([]certmgr.TokenKey{k})
				}
			}
			return fmt.Errorf("no key %q in the token", id)
		},
	}
	cmd.Flags().StringVar(&id, "id", "", "only this key ID (e.g. kms-<uuid> as DescribeCertificate's KeyCustody.KeyId names it, ca-<Identifier>)")
	return cmd
}

// newTokenSweepCmd is `token sweep`: the orphan sweep serve runs hourly,
// on demand; --include-unknown-age also destroys orphans whose creation
// time the token does not record, which no automatic sweep does.
func newTokenSweepCmd(g *globalFlags) *cobra.Command {
	var unknownAge bool
	cmd := &cobra.Command{
		Use:   "sweep",
		Short: "Destroy token keys that no row references (older than the longest request)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := context.Background()
			a, err := openApp(ctx, g)
			if err != nil {
				return err
			}
			defer a.Close()
			sweep := a.mgr.SweepOrphanKeys
			if unknownAge {
				sweep = a.mgr.SweepOrphanKeysOfUnknownAge
			}
			n, err := sweep(ctx)
			if err != nil {
				return err
			}
			return printJSON(map[string]int{"Destroyed": n})
		},
	}
	cmd.Flags().BoolVar(&unknownAge, "include-unknown-age", false, "also destroy orphans of unknown age; only with no key creation in flight on this token")
	return cmd
}
