package main

import (
	"context"

	"github.com/certcustody/certcustody/server"
	"github.com/spf13/cobra"
)

func newTokenCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Inspect the PKCS#11 token"}
	cmd.AddCommand(&cobra.Command{
		Use:   "status",
		Short: "Open (creating the embedded default if missing) and describe the token",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := loadConfig(g)
			if err != nil {
				return err
			}
			ctx := context.Background()
			store, mode, err := openKeystore(ctx, g, c)
			if err != nil {
				return err
			}
			defer store.Close()
			info, err := store.Info(ctx)
			if err != nil {
				return err
			}
			out := map[string]any{
				"Label":        info.Label,
				"Slot":         info.Slot,
				"Manufacturer": info.Manufacturer,
				"Model":        info.Model,
				"KeyCount":     info.KeyCount,
				"MaxSessions":  info.MaxSessions,
				"Custody":      string(mode),
				"Transport":    transportOf(c),  // https, http-loopback or http-plaintext (tls.allow_plaintext)
				"Mechanisms":   info.Mechanisms, // CKM_ names with pkcs11-tool -M flags; unknown codes in hex
			}
			if transportOf(c) == server.TransportPlaintext {
				out["TransportWarning"] = server.PlaintextWarning
			}
			return printJSON(out)
		},
	})
	cmd.AddCommand(newTokenKeysCmd(g), newTokenSweepCmd(g))
	return cmd
}
