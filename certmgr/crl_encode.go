package certmgr

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/certcustody/certcustody/certmgr/store"
	"github.com/tjfoc/gmsm/sm2"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// encodeCRL writes an RFC 5280 v2 CRL directly with cryptobyte, for every
// key family: a million entries through encoding/asn1's reflection (or
// crypto/x509, which builds a pkix structure per entry) costs seconds and
// gigabytes. The CRL is signed by the CA's token key and its signature is
// checked before it is served.
func encodeCRL(issuer *cert, signer crypto.Signer, entries []store.Revoked, c *store.CRL) ([]byte, error) {
	sigAlg, hash, err := crlSignatureAlgorithm(issuer.Public)
	if err != nil {
		return nil, err
	}
	// Sized up front: a million entries grown by doubling cost more in
	// copying than encoding them.
	tbs := cryptobyte.NewBuilder(make([]byte, 0, 48*len(entries)+4096))
	var encErr error
	tbs.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1Int64(1) // v2
		b.AddBytes(sigAlg)
		b.AddBytes(issuer.RawSubject)
		addTime(b, c.ThisUpdate)
		addTime(b, c.NextUpdate)
		if len(entries) > 0 {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				for _, e := range entries {
					serial, err := hex.DecodeString(e.Serial)
					if err != nil || len(serial) == 0 {
						encErr = fmt.Errorf("bad stored serial %q", e.Serial)
						return
					}
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1(cbasn1.INTEGER, func(b *cryptobyte.Builder) { b.AddBytes(derUnsigned(serial)) })
						addTime(b, e.RevokedAt)
						if e.Reason != 0 {
							b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
								b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
									b.AddASN1ObjectIdentifier(oidCRLReasonCode)
									b.AddASN1(cbasn1.OCTET_STRING, func(b *cryptobyte.Builder) {
										b.AddASN1(cbasn1.ENUM, func(b *cryptobyte.Builder) { b.AddUint8(uint8(e.Reason)) })
									})
								})
							})
						}
					})
				}
			})
		}
		b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1ObjectIdentifier(oidAuthorityKeyID)
					b.AddASN1(cbasn1.OCTET_STRING, func(b *cryptobyte.Builder) {
						b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
							b.AddASN1(cbasn1.Tag(0).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes(issuer.SubjectKeyID) })
						})
					})
				})
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1ObjectIdentifier(oidCRLNumber)
					b.AddASN1(cbasn1.OCTET_STRING, func(b *cryptobyte.Builder) { b.AddASN1Int64(c.Number) })
				})
			})
		})
	})
	if encErr != nil {
		return nil, encErr
	}
	tbsDER, err := tbs.Bytes()
	if err != nil {
		return nil, err
	}
	input, opts := tbsDER, crypto.SignerOpts(hash)
	if hash != 0 {
		h := hash.New()
		h.Write(tbsDER)
		input = h.Sum(nil)
	}
	sig, err := signer.Sign(rand.Reader, input, opts)
	if err != nil {
		return nil, err
	}
	if err := verifyCRLSignature(issuer.Public, hash, input, tbsDER, sig); err != nil {
		return nil, err
	}
	out := cryptobyte.NewBuilder(make([]byte, 0, len(tbsDER)+len(sigAlg)+len(sig)+16))
	out.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(tbsDER)
		b.AddBytes(sigAlg)
		b.AddASN1BitString(sig)
	})
	return out.Bytes()
}

// derUnsigned is the content octets of a non-negative INTEGER.
func derUnsigned(v []byte) []byte {
	for len(v) > 1 && v[0] == 0 && v[1]&0x80 == 0 {
		v = v[1:]
	}
	if v[0]&0x80 != 0 {
		return append([]byte{0}, v...)
	}
	return v
}

// addTime writes UTCTime through 2049 and GeneralizedTime after (RFC 5280).
func addTime(b *cryptobyte.Builder, t time.Time) {
	t = t.UTC()
	if t.Year() < 2050 {
		b.AddASN1UTCTime(t)
	} else {
		b.AddASN1GeneralizedTime(t)
	}
}

// crlSignatureAlgorithm returns the DER AlgorithmIdentifier and hash for a
// CA key (hash 0: SM2, which signs the whole TBS with Z and SM3).
func crlSignatureAlgorithm(pub crypto.PublicKey) ([]byte, crypto.Hash, error) {
	var b cryptobyte.Builder
	var hash crypto.Hash
	switch k := pub.(type) {
	case *rsa.PublicKey:
		hash = crypto.SHA256
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier([]int{1, 2, 840, 113549, 1, 1, 11})
			b.AddASN1NULL()
		})
	case *ecdsa.PublicKey:
		oid := []int{1, 2, 840, 10045, 4, 3, 2}
		hash = crypto.SHA256
		switch k.Curve {
		case elliptic.P384():
			oid, hash = []int{1, 2, 840, 10045, 4, 3, 3}, crypto.SHA384
		case elliptic.P521():
			oid, hash = []int{1, 2, 840, 10045, 4, 3, 4}, crypto.SHA512
		}
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oid) })
	case *sm2.PublicKey:
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oidSM2WithSM3) })
	default:
		return nil, 0, fmt.Errorf("unsupported CA key %T", pub)
	}
	der, err := b.Bytes()
	return der, hash, err
}

var errCRLSignature = errors.New("CRL signature returned by the token does not verify")

func verifyCRLSignature(pub crypto.PublicKey, hash crypto.Hash, digest, tbs, sig []byte) error {
	ok := false
	switch k := pub.(type) {
	case *rsa.PublicKey:
		ok = rsa.VerifyPKCS1v15(k, hash, digest, sig) == nil
	case *ecdsa.PublicKey:
		ok = ecdsa.VerifyASN1(k, digest, sig)
	case *sm2.PublicKey:
		ok = k.Verify(tbs, sig)
	}
	if !ok {
		return errCRLSignature
	}
	return nil
}
