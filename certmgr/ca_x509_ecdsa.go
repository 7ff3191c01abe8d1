package certmgr

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// ECDSA issuers sign through x509.CreateCertificate's encoder but not its
// self-check. CreateCertificate verifies every signature it gets back from
// the signer with the issuer's public key, and an ECDSA verification costs
// more than the token's signature: it was 12% of a live server's CPU under
// CSR issuance. The check is kept for RSA issuers, where a faulty RSA-CRT
// signature on a certificate (a public message) gives the CA key away to
// anyone who reads it (Boneh–DeMillo–Lipton). A faulty ECDSA signature has
// no such single-shot consequence, and the fault that does endanger an
// ECDSA key, a weak nonce, yields a signature that verifies anyway; a
// corrupted one is a certificate every relying party rejects.

// errTBSSigned stops CreateCertificate once the token has signed.
var errTBSSigned = errors.New("certmgr: TBSCertificate signed")

// tbsSigner is the crypto.MessageSigner handed to x509.CreateCertificate
// for an ECDSA issuer: it has the token sign the TBSCertificate Go
// encoded, keeps both, and returns errTBSSigned so that CreateCertificate
// stops before verifying. Its Public is the issuer's key, so
// CreateCertificate's check that the signer holds the parent's key stands.
type tbsSigner struct {
	crypto.Signer
	tbs, sig []byte
}

// SignMessage signs the TBSCertificate msg with the token key.
func (s *tbsSigner) SignMessage(rand io.Reader, msg []byte, opts crypto.SignerOpts) ([]byte, error) {
	h := opts.HashFunc()
	if !h.Available() {
		return nil, fmt.Errorf("hash %v unavailable", h)
	}
	d := h.New()
	d.Write(msg)
	sig, err := s.Signer.Sign(rand, d.Sum(nil), opts)
	if err != nil {
		return nil, err
	}
	s.tbs, s.sig = msg, sig
	return nil, errTBSSigned
}

// createECDSACertificate is x509.CreateCertificate for an ECDSA signer
// without the verification of its own signature (see above).
func createECDSACertificate(tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) ([]byte, error) {
	ts := &tbsSigner{Signer: signer}
	_, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, ts)
	if !errors.Is(err, errTBSSigned) {
		if err == nil {
			err = errors.New("x509: certificate made without the token's signature")
		}
		return nil, err
	}
	return assembleCertificate(ts.tbs, ts.sig)
}

// assembleCertificate encodes Certificate ::= SEQUENCE { tbsCertificate,
// signatureAlgorithm, signatureValue } (RFC 5280 §4.1), with the outer
// algorithm copied from the TBSCertificate's signature field, which the
// RFC requires it to equal.
func assembleCertificate(tbs, sig []byte) ([]byte, error) {
	in := cryptobyte.String(tbs)
	var body, alg cryptobyte.String
	if !in.ReadASN1(&body, cbasn1.SEQUENCE) || !in.Empty() ||
		!body.SkipOptionalASN1(cbasn1.Tag(0).Constructed().ContextSpecific()) ||
		!body.SkipASN1(cbasn1.INTEGER) ||
		!body.ReadASN1Element(&alg, cbasn1.SEQUENCE) {
		return nil, errors.New("x509: malformed TBSCertificate")
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(tbs)
		b.AddBytes(alg)
		b.AddASN1BitString(sig)
	})
	return b.Bytes()
}
