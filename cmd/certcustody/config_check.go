package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/certcustody/certcustody/certmgr"

	"github.com/spf13/cobra"
)

// newConfigCmd is `config check`: load and validate a configuration the
// way serve does, without opening the token, the database or a listener.
func newConfigCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Work with the configuration"}
	cmd.AddCommand(&cobra.Command{
		Use:   "check",
		Short: "Validate --config (or <data-dir>/config.yaml) without starting; one line per problem",
		Long: "Runs the checks serve runs at start: unknown keys (with the nearest known key), value kinds,\n" +
			"TLS and listener rules, a PIN given for the embedded token. Files named in the config\n" +
			"(module, PIN file, certificates) are not opened. Prints a summary as JSON when it passes.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, problems, err := readConfig(g)
			if err != nil {
				return err
			}
			if len(problems) > 0 {
				for _, p := range problems {
					fmt.Fprintln(os.Stderr, p.String())
				}
				where := "the configuration"
				if c.source != "" {
					where = c.source
				}
				return fmt.Errorf("%d problem(s) in %s", len(problems), where)
			}
			return printJSON(configSummary(c))
		},
	})
	return cmd
}

// configSummary is what `config check` prints for a valid configuration:
// what serve would do with it. No secret is part of it.
func configSummary(c *config) map[string]any {
	source := c.source
	if source == "" {
		source = "(none: the embedded default)"
	}
	custody, database := string(custodyToken), "postgresql"
	if c.PKCS11.Module == "" {
		custody = string(custodyDevelopment)
	}
	if c.Database.URL == "" {
		database = "sqlite"
	}
	out := map[string]any{
		"Config": source, "Listen": c.Listen, "PublicURL": c.PublicURL, "Transport": transportOf(c),
		"Custody": custody, "Database": database, "TrustedProxies": len(c.TrustedProxies),
	}
	if c.TLS.enabled() {
		key := "file"
		if c.TLS.Key == tlsKeyToken {
			key = "token (" + c.TLS.KeyAlgorithm + ")"
		}
		out["TLS"] = map[string]any{"Key": key, "CertFile": c.TLS.CertFile, "ClientAuth": c.TLS.ClientAuth}
	}
	if pools := c.keyPool(); len(pools) > 0 {
		sizes := map[string]int{}
		for spec, n := range pools {
			sizes[spec.String()] = n
		}
		out["KeyPool"] = sizes
	}
	if kc := c.kmsKeyCustody(); kc.Default != "" || len(kc.Accounts) > 0 {
		accounts := map[string]string{}
		for id := range kc.Accounts {
			accounts[id] = strings.ToLower(kc.Accounts[id])
		}
		def := strings.ToLower(kc.Default)
		if def == "" {
			def = certmgr.KeyCustodyToken
		}
		out["KMSKeyCustody"] = map[string]any{"Default": def, "Accounts": accounts}
	}
	if len(c.fromEnv) > 0 {
		out["FromEnvironment"] = c.fromEnv
	}
	return out
}
