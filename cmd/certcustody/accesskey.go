package main

import (
	"os"

	"github.com/spf13/cobra"
)

func newAccessKeyCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "accesskey", Short: "Manage accounts and AccessKeys (writes the database the server uses)"}
	var account, policyFile string
	create := &cobra.Command{
		Use:   "create",
		Short: "Create an AccessKey (and its account if new); prints {AccessKeyId, AccessKeySecret, AccountId}",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			policy := ""
			if policyFile != "" {
				b, err := os.ReadFile(policyFile)
				if err != nil {
					return err
				}
				policy = string(b)
			}
			a, err := openApp(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer a.Close()
			ak, err := a.mgr.CreateAccessKey(cmd.Context(), account, policy)
			if err != nil {
				return err
			}
			return printJSON(ak)
		},
	}
	create.Flags().StringVar(&account, "account", "default", "account name (created if new)")
	create.Flags().StringVar(&policyFile, "policy", "", "RAM-style policy JSON file (default: full access to the account)")
	list := &cobra.Command{
		Use: "list", Short: "List AccessKeys (never their secrets)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := openApp(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer a.Close()
			keys, err := a.mgr.ListAccessKeys(cmd.Context())
			if err != nil {
				return err
			}
			return printJSON(keys)
		},
	}
	idCmd := func(use, short string, run func(a *app, cmd *cobra.Command, id string) error) *cobra.Command {
		return &cobra.Command{Use: use + " ID", Short: short, Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				a, err := openApp(cmd.Context(), g)
				if err != nil {
					return err
				}
				defer a.Close()
				if err := run(a, cmd, args[0]); err != nil {
					return err
				}
				return printJSON(map[string]string{"AccessKeyId": args[0], "Result": use + "d"})
			}}
	}
	disable := idCmd("disable", "Mark an AccessKey Inactive", func(a *app, cmd *cobra.Command, id string) error {
		return a.mgr.DisableAccessKey(cmd.Context(), id)
	})
	del := idCmd("delete", "Delete an AccessKey", func(a *app, cmd *cobra.Command, id string) error {
		return a.mgr.DeleteAccessKey(cmd.Context(), id)
	})
	cmd.AddCommand(create, list, disable, del)
	return cmd
}
