package csrgen

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"net/url"
)

// maxCSRLen bounds ParseCSR's input; an RSA-4096 request with ten names is
// under 2 KB.
const maxCSRLen = 64 << 10

// Request is what CreateCSR puts in a PKCS#10 request: the subject and the
// subject alternative names (sent in an extensionRequest attribute).
type Request struct {
	Subject        DN
	DNSNames       []string
	EmailAddresses []string
	IPAddresses    []net.IP
	URIs           []*url.URL
}

func (r Request) sans() SANs {
	return SANs{DNSNames: r.DNSNames, EmailAddresses: r.EmailAddresses, IPAddresses: r.IPAddresses, URIs: r.URIs}
}

// CreateCSR builds a PKCS#10 request for req signed by signer and returns
// its DER. The subject is encoded by DN.Marshal (so multi-valued RDNs and
// order survive, and string types match OpenSSL's); names are checked with
// ValidateSANs. RSA and ECDSA (P-256/384/521) requests are built with
// crypto/x509 (PKCS#1 v1.5 with SHA-256 for RSA; ECDSA with SHA-256, -384
// or -512 for P-256, P-384 or P-521). SM2 requests are built with gmsm and
// signed SM2-SM3: the signer's Public returns *sm2.PublicKey (or an
// *ecdsa.PublicKey on the SM2 curve), and its Sign gets the RAW
// to-be-signed bytes with opts that are no valid crypto.Hash; it must
// compute Z with the default user ID "1234567812345678" and e = SM3(Z‖msg)
// itself and return an ASN.1 (r, s), as *sm2.PrivateKey does.
//
// The request is parsed and its signature verified before it is returned, so
// a signer that signs with another key than the one it reports fails here
// (ErrInvalidCSR) rather than at the CA. A failure of the signer itself is
// wrapped as is (errors.Is finds it), not under a csrgen sentinel.
func CreateCSR(rand io.Reader, req Request, signer crypto.Signer) (der []byte, err error) {
	if signer == nil {
		return nil, newErr(ErrUnsupportedKey, "no signer")
	}
	pub := signer.Public()
	if _, err := KeyAlgorithm(pub); err != nil {
		return nil, err
	}
	if len(req.Subject.String()) > maxDNLen {
		return nil, newErr(ErrInvalidDN, "DN is longer than %d bytes once escaped", maxDNLen)
	}
	subject, err := req.Subject.Marshal()
	if err != nil {
		return nil, err
	}
	sans := req.sans()
	if err := ValidateSANs(sans); err != nil {
		return nil, err
	}
	var exts []pkix.Extension
	if len(sans.DNSNames)+len(sans.EmailAddresses)+len(sans.IPAddresses)+len(sans.URIs) > 0 {
		ext, err := marshalSANExtension(sans)
		if err != nil {
			return nil, err
		}
		exts = append(exts, ext)
	}
	rs := &recordingSigner{Signer: signer}
	smPub, isSM2 := sm2Public(pub)
	if isSM2 {
		der, err = createSM2CSR(rand, subject, exts, rs, smPub)
	} else {
		tmpl := &x509.CertificateRequest{RawSubject: subject, ExtraExtensions: exts}
		der, err = x509.CreateCertificateRequest(rand, tmpl, rs)
	}
	if err != nil {
		if rs.signed {
			// crypto/x509 checks the signature itself and fails here.
			return nil, &csrError{sentinel: ErrInvalidCSR, cause: err, msg: errBadSignerMsg}
		}
		return nil, wrapCause(err, "sign the request")
	}
	// crypto/x509 verified its signature against pub before returning (a
	// second check here was a fifth of a pooled CreateCertificate's CPU);
	// gmsm does not, so an SM2 request is parsed and verified here.
	if isSM2 {
		if _, err := ParseCSR(der); err != nil {
			return nil, newErr(ErrInvalidCSR, "%s", errBadSignerMsg)
		}
	}
	return der, nil
}

const errBadSignerMsg = "the signer's signature does not verify against its public key"

// recordingSigner tells a signer that failed apart from a signature that
// came back and did not verify, without matching error strings.
type recordingSigner struct {
	crypto.Signer
	signed bool // Sign returned a signature
}

