package certmgr

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certcustody/certcustody/csrgen"
	"github.com/tjfoc/gmsm/sm2"
	gmx509 "github.com/tjfoc/gmsm/x509"
)

func csrFor(t testing.TB, key crypto.Signer, subject string) string {
	t.Helper()
	dn, err := csrgen.ParseDN(subject)
	if err != nil {
		t.Fatal(err)
	}
	der, err := csrgen.CreateCSR(rand.Reader, csrgen.Request{Subject: dn}, key)
	if err != nil {
		t.Fatal(err)
	}
	return csrgen.EncodeCSRPEM(der)
}

// opensslVerify has OpenSSL check cert against the root alone; extra are
// verify options (SM2's distid).
func opensslVerify(t testing.TB, rootPEM, certPEM string, extra ...string) {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("openssl not found: apt-get install openssl")
	}
	dir := t.TempDir()
	root, leaf := filepath.Join(dir, "root.pem"), filepath.Join(dir, "cert.pem")
	if err := os.WriteFile(root, []byte(rootPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(leaf, []byte(certPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"verify"}, extra...)
	args = append(args, "-CAfile", root, leaf)
	out, err := exec.Command("openssl", args...).CombinedOutput()
	if err != nil || !strings.Contains(string(out), ": OK") {
		t.Fatalf("openssl verify: %v\n%s", err, out)
	}
}

func rootPEM(t testing.TB, m *Manager, c Caller, root string) string {
	t.Helper()
	ca, err := m.sqlStore().GetCACertificate(context.Background(), c.AccountID, root)
	if err != nil {
		t.Fatal(err)
	}
	return certPEM(ca.Certificate)
}

// TestCreateExternalCACertificate: a token root signs a subordinate CA for
// a CSR whose key never reaches us (OpenSSL verifies it against the root);
// the row is an external CA that cannot issue or publish a CRL here, and
// once revoked it is on its root's CRL.
func TestCreateExternalCACertificate(t *testing.T) {
	ctx := context.Background()
	m, c := newManager(t)
	root, sub := hierarchy(t, m, c, "ECC_256")
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	csr := csrFor(t, key, "CN=Offline Issuing CA,O=Partner,C=DE")
	pathLen := 1
	res, err := m.CreateExternalCACertificate(ctx, c, ExternalCARequest{InstanceID: root, Csr: csr, Validity: "2y",
		Subject:           &SubjectNames{CommonName: "Partner Issuing CA", Organization: "Partner GmbH", CountryCode: "de"},
		ExtendedKeyUsages: []string{"serverAuth", "clientAuth"}, PathLenConstraint: &pathLen,
		Labels: Labels{Tags: []Tag{{TagKey: "partner", TagValue: "yes"}}}})
	if err != nil {
		t.Fatal(err)
	}
	opensslVerify(t, rootPEM(t, m, c, root), res.Certificate)
	if res.CertificateChain != rootPEM(t, m, c, root) {
		t.Fatal("CertificateChain is not the root")
	}
	b, _ := pem.Decode([]byte(res.Certificate))
	x, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	rootRow, _ := m.sqlStore().GetCACertificate(ctx, c.AccountID, root)
	rootCert, _ := x509.ParseCertificate(rootRow.Certificate)
	if !x.IsCA || x.MaxPathLen != 1 || x.Subject.CommonName != "Partner Issuing CA" || x.Subject.Country[0] != "DE" ||
		x.KeyUsage&x509.KeyUsageCertSign == 0 || len(x.ExtKeyUsage) != 2 || string(x.AuthorityKeyId) != string(rootCert.SubjectKeyId) ||
		!x.PublicKey.(*ecdsa.PublicKey).Equal(&key.PublicKey) {
		t.Fatalf("certificate: CA %v pathlen %d subject %v usage %v eku %v", x.IsCA, x.MaxPathLen, x.Subject, x.KeyUsage, x.ExtKeyUsage)
	}
	if d := x.NotAfter.Sub(x.NotBefore); d < 2*365*24*time.Hour || d > 2*366*24*time.Hour+time.Hour {
		t.Fatalf("validity %v", d)
	}

	d, err := m.DescribeCACertificate(ctx, c, res.Identifier)
	if err != nil || d.IssuerType != "external" || d.ParentIdentifier != root || d.CertificateType != "SUB_ROOT" || d.Algorithm != "ECC" ||
		d.KeySize != 384 || tagsString(d.Tags) != "partner=yes" {
		t.Fatalf("described: %+v %v", d, err)
	}
	if d, _ := m.DescribeCACertificate(ctx, c, sub); d.IssuerType != "local" {
		t.Fatalf("a token CA described as %q", d.IssuerType)
	}

	// Nothing is issued or signed with a key we do not hold.
	_, err = m.CreateServerCertificate(ctx, c, GenerateRequest{IssueRequest: IssueRequest{ParentIdentifier: res.Identifier, Years: 1},
		Algorithm: "ECC_384", CommonName: "x.example.com"})
	wantCode(t, err, "InvalidParameter.ParentIdentifier")
	_, err = m.CreateClientCertificateWithCsr(ctx, c, IssueRequest{ParentIdentifier: res.Identifier, Years: 1, Csr: csrFor(t, key, "CN=leaf")})
	wantCode(t, err, "InvalidParameter.ParentIdentifier")
	_, err = m.CreateExternalCACertificate(ctx, c, ExternalCARequest{InstanceID: res.Identifier, Csr: csr, Validity: "1y"})
	wantCode(t, err, "InvalidParameter.ParentIdentifier")
	_, err = m.CRL(ctx, res.Identifier)
	wantCode(t, err, "NotFound.Certificate")

	// Revoked: final, and on the root's CRL.
	if err := m.UpdateCACertificateStatus(ctx, c, res.Identifier, "REVOKE"); err != nil {
		t.Fatal(err)
	}
	doc, err := m.CRL(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.ParseRevocationList(doc.DER)
	if err != nil {
		t.Fatal(err)
	}
	if err := crl.CheckSignatureFrom(rootCert); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range crl.RevokedCertificateEntries {
		found = found || e.SerialNumber.Cmp(x.SerialNumber) == 0
	}
	if !found {
		t.Fatalf("serial %x not on the root's CRL", x.SerialNumber)
	}
	if r := (ExternalCARequest{InstanceID: root}).Resources(); len(r) != 1 || r[0] != root {
		t.Fatalf("Resources %v", r)
	}
}

// TestCreateExternalCACertificateRefusals: bad input and broken rules are
// typed errors that write nothing.
func TestCreateExternalCACertificateRefusals(t *testing.T) {
	ctx := context.Background()
	m, c := newManager(t)
	root, sub := hierarchy(t, m, c, "ECC_256")
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr := csrFor(t, key, "CN=Ext CA")
	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	other := otherCaller(t, m)
	cas, certs, _ := m.sqlStore().CountIssued(ctx)
	for _, tc := range []struct {
		name string
		c    Caller
		r    ExternalCARequest
		code string
	}{
		{"no instance", c, ExternalCARequest{Csr: csr, Validity: "1y"}, "MissingParameter"},
		{"no CSR", c, ExternalCARequest{InstanceID: root, Validity: "1y"}, "MissingParameter"},
		{"bad CSR", c, ExternalCARequest{InstanceID: root, Csr: "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----", Validity: "1y"}, "InvalidParameter"},
		{"no validity", c, ExternalCARequest{InstanceID: root, Csr: csr}, "MissingParameter"},
		{"bad validity", c, ExternalCARequest{InstanceID: root, Csr: csr, Validity: "soon"}, "InvalidParameter"},
		{"past NotAfter", c, ExternalCARequest{InstanceID: root, Csr: csr, Validity: "2001-01-01T00:00:00Z"}, "InvalidParameter"},
		{"outlives root", c, ExternalCARequest{InstanceID: root, Csr: csr, Validity: "11y"}, "InvalidParameter.Validity"},
		{"longer than CertMaxTime", c, ExternalCARequest{InstanceID: root, Csr: csr, Validity: "1y", CertMaxTime: 30}, "InvalidParameter.CertMaxTime"},
		{"bad path length", c, ExternalCARequest{InstanceID: root, Csr: csr, Validity: "1y", PathLenConstraint: ptr(9)}, "InvalidParameter"},
		{"bad EKU", c, ExternalCARequest{InstanceID: root, Csr: csr, Validity: "1y", ExtendedKeyUsages: []string{"anything"}}, "InvalidParameter"},
		{"subject without CN", c, ExternalCARequest{InstanceID: root, Csr: csr, Validity: "1y", Subject: &SubjectNames{Organization: "x"}}, "MissingParameter"},
		{"signed by a sub CA", c, ExternalCARequest{InstanceID: sub, Csr: csr, Validity: "1y"}, "InvalidParameter.InstanceId"},
		{"RSA-1024 key", c, ExternalCARequest{InstanceID: root, Csr: csrFor(t, rsaKey, "CN=weak"), Validity: "1y"}, "InvalidParameter.KeySize"},
		{"another account's root", other, ExternalCARequest{InstanceID: root, Csr: csr, Validity: "1y"}, "NotFound.Certificate"},
		{"bad tags", c, ExternalCARequest{InstanceID: root, Csr: csr, Validity: "1y", Labels: Labels{Tags: []Tag{{TagKey: ""}}}}, "InvalidParameter"},
	} {
		_, err := m.CreateExternalCACertificate(ctx, tc.c, tc.r)
		if err == nil || AsError(err).Code != tc.code {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.code)
		}
	}
	// An RSA key under a P-256 root: the families differ.
	rsa2048, _ := rsa.GenerateKey(rand.Reader, 2048)
	_, err = m.CreateExternalCACertificate(ctx, c, ExternalCARequest{InstanceID: root, Csr: csrFor(t, rsa2048, "CN=rsa"), Validity: "1y"})
	wantCode(t, err, "InvalidParameter.AlgorithmFamily")
	if err := m.UpdateCACertificateStatus(ctx, c, root, "REVOKE"); err != nil {
		t.Fatal(err)
	}
	_, err = m.CreateExternalCACertificate(ctx, c, ExternalCARequest{InstanceID: root, Csr: csr, Validity: "1y"})
	wantCode(t, err, "InvalidParameter.ParentStatus")
	if cas2, certs2, _ := m.sqlStore().CountIssued(ctx); cas2 != cas || certs2 != certs {
		t.Fatalf("refusals wrote rows: CAs %d → %d, certificates %d → %d", cas, cas2, certs, certs2)
	}

	// The absolute forms of Validity.
	r2, err := m.CreateRootCACertificate(ctx, c, caRequest("Root 2", "ECC_256"))
	if err != nil {
		t.Fatal(err)
	}
	na := m.now().AddDate(1, 0, 0).Truncate(time.Second)
	for _, v := range []string{na.Format(time.RFC3339), m.now().Format(time.RFC3339) + "/" + na.Format(time.RFC3339)} {
		res, err := m.CreateExternalCACertificate(ctx, c, ExternalCARequest{InstanceID: r2.Identifier, Csr: csr, Validity: v})
		if err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		b, _ := pem.Decode([]byte(res.Certificate))
		x, _ := x509.ParseCertificate(b.Bytes)
		if !x.NotAfter.Equal(na) {
			t.Fatalf("%s: NotAfter %v", v, x.NotAfter)
		}
	}
}

// TestCreateExternalSM2CACertificate: an SM2 root signs an SM2 CSR; gmsm
// and OpenSSL (with the GM/T 0009 default ID) verify the link.
func TestCreateExternalSM2CACertificate(t *testing.T) {
	ctx := context.Background()
	m, c := newManager(t)
	r, err := m.CreateRootCACertificate(ctx, c, caRequest("SM2 Root", "SM2_256"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := sm2.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.CreateExternalCACertificate(ctx, c, ExternalCARequest{InstanceID: r.Identifier, Csr: csrFor(t, key, "CN=SM2 External CA,O=Partner"), Validity: "1y"})
	if err != nil {
		t.Fatal(err)
	}
	parse := func(p string) *gmx509.Certificate {
		b, _ := pem.Decode([]byte(p))
		x, err := gmx509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	root, ext := parse(rootPEM(t, m, c, r.Identifier)), parse(res.Certificate)
	if err := root.CheckSignature(ext.SignatureAlgorithm, ext.RawTBSCertificate, ext.Signature); err != nil {
		t.Fatalf("gmsm: %v", err)
	}
	if !ext.IsCA || ext.SignatureAlgorithm != gmx509.SM2WithSM3 || ext.Subject.CommonName != "SM2 External CA" {
		t.Fatalf("certificate: CA %v alg %v subject %v", ext.IsCA, ext.SignatureAlgorithm, ext.Subject)
	}
	pub, ok := ext.PublicKey.(*ecdsa.PublicKey)
	//lint:ignore SA1019 gmsm exposes SM2 keys only through big.Int coordinates
	if !ok || pub.X.Cmp(key.X) != 0 || new(big.Int).Set(pub.Y).Cmp(key.Y) != 0 {
		t.Fatal("the certificate does not carry the CSR's key")
	}
	opensslVerify(t, rootPEM(t, m, c, r.Identifier), res.Certificate, "-vfyopt", "distid:1234567812345678", "-partial_chain")
	d, err := m.DescribeCACertificate(ctx, c, res.Identifier)
	if err != nil || d.IssuerType != "external" || d.Algorithm != "SM2" {
		t.Fatalf("described %+v %v", d, err)
	}
}
