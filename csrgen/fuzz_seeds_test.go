package csrgen

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/tjfoc/gmsm/sm2"
)

var writeSeeds = flag.Bool("write-seeds", false, "rewrite testdata/fuzz/FuzzParseCSR seeds")

// csrFuzzSeeds builds a few requests (P-256 and SM2 with every SAN kind, as
// DER and PEM) and broken variants of them for FuzzParseCSR's f.Add.
func csrFuzzSeeds(tb testing.TB) [][]byte {
	tb.Helper()
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	smKey, err := sm2.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	d, err := ParseDN("CN=a+UID=b,O=阿里云,C=CN")
	if err != nil {
		tb.Fatal(err)
	}
	req := Request{Subject: d, DNSNames: []string{"a.example.cn"}, EmailAddresses: []string{"a@example.cn"},
		IPAddresses: []net.IP{net.IPv4(10, 0, 0, 1).To4()}}
	var seeds [][]byte
	for _, k := range []crypto.Signer{ecKey, smKey} {
		der, err := CreateCSR(rand.Reader, req, k)
		if err != nil {
			tb.Fatal(err)
		}
		seeds = append(seeds, der, []byte(EncodeCSRPEM(der)), der[:len(der)/2], append(der[:len(der):len(der)], 0))
	}
	return seeds
}

// TestWriteCSRSeeds regenerates the FuzzParseCSR corpus when run with
// -write-seeds; otherwise it only checks that the stored seeds are there.
func TestWriteCSRSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzParseCSR")
	if !*writeSeeds {
		entries, err := os.ReadDir(dir)
		if err != nil || len(entries) < 5 {
			t.Fatalf("%s needs at least 5 seeds (run with -write-seeds): %v", dir, err)
		}
		return
	}
	names := []string{"p256-der", "p256-pem", "p256-truncated", "p256-trailing-byte",
		"sm2-der", "sm2-pem", "sm2-truncated", "sm2-trailing-byte"}
	for i, s := range csrFuzzSeeds(t) {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\n", strconv.Quote(string(s)))
		if err := os.WriteFile(filepath.Join(dir, names[i]), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
