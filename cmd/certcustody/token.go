package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"

	"github.com/miekg/pkcs11"
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
			names := make([]string, 0, len(info.Mechanisms))
			for _, m := range info.Mechanisms {
				names = append(names, mechanismName(m))
			}
			sort.Strings(names)
			enc := json.NewEncoder(os.Stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(map[string]any{
				"Label":        info.Label,
				"Slot":         info.Slot,
				"Manufacturer": info.Manufacturer,
				"Model":        info.Model,
				"KeyCount":     info.KeyCount,
				"MaxSessions":  info.MaxSessions,
				"Custody":      string(mode),
				"Mechanisms":   names,
			})
		},
	})
	return cmd
}

var mechanismNames = map[uint]string{
	pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN: "CKM_RSA_PKCS_KEY_PAIR_GEN", pkcs11.CKM_RSA_PKCS: "CKM_RSA_PKCS",
	pkcs11.CKM_RSA_X_509: "CKM_RSA_X_509", pkcs11.CKM_RSA_PKCS_OAEP: "CKM_RSA_PKCS_OAEP",
	pkcs11.CKM_RSA_PKCS_PSS: "CKM_RSA_PKCS_PSS", pkcs11.CKM_SHA256_RSA_PKCS: "CKM_SHA256_RSA_PKCS",
	pkcs11.CKM_EC_KEY_PAIR_GEN: "CKM_EC_KEY_PAIR_GEN", pkcs11.CKM_ECDSA: "CKM_ECDSA",
	pkcs11.CKM_ECDSA_SHA256: "CKM_ECDSA_SHA256", pkcs11.CKM_ECDH1_DERIVE: "CKM_ECDH1_DERIVE",
	pkcs11.CKM_AES_KEY_GEN: "CKM_AES_KEY_GEN", pkcs11.CKM_AES_GCM: "CKM_AES_GCM",
	pkcs11.CKM_AES_KEY_WRAP: "CKM_AES_KEY_WRAP", pkcs11.CKM_AES_KEY_WRAP_PAD: "CKM_AES_KEY_WRAP_PAD",
	pkcs11.CKM_AES_CBC: "CKM_AES_CBC", pkcs11.CKM_AES_ECB: "CKM_AES_ECB", pkcs11.CKM_SHA256: "CKM_SHA256",
	pkcs11.CKM_SHA_1: "CKM_SHA_1", pkcs11.CKM_SHA384: "CKM_SHA384", pkcs11.CKM_SHA512: "CKM_SHA512",
	pkcs11.CKM_GENERIC_SECRET_KEY_GEN: "CKM_GENERIC_SECRET_KEY_GEN",
}

func mechanismName(m uint) string {
	if n, ok := mechanismNames[m]; ok {
		return n
	}
	return fmt.Sprintf("0x%08X", m)
}
