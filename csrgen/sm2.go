package csrgen

// This file is the only one that imports gmsm. Go's crypto/x509 refuses SM2
// keys, so SM2 requests are built and checked with gmsm's copy of it, and
// its types stop here: the rest of the package sees crypto.Signer,
// pkix.Extension and *sm2.PublicKey only.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"io"

	"github.com/tjfoc/gmsm/sm2"
	gmx509 "github.com/tjfoc/gmsm/x509"
)

var (
	// oidSM2Curve names the SM2 curve (GM/T 0006); an SM2 key's SPKI is
	// id-ecPublicKey with this curve, and some encoders put it in the
	// algorithm itself.
	oidSM2Curve = asn1.ObjectIdentifier{1, 2, 156, 10197, 1, 301}
	// oidSM2WithSM3 is the SM2-with-SM3 signature algorithm.
	oidSM2WithSM3 = asn1.ObjectIdentifier{1, 2, 156, 10197, 1, 501}
)

// sigAlgSM2SM3 is CSR.SignatureAlgorithm for an SM2 request, named in the
// style of crypto/x509's SignatureAlgorithm.String.
const sigAlgSM2SM3 = "SM2-SM3"

// sm2Public returns pub as an SM2 public key if it is one: a
// *sm2.PublicKey, or a *ecdsa.PublicKey on the SM2 curve (as gmsm's own
// parsers return it).
func sm2Public(pub crypto.PublicKey) (*sm2.PublicKey, bool) {
	switch k := pub.(type) {
	case *sm2.PublicKey:
		if k != nil && k.Curve == sm2.P256Sm2() && k.X != nil && k.Y != nil {
			return k, true
		}
	case *ecdsa.PublicKey:
		//lint:ignore SA1019 gmsm hands SM2 keys over as big.Int coordinates
		if k != nil && k.Curve == sm2.P256Sm2() && k.X != nil && k.Y != nil {
			//lint:ignore SA1019 gmsm hands SM2 keys over as big.Int coordinates
			return &sm2.PublicKey{Curve: k.Curve, X: k.X, Y: k.Y}, true
		}
	}
	return nil, false
}

// sm2Signer shows gmsm the *sm2.PublicKey it insists on, whatever form the
// underlying signer's Public returns.
type sm2Signer struct {
	crypto.Signer
	pub *sm2.PublicKey
}

var _ crypto.Signer = sm2Signer{}

func (s sm2Signer) Public() crypto.PublicKey { return s.pub }

// createSM2CSR signs a request with gmsm. SignatureAlgorithm is set
// explicitly: with it left zero, gmsm's CreateCertificate hands an SM2
// signer SM3(tbs) instead of tbs and the signature is silently wrong;
// CreateCertificateRequest happens to treat zero like SM2WithSM3, but we do
// not lean on that. gmsm then calls signer.Sign(rand, tbs, opts) with
// the RAW to-be-signed bytes (not a digest) and opts of gmsm's SM3 hash
// value, which is no valid crypto.Hash: the signer must compute
// Z = SM3(ENTL‖"1234567812345678"‖curve‖key), e = SM3(Z‖tbs) itself and
// return an ASN.1 (r, s), as *sm2.PrivateKey does.
func createSM2CSR(rand io.Reader, subject []byte, exts []pkix.Extension, signer crypto.Signer, pub *sm2.PublicKey) (der []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			der, err = nil, errors.New("gmsm panicked while building the SM2 request")
		}
	}()
	tmpl := &gmx509.CertificateRequest{
		RawSubject:         subject,
		ExtraExtensions:    exts,
		SignatureAlgorithm: gmx509.SM2WithSM3,
	}
	return gmx509.CreateCertificateRequest(rand, tmpl, sm2Signer{Signer: signer, pub: pub})
}

// parsedRequest is what the family-specific parsers hand back to ParseCSR.
type parsedRequest struct {
	publicKey  crypto.PublicKey
	extensions []pkix.Extension
	sigAlg     string
}

// parseSM2CSR parses an SM2 request with gmsm and verifies its signature
// (SM2 with SM3 and the default user ID). gmsm is not hardened against
// malformed input, so a panic becomes an error here.
func parseSM2CSR(der []byte) (p *parsedRequest, err error) {
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, errors.New("malformed SM2 request")
		}
	}()
	csr, err := gmx509.ParseCertificateRequest(der)
	if err != nil {
		return nil, errors.New("SM2 request does not parse")
	}
	if csr.SignatureAlgorithm != gmx509.SM2WithSM3 {
		return nil, errors.New("an SM2 request must be signed with SM2-SM3")
	}
	pub, ok := sm2Public(csr.PublicKey)
	if !ok {
		return nil, errors.New("an SM2-SM3 signature needs an SM2 public key")
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, errors.New("signature does not verify")
	}
	return &parsedRequest{publicKey: pub, extensions: csr.Extensions, sigAlg: sigAlgSM2SM3}, nil
}
