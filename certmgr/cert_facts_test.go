package certmgr

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"

	"github.com/certcustody/certcustody/certmgr/store"
)

// selfSigned is a throwaway certificate with one DNS SAN; the facts cache
// is a pure function of DER, so no token is involved.
func selfSigned(t *testing.T, cn, dns string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: cn, Organization: []string{"Example"}, Country: []string{"CN"}},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{dns}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// TestCertFactsFollowTheDER: a summary shows what the row's certificate
// says, parsed or cached alike; a row whose certificate bytes change under
// the same identifier shows the new certificate's facts, not the cached
// ones; and undecodable bytes are an error, never someone else's facts.
func TestCertFactsFollowTheDER(t *testing.T) {
	m := &Manager{facts: newCertFactsCache()}
	row := &store.IssuedCertificate{Identifier: "same-id", Certificate: selfSigned(t, "a.example", "a.example")}
	want := func(row *store.IssuedCertificate, cn, sans string) {
		t.Helper()
		for range 2 { // the first summary parses, the second is served from the cache
			sum, facts, err := m.summarizeIssued(row)
			if err != nil {
				t.Fatal(err)
			}
			if sum.CommonName != cn || sum.Sans != sans || sum.SignAlgorithm != "ECDSA-SHA256" || facts.fullAlgorithm != "ECC_256" {
				t.Fatalf("summary CN %q Sans %q SignAlgorithm %q FullAlgorithm %q; want CN %q Sans %q", sum.CommonName, sum.Sans, sum.SignAlgorithm, facts.fullAlgorithm, cn, sans)
			}
		}
	}
	want(row, "a.example", `[{"Type":2,"Value":"a.example"}]`)
	row.Certificate = selfSigned(t, "b.example", "b.example")
	want(row, "b.example", `[{"Type":2,"Value":"b.example"}]`)
	row.Certificate = append([]byte(nil), row.Certificate[:40]...)
	if _, _, err := m.summarizeIssued(row); err == nil {
		t.Fatal("a truncated certificate was summarized")
	}
}
