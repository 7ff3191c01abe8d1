package csrgen

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"
)

// BenchmarkCreateCSR makes a P-256 request with a software key, the
// service's CreateCertificate path without the token's signature.
func BenchmarkCreateCSR(b *testing.B) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	dn, err := ParseDN("CN=bench.example.com,OU=load,O=certcustody,C=CN")
	if err != nil {
		b.Fatal(err)
	}
	req := Request{Subject: dn, DNSNames: []string{"bench.example.com"}}
	for b.Loop() {
		if _, err := CreateCSR(rand.Reader, req, key); err != nil {
			b.Fatal(err)
		}
	}
}
