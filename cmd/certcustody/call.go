package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
)

// kmsActionNames select Version 2016-01-20 when --version is not given.
var kmsActionNames = map[string]bool{
	"CreateCertificate": true, "UploadCertificate": true, "GetCertificate": true, "DescribeCertificate": true,
	"UpdateCertificateStatus": true, "DeleteCertificate": true, "ListCertificates": true, "ExportCertificate": true,
	"CertificatePrivateKeySign": true, "CertificatePublicKeyVerify": true, "CertificatePublicKeyEncrypt": true,
	"CertificatePrivateKeyDecrypt": true,
}

func newCallCmd(g *globalFlags) *cobra.Command {
	var version, endpoint, caFile string
	cmd := &cobra.Command{
		Use:   "call ACTION [Key=Value ...]",
		Short: "Call the API with a signed request; prints the JSON response",
		Long: "Credentials come from ALIBABA_CLOUD_ACCESS_KEY_ID/ALIBABA_CLOUD_ACCESS_KEY_SECRET, else from the data\n" +
			"directory's bootstrap-credentials.json. Exits non-zero on an API error.",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return callWith(g, args[0], args[1:], version, endpoint, caFile)
		},
	}
	cmd.Flags().StringVar(&version, "version", "", "API version (default: 2016-01-20 for KMS actions, 2020-06-30 otherwise)")
	cmd.Flags().StringVar(&endpoint, "endpoint", "", "server URL (default http(s)://<listen address from config>)")
	cmd.Flags().StringVar(&caFile, "ca-file", "", "PEM CA bundle to verify an https endpoint (default: the system roots)")
	return cmd
}

func call(g *globalFlags, action string, kv []string, version, endpoint string) error {
	return callWith(g, action, kv, version, endpoint, "")
}

func callWith(g *globalFlags, action string, kv []string, version, endpoint, caFile string) error {
	id, secret, err := callCredentials(g)
	if err != nil {
		return err
	}
	if endpoint == "" {
		c, err := loadConfig(g)
		if err != nil {
			return err
		}
		endpoint = "http://" + c.Listen
		if c.TLS.enabled() {
			endpoint = "https://" + c.Listen
		}
	}
	if version == "" {
		version = "2020-06-30"
		if kmsActionNames[action] {
			version = "2016-01-20"
		}
	}
	args := map[string]string{}
	for _, p := range kv {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return fmt.Errorf("argument %q is not Key=Value", p)
		}
		args[k] = v
	}
	client := newAPIClient(endpoint, id, secret)
	if err := client.trustCA(caFile); err != nil {
		return err
	}
	body, status, err := client.do(action, version, args)
	if err != nil {
		return err
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, body, "", "  ") == nil {
		body = pretty.Bytes()
	}
	fmt.Println(string(body))
	if status != http.StatusOK {
		return fmt.Errorf("API error (HTTP %d)", status)
	}
	return nil
}

func callCredentials(g *globalFlags) (string, string, error) {
	id, secret := os.Getenv("ALIBABA_CLOUD_ACCESS_KEY_ID"), os.Getenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
	if id != "" && secret != "" {
		return id, secret, nil
	}
	b, err := os.ReadFile(filepath.Join(g.dataDir, bootstrapFileName))
	if err != nil {
		return "", "", errors.New("no credentials: set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET, or run `certcustody serve` once to create " + bootstrapFileName)
	}
	var ak struct{ AccessKeyId, AccessKeySecret string }
	if err := json.Unmarshal(b, &ak); err != nil || ak.AccessKeyId == "" {
		return "", "", fmt.Errorf("%s is malformed", bootstrapFileName)
	}
	return ak.AccessKeyId, ak.AccessKeySecret, nil
}
