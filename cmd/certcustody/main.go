// Command certcustody is a certificate manager whose private keys live in a
// PKCS#11 token. See `certcustody --help` and the README.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "certcustody:", err)
		os.Exit(1)
	}
}

// globalFlags are the flags every subcommand takes.
type globalFlags struct {
	dataDir    string
	configFile string
	listen     string // serve --listen: overrides the config's listen
}

func newRootCmd() *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:           "certcustody",
		Short:         "Certificate manager with keys held in a PKCS#11 token",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.dataDir, "data-dir", "./certcustody-data", "data directory (database, embedded token, bootstrap credentials)")
	root.PersistentFlags().StringVar(&g.configFile, "config", "", "YAML config file (default: <data-dir>/config.yaml when present)")
	root.AddCommand(newTokenCmd(g), newServeCmd(g), newAccessKeyCmd(g), newCallCmd(g), newBenchCmd(g), newAuditCmd(g), newMigrateCmd(g), newConfigCmd(g), newTLSCmd(g), newStoreCmd(g))
	return root
}
