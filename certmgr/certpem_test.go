package certmgr

import (
	"bytes"
	"encoding/pem"
	"math/rand/v2"
	"testing"
)

// TestCertPEMIsEncodingPEM checks the exact-size encoder against
// encoding/pem byte for byte, at every length around the 48-byte line
// boundary and at certificate sizes.
func TestCertPEMIsEncodingPEM(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range append([]int{0, 1, 2, 3, 47, 48, 49, 95, 96, 97, 144, 500, 1184, 1500, 4096}, rng.Perm(300)...) {
		der := make([]byte, n)
		for i := range der {
			der[i] = byte(rng.Uint32())
		}
		want := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
		if got := certPEM(der); !bytes.Equal([]byte(got), want) {
			t.Fatalf("%d bytes: certPEM\n%s\nencoding/pem\n%s", n, got, want)
		}
	}
}