func (s *recordingSigner) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	sig, err := s.Signer.Sign(rand, digest, opts)
	s.signed = err == nil
	return sig, err
}

// CSR is a parsed PKCS#10 request whose self-signature has been verified.
type CSR struct {
	// Raw is the whole DER request; RawSubject its encoded subject, to copy
	// byte for byte into a certificate.
	Raw        []byte
	RawSubject []byte
	Subject    DN
	// PublicKey is *rsa.PublicKey, *ecdsa.PublicKey (P-256/384/521) or
	// *sm2.PublicKey (github.com/tjfoc/gmsm/sm2).
	PublicKey crypto.PublicKey
	// KeyAlgorithm is KeyAlgorithm(PublicKey): "RSA_2048", "EC_P256", ...
	KeyAlgorithm   string
	DNSNames       []string
	EmailAddresses []string
	IPAddresses    []net.IP
	URIs           []*url.URL
	// SignatureAlgorithm names the self-signature's algorithm as
	// crypto/x509 does ("SHA256-RSA", "ECDSA-SHA256", ...), or "SM2-SM3".
	SignatureAlgorithm string
}

// SANs returns the request's subject alternative names, for ValidateSANs.
func (c *CSR) SANs() SANs {
	return SANs{DNSNames: c.DNSNames, EmailAddresses: c.EmailAddresses, IPAddresses: c.IPAddresses, URIs: c.URIs}
}

// certificationRequest is the outer PKCS#10 shape, read only to find the
// subject and pick the parser: crypto/x509 for RSA and ECDSA, gmsm for SM2.
type certificationRequest struct {
	TBS struct {
		Raw        asn1.RawContent
		Version    int
		Subject    asn1.RawValue
		PublicKey  subjectPublicKeyInfo
		Attributes asn1.RawValue
	}
	SignatureAlgorithm pkix.AlgorithmIdentifier
	Signature          asn1.BitString
}

type subjectPublicKeyInfo struct {
	Raw       asn1.RawContent // the whole encoding, for PublicKeyInfo
	Algorithm pkix.AlgorithmIdentifier
	PublicKey asn1.BitString
}

var oidPublicKeyEC = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}

// ParseCSR parses a request given as PEM ("CERTIFICATE REQUEST" or "NEW
// CERTIFICATE REQUEST", nothing but whitespace after the block) or DER
// (nothing after it), and verifies its self-signature. A request for an SM2
// key (the SM2 curve in its SubjectPublicKeyInfo) or with an SM2-SM3
// signature is handled by gmsm; others by crypto/x509. The public key must
// be one KeyAlgorithm knows, and the subject must print (String) within the
// length ParseDN accepts. Names in the SAN extension are decoded but not
// judged; see ValidateSANs. Every failure wraps ErrInvalidCSR.
func ParseCSR(data []byte) (c *CSR, err error) {
	defer func() {
		// Neither parser should panic; if one does on hostile input, it is
		// still just a bad request.
		if r := recover(); r != nil {
			c, err = nil, newErr(ErrInvalidCSR, "malformed request")
		}
	}()
	if len(data) > maxCSRLen {
		return nil, newErr(ErrInvalidCSR, "request is longer than %d bytes", maxCSRLen)
	}
	der, err := csrDER(data)
	if err != nil {
		return nil, err
	}
	var outer certificationRequest
	rest, err := asn1.Unmarshal(der, &outer)
	if err != nil {
		return nil, newErr(ErrInvalidCSR, "request is not a DER PKCS#10 structure")
	}
	if len(rest) != 0 {
		return nil, newErr(ErrInvalidCSR, "trailing data after the request")
	}
	if outer.TBS.Version != 0 {
		return nil, newErr(ErrInvalidCSR, "request version must be 1 (encoded 0)")
	}
	subject, err := unmarshalName(outer.TBS.Subject.FullBytes)
	if err != nil {
		return nil, newErr(ErrInvalidCSR, "%s", err.Error())
	}
	// The same bound as ParseDN, so a subject taken from a request can be
	// stored and shown as a string that ParseDN reads back.
	if len(subject.String()) > maxDNLen {
		return nil, newErr(ErrInvalidCSR, "subject is longer than %d bytes once printed", maxDNLen)
	}
	var p *parsedRequest
	if isSM2Request(&outer) {
		p, err = parseSM2CSR(der)
	} else {
		p, err = parseStdCSR(der)
	}
	if err != nil {
		return nil, newErr(ErrInvalidCSR, "%s", err.Error())
	}
	alg, err := KeyAlgorithm(p.publicKey)
	if err != nil {
		return nil, newErr(ErrInvalidCSR, "public key is not RSA, ECDSA P-256/384/521 or SM2")
	}
	c = &CSR{
		Raw:                append([]byte(nil), der...),
		RawSubject:         append([]byte(nil), outer.TBS.Subject.FullBytes...),
		Subject:            subject,
		PublicKey:          p.publicKey,
		KeyAlgorithm:       alg,
		SignatureAlgorithm: p.sigAlg,
	}
	found := false
	for _, ext := range p.extensions {
		if !ext.Id.Equal(oidExtSubjectAltName) {
			continue
		}
		if found {
			return nil, newErr(ErrInvalidCSR, "request has two subjectAltName extensions")
		}
		found = true
		s, err := parseSANExtension(ext.Value)
		if err != nil {
			return nil, newErr(ErrInvalidCSR, "%s", err.Error())
		}
		c.DNSNames, c.EmailAddresses, c.IPAddresses, c.URIs = s.DNSNames, s.EmailAddresses, s.IPAddresses, s.URIs
	}
	return c, nil
}

