package certmgr

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certcustody/certcustody/certmgr/store"
	"github.com/tjfoc/gmsm/sm2"
)

// TestCRLListsEveryRevocationAcrossChunks: for each key family, a CA's
// CRL lists hundreds of revocations, those from before its first build
// (written from the tables) and those after (appended across many kept
// chunks), each with its serial, time and reason, in a CRL whose number
// grows and whose signature verifies (openssl for RSA and ECDSA; gmsm for
// SM2, which OpenSSL 3.0 cannot verify with the default ID). The CRL
// stored is the one served, byte for byte.
func TestCRLListsEveryRevocationAcrossChunks(t *testing.T) {
	for _, alg := range []string{"ECC_256", "RSA_2048", "SM2_256"} {
		t.Run(alg, func(t *testing.T) { testCRLListsEveryRevocation(t, alg) })
	}
}

func testCRLListsEveryRevocation(t *testing.T, alg string) {
	const n, early = 400, 150
	m, c := newManager(t)
	ctx := context.Background()
	base := CreateCARequest{CommonName: "Root " + alg, Organization: "o", OrganizationUnit: "ou", Locality: "l", State: "s", CountryCode: "CN", Algorithm: alg, Years: 5, EnableCrl: true}
	root, err := m.CreateRootCACertificate(ctx, c, base)
	if err != nil {
		t.Fatal(err)
	}
	base.CommonName, base.ParentIdentifier, base.Years = "Sub "+alg, root.Identifier, 2
	sub, err := m.CreateSubCACertificate(ctx, c, base)
	if err != nil {
		t.Fatal(err)
	}
	now := m.now().UTC()
	type leaf struct {
		id, serial string // serial: as openssl prints it
		reason     string
		code       int
		at         time.Time
	}
	reasons := []string{"", "keyCompromise", "caCompromise", "affiliationChanged", "superseded", "cessationOfOperation", "certificateHold", "privilegeWithdrawn"}
	leaves := make([]leaf, n)
	err = m.sqlStore().Tx(ctx, func(tx *store.Tx) error {
		for i := range leaves {
			raw := make([]byte, 16)
			if _, err := rand.Read(raw); err != nil {
				return err
			}
			if i%3 == 0 {
				raw[0] |= 0x80 // needs a sign octet
			}
			l := &leaves[i]
			l.id, l.reason = fmt.Sprintf("many-%d", i), reasons[i%len(reasons)]
			l.code = crlReasons[strings.ToLower(l.reason)]
			l.serial = fmt.Sprintf("%X", new(big.Int).SetBytes(raw).Bytes()) // openssl prints whole bytes
			if err := tx.InsertIssuedCertificate(ctx, &store.IssuedCertificate{Identifier: l.id, AccountID: c.AccountID, IssuerIdentifier: sub.Identifier,
				Serial: hex.EncodeToString(raw), CertificateType: "CLIENT", Status: "ISSUE", Certificate: []byte{0}, SubjectDN: "CN=x", Algorithm: alg,
				KeySize: 256, NotBefore: now, NotAfter: now.AddDate(0, 0, 10), CreatedAt: now}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	clock := now
	m.now = func() time.Time { return clock }
	revoke := func(from, to int) {
		for i := from; i < to; i++ {
			clock = now.Add(time.Duration(i) * time.Second)
			leaves[i].at = clock.Truncate(time.Second)
			if err := m.CreateRevokeClientCertificate(ctx, c, leaves[i].id, leaves[i].reason); err != nil {
				t.Fatal(err)
			}
		}
	}
	revoke(0, early)
	first, err := m.CRL(ctx, sub.Identifier)
	if err != nil {
		t.Fatal(err)
	}
	revoke(early, n)
	doc, err := m.CRL(ctx, sub.Identifier)
	if err != nil {
		t.Fatal(err)
	}
	if doc.Number <= first.Number {
		t.Fatalf("CRL number %d after %d", doc.Number, first.Number)
	}

	issuer := caPEM(t, m, c, sub.Identifier)
	text := opensslCRL(t, doc.DER)
	if got := strings.Count(text, "Serial Number: "); got != n {
		t.Fatalf("openssl reads %d entries, want %d", got, n)
	}
	for _, l := range leaves {
		if !strings.Contains(text, "Serial Number: "+l.serial+"\n") {
			t.Fatalf("openssl does not list serial %s", l.serial)
		}
	}
	if alg == "SM2_256" {
		checkSM2CRLSignature(t, doc.DER, sub.Identifier, m, c)
	} else {
		opensslVerifyCRL(t, doc.DER, issuer)
	}
	crl, err := x509.ParseRevocationList(doc.DER)
	if err != nil {
		t.Fatal(err)
	}
	byserial := map[string]x509.RevocationListEntry{}
	for _, e := range crl.RevokedCertificateEntries {
		byserial[fmt.Sprintf("%X", e.SerialNumber.Bytes())] = e
	}
	for _, l := range leaves {
		e, ok := byserial[l.serial]
		if !ok || e.ReasonCode != l.code || !e.RevocationTime.Equal(l.at) {
			t.Fatalf("entry of %s: %v reason %d at %v, want reason %d at %v", l.serial, ok, e.ReasonCode, e.RevocationTime, l.code, l.at)
		}
	}
	if crl.Number.Int64() != doc.Number {
		t.Fatalf("CRL number extension %v, document %d", crl.Number, doc.Number)
	}
	stored, err := m.sqlStore().GetCRL(ctx, sub.Identifier)
	if err != nil || !bytes.Equal(stored.DER, doc.DER) {
		t.Fatalf("the stored CRL (%d bytes, %v) is not the one served (%d bytes)", len(stored.DER), err, len(doc.DER))
	}
}

// caPEM writes a CA's certificate to a PEM file and returns its path.
func caPEM(t *testing.T, m *Manager, c Caller, id string) string {
	t.Helper()
	row, err := m.sqlStore().GetCACertificate(context.Background(), c.AccountID, id)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: row.Certificate}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// opensslVerifyCRL checks a DER CRL's signature with `openssl crl
// -CAfile`, which prints "verify OK" (and exits 0 even when it fails).
func opensslVerifyCRL(t *testing.T, der []byte, issuerPEM string) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "c.crl")
	if err := os.WriteFile(f, der, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("openssl", "crl", "-inform", "DER", "-in", f, "-CAfile", issuerPEM, "-noout").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "verify OK") {
		t.Fatalf("openssl crl -CAfile: %v\n%s", err, out)
	}
}

// checkSM2CRLSignature verifies an SM2 CRL's signature with gmsm (SM3,
// default user ID) and the CA's public key.
func checkSM2CRLSignature(t *testing.T, der []byte, ca string, m *Manager, c Caller) {
	t.Helper()
	var crl struct {
		TBS       asn1.RawValue
		Algorithm asn1.RawValue
		Signature asn1.BitString
	}
	if rest, err := asn1.Unmarshal(der, &crl); err != nil || len(rest) != 0 {
		t.Fatalf("SM2 CRL does not parse: %v", err)
	}
	row, err := m.sqlStore().GetCACertificate(context.Background(), c.AccountID, ca)
	if err != nil {
		t.Fatal(err)
	}
	issuer, err := parseCert(row.Certificate)
	if err != nil {
		t.Fatal(err)
	}
	if !issuer.Public.(*sm2.PublicKey).Verify(crl.TBS.FullBytes, crl.Signature.Bytes) {
		t.Fatal("gmsm rejects the SM2 CRL signature")
	}
}
