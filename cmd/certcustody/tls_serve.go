package main

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/certcustody/certcustody/keystore"
)

// certSource holds the listener's certificate. The handshake reads it
// through GetCertificate from an atomic pointer, so a reload (SIGHUP)
// swaps it for new handshakes while connections already made keep theirs
// and nothing is dropped.
type certSource struct {
	cfg    *tlsConfig
	signer crypto.Signer // the token TLS key; nil with key_file
	cur    atomic.Pointer[tls.Certificate]
}

// newCertSource loads the configured certificate; with key: token the
// private key is the token's TLS key, used only through crypto.Signer.
func newCertSource(a *app) (*certSource, error) {
	s := &certSource{cfg: &a.cfg.TLS}
	if a.cfg.TLS.Key == tlsKeyToken {
		// Background: the signer's context bounds each token call, and
		// handshakes go on for as long as the server serves.
		signer, err := a.keys.TLSSigner(context.Background())
		if errors.Is(err, keystore.ErrNotFound) {
			return nil, errors.New("tls.key is token but the token holds no TLS key: run `certcustody tls issue --ca <Identifier>`, or `tls csr` then `tls install --cert FILE`")
		}
		if err != nil {
			return nil, err
		}
		s.signer = signer
	}
	if err := s.load(); err != nil {
		return nil, err
	}
	return s, nil
}

// load reads the certificate chain (and key file) and swaps it in; on
// error the certificate in use stays.
func (s *certSource) load() error {
	chainPEM, err := os.ReadFile(s.cfg.CertFile)
	if err != nil {
		if s.signer != nil && errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("tls: no certificate for the token's TLS key at %s: run `certcustody tls issue --ca <Identifier>` or `tls install --cert FILE`", s.cfg.CertFile)
		}
		return fmt.Errorf("tls: %w", err)
	}
	var cert tls.Certificate
	if s.signer == nil {
		keyPEM, err := os.ReadFile(s.cfg.KeyFile)
		if err != nil {
			return fmt.Errorf("tls: %w", err)
		}
		if cert, err = tls.X509KeyPair(chainPEM, keyPEM); err != nil {
			return fmt.Errorf("tls: %s and %s: %w", s.cfg.CertFile, s.cfg.KeyFile, err)
		}
	} else {
		chain, err := parseChainPEM(chainPEM)
		if err != nil {
			return fmt.Errorf("tls: %s: %w", s.cfg.CertFile, err)
		}
		if !samePublicKey(chain[0].PublicKey, s.signer.Public()) {
			return fmt.Errorf("tls: the certificate in %s is not for the token's TLS key (%s)", s.cfg.CertFile, keystore.TLSKeyID)
		}
		for _, c := range chain {
			cert.Certificate = append(cert.Certificate, c.Raw)
		}
		cert.PrivateKey = s.signer
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	cert.Leaf = leaf
	s.cur.Store(&cert)
	return nil
}

func (s *certSource) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return s.cur.Load(), nil
}

// leaf returns the certificate in use.
func (s *certSource) leaf() *x509.Certificate { return s.cur.Load().Leaf }

// serverTLSConfig is the listener's TLS: 1.2 at least (1.3 preferred by
// Go), Go's default cipher suites, and client certificates as
// configured. HTTP/2 is added by net/http's ServeTLS.
func serverTLSConfig(c *tlsConfig, certs *certSource) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: certs.getCertificate}
	if c.ClientCAFile == "" {
		return cfg, nil
	}
	b, err := os.ReadFile(c.ClientCAFile)
	if err != nil {
		return nil, fmt.Errorf("tls.client_ca_file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("tls.client_ca_file: %s holds no PEM certificate", c.ClientCAFile)
	}
	cfg.ClientCAs = pool
	cfg.ClientAuth = tls.VerifyClientCertIfGiven
	if c.ClientAuth == clientAuthRequire {
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// logCertificate says which certificate the listener serves, and warns
// when it is close to its end.
func logCertificate(log *slog.Logger, msg string, leaf *x509.Certificate) {
	log.Info(msg, "subject", leaf.Subject.String(), "serial", fmt.Sprintf("%x", leaf.SerialNumber), "not_after", leaf.NotAfter.UTC().Format(time.RFC3339),
		"dns", leaf.DNSNames, "ip", fmt.Sprint(leaf.IPAddresses))
	if left := time.Until(leaf.NotAfter); left < 14*24*time.Hour {
		log.Warn("TLS certificate expires soon; issue or install a new one and send SIGHUP", "not_after", leaf.NotAfter.UTC().Format(time.RFC3339))
	}
}

// parseChainPEM reads every CERTIFICATE block, leaf first.
func parseChainPEM(b []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM certificate")
	}
	return out, nil
}

// samePublicKey compares two public keys of any supported type.
func samePublicKey(a, b crypto.PublicKey) bool {
	ea, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ea.Equal(b)
}