// csrDER unwraps PEM if the input is PEM, else returns it as DER.
func csrDER(data []byte) ([]byte, error) {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if !bytes.HasPrefix(trimmed, []byte("-----BEGIN")) {
		return data, nil
	}
	block, rest := pem.Decode(trimmed)
	if block == nil {
		return nil, newErr(ErrInvalidCSR, "PEM does not decode")
	}
	if block.Type != "CERTIFICATE REQUEST" && block.Type != "NEW CERTIFICATE REQUEST" {
		return nil, newErr(ErrInvalidCSR, "PEM block is %s, want CERTIFICATE REQUEST", quote(block.Type))
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, newErr(ErrInvalidCSR, "trailing data after the PEM block")
	}
	return block.Bytes, nil
}

func isSM2Request(r *certificationRequest) bool {
	if r.SignatureAlgorithm.Algorithm.Equal(oidSM2WithSM3) {
		return true
	}
	alg := r.TBS.PublicKey.Algorithm
	if alg.Algorithm.Equal(oidSM2Curve) {
		return true
	}
	if !alg.Algorithm.Equal(oidPublicKeyEC) {
		return false
	}
	var curve asn1.ObjectIdentifier
	rest, err := asn1.Unmarshal(alg.Parameters.FullBytes, &curve)
	return err == nil && len(rest) == 0 && curve.Equal(oidSM2Curve)
}

// parseStdCSR parses and verifies an RSA or ECDSA request with crypto/x509.
func parseStdCSR(der []byte) (*parsedRequest, error) {
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, errors.New("request does not parse")
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, errors.New("signature does not verify")
	}
	return &parsedRequest{publicKey: csr.PublicKey, extensions: csr.Extensions, sigAlg: csr.SignatureAlgorithm.String()}, nil
}

// PublicKeyInfo returns the DER SubjectPublicKeyInfo of a DER request,
// as the request carries it, without verifying the request's signature or
// the key: it is for a request this service made with CreateCSR and
// stored, read back on every DescribeCertificate, where verifying its own
// signature again (an ECDSA verification costs more than the rest of the
// call's reading) proves nothing a stored row does not. Anything from
// outside goes through ParseCSR.
func PublicKeyInfo(der []byte) ([]byte, error) {
	var outer certificationRequest
	rest, err := asn1.Unmarshal(der, &outer)
	if err != nil || len(rest) != 0 {
		return nil, newErr(ErrInvalidCSR, "request is not a DER PKCS#10 structure")
	}
	return outer.TBS.PublicKey.Raw, nil
}

// EncodeCSRPEM returns der as a PEM "CERTIFICATE REQUEST" block, the form
// OpenSSL and the KMS API use.
func EncodeCSRPEM(der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}
