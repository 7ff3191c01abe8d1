package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// selfSigned writes a certificate and key as PEM files and returns
// their paths and the certificate.
func selfSigned(t *testing.T, dir, cn string, eku x509.ExtKeyUsage) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{eku}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalPKCS8PrivateKey(key)
	certFile, keyFile = filepath.Join(dir, cn+".crt"), filepath.Join(dir, cn+".key")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}), 0o600)
	cert, _ = x509.ParseCertificate(der)
	return certFile, keyFile, cert
}

// handshake runs one TLS handshake over a pipe and returns the client's
// and the server's errors.
func handshake(server *tls.Config, client *tls.Config) (error, error) {
	sc, cc := net.Pipe()
	errc := make(chan error, 1)
	go func() {
		s := tls.Server(sc, server)
		errc <- s.Handshake()
		s.Close()
	}()
	c := tls.Client(cc, client)
	cerr := c.Handshake()
	if cerr == nil {
		// TLS 1.3 reports a refused client certificate on the first read
		// (an accepted one reads the server's close: EOF).
		if _, err := c.Read(make([]byte, 1)); err != nil && err != io.EOF {
			cerr = err
		}
	}
	c.Close()
	return cerr, <-errc
}

// TestServerTLSConfigClientAuthAndReload: with key_file, client_auth
// require refuses a handshake without a client certificate and accepts
// one from the client CA; TLS 1.1 is refused; a reload with a key that
// does not match keeps the certificate in use.
func TestServerTLSConfigClientAuthAndReload(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, serverCert := selfSigned(t, dir, "server", x509.ExtKeyUsageServerAuth)
	caFile, caKey, _ := selfSigned(t, dir, "clientca", x509.ExtKeyUsageClientAuth)
	cfg := &tlsConfig{CertFile: certFile, KeyFile: keyFile, ClientCAFile: caFile, ClientAuth: clientAuthRequire}
	src := &certSource{cfg: cfg}
	if err := src.load(); err != nil {
		t.Fatal(err)
	}
	serverTLS, err := serverTLSConfig(cfg, src)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(serverCert)
	clientPair, err := tls.LoadX509KeyPair(caFile, caKey) // a self-signed client CA is its own client certificate
	if err != nil {
		t.Fatal(err)
	}
	base := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}
	if cerr, serr := handshake(serverTLS, base.Clone()); cerr == nil || serr == nil {
		t.Error("client_auth require accepted a handshake without a client certificate")
	}
	withCert := base.Clone()
	withCert.Certificates = []tls.Certificate{clientPair}
	if cerr, serr := handshake(serverTLS, withCert); cerr != nil || serr != nil {
		t.Errorf("a client certificate from the client CA: client %v, server %v", cerr, serr)
	}
	old := base.Clone()
	old.MinVersion, old.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
	old.Certificates = withCert.Certificates
	if cerr, _ := handshake(serverTLS, old); cerr == nil {
		t.Error("TLS 1.1 accepted")
	}
	// A reload with a mismatched key file fails and keeps the old pair.
	_, otherKey, _ := selfSigned(t, dir, "other", x509.ExtKeyUsageServerAuth)
	cfg.KeyFile = otherKey
	if err := src.load(); err == nil {
		t.Fatal("a certificate with another key's file loaded")
	}
	if !src.leaf().Equal(serverCert) {
		t.Error("a failed reload replaced the certificate in use")
	}
}
