package server

import (
	"encoding/asn1"
	"testing"

	"github.com/tjfoc/gmsm/sm2"
)

// checkSM2CRL verifies an SM2 CRL's signature with the issuer's key via
// gmsm (SM3 with the default user ID).
func checkSM2CRL(t testing.TB, der []byte, issuerPEM string) {
	t.Helper()
	var crl struct {
		TBS       asn1.RawValue
		Algorithm asn1.RawValue
		Signature asn1.BitString
	}
	if rest, err := asn1.Unmarshal(der, &crl); err != nil || len(rest) != 0 {
		t.Fatalf("SM2 CRL does not parse: %v", err)
	}
	pub := certPublicKey(t, issuerPEM).(*sm2.PublicKey)
	if !pub.Verify(crl.TBS.FullBytes, crl.Signature.Bytes) {
		t.Fatal("gmsm rejects the SM2 CRL signature")
	}
}
