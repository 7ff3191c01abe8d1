package main

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/certcustody/certcustody/certmgr"
	"github.com/certcustody/certcustody/csrgen"
	"github.com/certcustody/certcustody/keystore"
	"github.com/spf13/cobra"
)

// newTLSCmd is `tls csr|install|issue`: the server's own TLS identity
// when tls.key is token. The key is created in the token on first use
// (sign-only, never extractable); only a CSR or a certificate ever
// leaves.
func newTLSCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "tls", Short: "The server's TLS key (in the token) and certificate"}
	var days int
	var ca, certFile string
	csr := &cobra.Command{
		Use:   "csr",
		Short: "Print a CSR (PEM) for the token's TLS key, creating the key if needed; names from tls.names or listen/public_url",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withTLSKey(cmd.Context(), g, func(a *app, names []string) error {
				signer, err := a.keys.TLSSigner(cmd.Context())
				if err != nil {
					return err
				}
				dn, err := csrgen.ParseDN("CN=" + names[0])
				if err != nil {
					return fmt.Errorf("tls csr: %w", err)
				}
				req := csrgen.Request{Subject: dn}
				for _, n := range names {
					if ip := net.ParseIP(n); ip != nil {
						req.IPAddresses = append(req.IPAddresses, ip)
					} else {
						req.DNSNames = append(req.DNSNames, n)
					}
				}
				der, err := csrgen.CreateCSR(rand.Reader, req, signer)
				if err != nil {
					return fmt.Errorf("tls csr: %w", err)
				}
				fmt.Print(csrgen.EncodeCSRPEM(der))
				return nil
			})
		},
	}
	install := &cobra.Command{
		Use:   "install --cert FILE",
		Short: "Install a PEM certificate chain (leaf first) for the token's TLS key; a running serve picks it up on SIGHUP",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := os.ReadFile(certFile)
			if err != nil {
				return err
			}
			return withTLSKey(cmd.Context(), g, func(a *app, _ []string) error {
				return installChain(cmd.Context(), a, b, "")
			})
		},
	}
	install.Flags().StringVar(&certFile, "cert", "", "PEM file: the certificate, then its issuers")
	_ = install.MarkFlagRequired("cert")
	issue := &cobra.Command{
		Use:   "issue --ca IDENTIFIER",
		Short: "Issue the server's certificate from one of our subordinate CAs and install it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withTLSKey(cmd.Context(), g, func(a *app, names []string) error {
				pub, err := a.keys.TLSSigner(cmd.Context())
				if err != nil {
					return err
				}
				res, err := a.mgr.IssueTLSCertificate(cmd.Context(), certmgr.TLSCertificateRequest{
					CAIdentifier: ca, Public: pub.Public(), Names: names, Validity: time.Duration(days) * 24 * time.Hour})
				if err != nil {
					return err
				}
				return installChain(cmd.Context(), a, []byte(res.Certificate+res.CertificateChain), res.Identifier)
			})
		},
	}
	issue.Flags().StringVar(&ca, "ca", "", "Identifier of the issuing subordinate CA")
	issue.Flags().IntVar(&days, "days", 90, "validity in days (never beyond the CA's)")
	_ = issue.MarkFlagRequired("ca")
	cmd.AddCommand(csr, install, issue)
	return cmd
}

// withTLSKey opens the app, checks that tls.key is token, makes sure the
// token holds the TLS key, and runs fn with the certificate's names.
func withTLSKey(ctx context.Context, g *globalFlags, fn func(a *app, names []string) error) error {
	if ctx == nil {
		ctx = context.Background()
	}
	a, err := openApp(ctx, g)
	if err != nil {
		return err
	}
	defer a.Close()
	if a.cfg.TLS.Key != tlsKeyToken {
		return errors.New("tls.key is not token in the configuration: these commands manage the token-held TLS key")
	}
	names := tlsNames(a.cfg)
	if len(names) == 0 {
		return errors.New("no name for the certificate: set tls.names, or a listen host or public_url")
	}
	alg, err := keystore.ParseAlgorithm(a.cfg.TLS.KeyAlgorithm)
	if err != nil {
		return err
	}
	_, created, err := a.mgr.EnsureTLSKey(ctx, alg)
	if err != nil {
		return err
	}
	if created {
		fmt.Fprintf(os.Stderr, "created the TLS key %s (%s) in the token: sign-only, never extractable\n", keystore.TLSKeyID, alg)
	}
	return fn(a, names)
}

// tlsNames are tls.names, or else the listen host (unless it is every
// interface) and the public URL's host.
func tlsNames(c *config) []string {
	if len(c.TLS.Names) > 0 {
		return c.TLS.Names
	}
	var out []string
	add := func(h string) {
		if h != "" && h != "0.0.0.0" && h != "::" && !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	if u, err := url.Parse(c.PublicURL); err == nil {
		add(u.Hostname())
	}
	if h, _, err := net.SplitHostPort(c.Listen); err == nil {
		add(h)
	}
	return out
}

// installChain checks a chain for the token's TLS key (leaf key, links,
// validity) and writes it to tls.cert_file atomically.
func installChain(ctx context.Context, a *app, chainPEM []byte, identifier string) error {
	chain, err := parseChainPEM(chainPEM)
	if err != nil {
		return fmt.Errorf("tls install: %w", err)
	}
	signer, err := a.keys.TLSSigner(ctx)
	if err != nil {
		return err
	}
	leaf := chain[0]
	if !samePublicKey(leaf.PublicKey, signer.Public()) {
		return fmt.Errorf("tls install: the certificate's key is not the token's TLS key (%s); make it from `certcustody tls csr`", keystore.TLSKeyID)
	}
	for i := 0; i+1 < len(chain); i++ {
		if err := chain[i].CheckSignatureFrom(chain[i+1]); err != nil {
			return fmt.Errorf("tls install: certificate %d is not signed by certificate %d (order: leaf first, then its issuers): %v", i+1, i+2, err)
		}
	}
	if now := time.Now(); now.After(leaf.NotAfter) || now.Before(leaf.NotBefore) {
		return fmt.Errorf("tls install: the certificate is not valid now (%s to %s)", leaf.NotBefore.UTC().Format(time.RFC3339), leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if len(leaf.ExtKeyUsage) > 0 && !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageServerAuth) {
		return errors.New("tls install: the certificate is not for serverAuth")
	}
	path := a.cfg.TLS.CertFile
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tls-chain-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(chainPEM); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	out := map[string]any{"CertFile": path, "KeyId": keystore.TLSKeyID, "Subject": leaf.Subject.String(), "DNSNames": leaf.DNSNames,
		"IPAddresses": fmt.Sprint(leaf.IPAddresses), "SerialNumber": fmt.Sprintf("%x", leaf.SerialNumber), "NotAfter": leaf.NotAfter.UTC().Format(time.RFC3339),
		"Reload": "a running serve uses it after SIGHUP (systemctl reload certcustody)"}
	if identifier != "" {
		out["Identifier"] = identifier
	}
	return printJSON(out)
}
