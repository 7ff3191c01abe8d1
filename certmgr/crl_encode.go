package certmgr

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"time"

	"github.com/certcustody/certcustody/certmgr/store"
	"github.com/tjfoc/gmsm/sm2"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// crlWriter writes an RFC 5280 v2 CRL of a CA, for every key family,
// around entries: the DER of its revokedCertificates' elements as the
// store keeps them (a million entries are tens of megabytes). The store
// reads the entries straight into the buffer the writer allocates for the
// whole CRL (entriesBuffer), with room in front for the TBS's head and
// after it for the extensions and signature; everything else is a few
// hundred bytes written around them, so the CRL is one allocation and the
// entries are copied once, from the database into place. The CRL is
// signed by the CA's token key and its signature is checked before it is
// served.
type crlWriter struct {
	issuer *cert
	sigAlg []byte
	hash   crypto.Hash // 0: SM2, which signs the whole TBS with Z and SM3
	buf    []byte      // the CRL's buffer, once entriesBuffer made it
	front  int         // where the entries start in buf
}

func newCRLWriter(issuer *cert) (*crlWriter, error) {
	sigAlg, hash, err := crlSignatureAlgorithm(issuer.Public)
	if err != nil {
		return nil, err
	}
	return &crlWriter{issuer: issuer, sigAlg: sigAlg, hash: hash}, nil
}

// entriesBuffer allocates the CRL's buffer for size bytes of entries and
// returns the empty slice, of capacity size, that they are appended to
// (store.ReadCRLBuild's into).
func (w *crlWriter) entriesBuffer(size int) []byte {
	// In front: the outer and TBS headers, version, signature algorithm,
	// issuer, two times (GeneralizedTime at most 17 bytes) and the
	// revokedCertificates header. After: the extensions (AKI and CRL
	// number) and the signature.
	w.front = 6 + 6 + 3 + len(w.sigAlg) + len(w.issuer.RawSubject) + 2*17 + 6
	tail := 64 + len(w.issuer.SubjectKeyID) + len(w.sigAlg) + crlSignatureRoom(w.issuer.Public)
	w.buf = make([]byte, w.front+size+tail)
	return w.buf[w.front:w.front:(w.front + size)]
}

// inPlace reports whether entries are where entriesBuffer put them (the
// store appended no more than it announced).
func (w *crlWriter) inPlace(entries []byte) bool {
	return w.buf != nil && cap(entries) > 0 && &entries[:1][0] == &w.buf[w.front]
}

// write signs and returns the CRL c that lists entries, and where in it
// the entries are.
func (w *crlWriter) write(signer crypto.Signer, entries []byte, c *store.CRL) (der []byte, entriesAt int, err error) {
	if err := checkCRLEntries(entries); err != nil {
		return nil, 0, err
	}
	if !w.inPlace(entries) {
		into := w.entriesBuffer(len(entries))
		entries = append(into, entries...)
	}
	head := cryptobyte.NewBuilder(make([]byte, 0, w.front))
	head.AddASN1Int64(1) // v2
	head.AddBytes(w.sigAlg)
	head.AddBytes(w.issuer.RawSubject)
	addTime(head, c.ThisUpdate)
	addTime(head, c.NextUpdate)
	headDER, err := head.Bytes()
	if err != nil {
		return nil, 0, err
	}
	ext, err := crlExtensions(w.issuer, c.Number)
	if err != nil {
		return nil, 0, err
	}
	tbsBody := len(headDER) + len(ext)
	revokedHeader := 0
	if len(entries) > 0 { // an empty revokedCertificates is left out (RFC 5280 5.1.2.6)
		revokedHeader = store.DERHeaderLen(len(entries))
		tbsBody += revokedHeader + len(entries)
	}
	// The head goes right before the entries; the outer SEQUENCE's header
	// waits in the room before it for the signature's length.
	start := w.front - revokedHeader - len(headDER) - store.DERHeaderLen(tbsBody)
	if start < 6 {
		return nil, 0, fmt.Errorf("CRL head of %d bytes does not fit its room", w.front-start)
	}
	b := store.AppendDERHeader(w.buf[start:start], byte(cbasn1.SEQUENCE), tbsBody)
	b = append(b, headDER...)
	if len(entries) > 0 {
		b = store.AppendDERHeader(b, byte(cbasn1.SEQUENCE), len(entries))
	}
	b = b[:len(b)+len(entries)] // the entries, in place
	tbs := append(b, ext...)
	input, opts := tbs, crypto.SignerOpts(w.hash)
	if w.hash != 0 {
		h := w.hash.New()
		h.Write(tbs)
		input = h.Sum(nil)
	}
	sig, err := signer.Sign(rand.Reader, input, opts)
	if err != nil {
		return nil, 0, err
	}
	if err := verifyCRLSignature(w.issuer.Public, w.hash, input, tbs, sig); err != nil {
		return nil, 0, err
	}
	body := len(tbs) + len(w.sigAlg) + store.DERHeaderLen(len(sig)+1) + 1 + len(sig)
	if body > cap(tbs) {
		return nil, 0, fmt.Errorf("CRL signature of %d bytes does not fit its room", len(sig))
	}
	out := append(tbs, w.sigAlg...)
	out = store.AppendDERHeader(out, byte(cbasn1.BIT_STRING), len(sig)+1)
	out = append(out, 0) // no unused bits
	out = append(out, sig...)
	outer := start - store.DERHeaderLen(body)
	store.AppendDERHeader(w.buf[outer:outer], byte(cbasn1.SEQUENCE), body) // into the room, before the TBS
	return w.buf[outer : start+len(out)], w.front - outer, nil
}

// crlExtensions is the TBS's [0] crlExtensions: the authority key
// identifier and the CRL number.
func crlExtensions(issuer *cert, number int64) ([]byte, error) {
	var b cryptobyte.Builder
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
				b.AddASN1(cbasn1.OCTET_STRING, func(b *cryptobyte.Builder) { b.AddASN1Int64(number) })
			})
		})
	})
	return b.Bytes()
}

// checkCRLEntries walks the kept entries before they are signed: each is
// a well-formed SEQUENCE and together they fill the buffer, so a damaged
// chunk fails the build instead of yielding a CRL no one can parse.
func checkCRLEntries(entries []byte) error {
	s := cryptobyte.String(entries)
	for n := 0; !s.Empty(); n++ {
		var e cryptobyte.String
		if !s.ReadASN1(&e, cbasn1.SEQUENCE) {
			return fmt.Errorf("stored CRL entry %d is not a DER SEQUENCE", n)
		}
	}
	return nil
}

// crlSignatureRoom is room enough after the TBS for the signature
// algorithm's tail: the BIT STRING's header and the longest signature the
// key can make.
func crlSignatureRoom(pub crypto.PublicKey) int {
	if k, ok := pub.(*rsa.PublicKey); ok {
		return 64 + k.Size()
	}
	return 256 // ECDSA up to P-521 (at most 139 bytes), SM2 (at most 72)
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
