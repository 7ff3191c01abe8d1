package certmgr

import "strings"

// Each request type names the resources its operation acts on, so the
// server authorizes exactly those and hands the same value to the
// operation: no second reading of raw parameters can disagree with what
// the operation does. nil means the call acts on the account as a whole
// (a creation without a parent, a listing, a search).

// Resources is the parent CA, for a subordinate CA; nil for a root.
func (r CreateCARequest) Resources() []string { return nonEmpty(r.ParentIdentifier) }

// Resources is the issuing CA.
func (r IssueRequest) Resources() []string { return []string{r.ParentIdentifier} }

// Resources is the issuing CA.
func (r ExtensionRequest) Resources() []string { return []string{r.ParentIdentifier} }

// Resources is the issuing CA.
func (r CustomRequest) Resources() []string { return []string{r.ParentIdentifier} }

// Resources is nil: the certificate does not exist yet.
func (r CreateCertificateRequest) Resources() []string { return nil }

// Resources is the certificate uploaded to.
func (r UploadCertificateRequest) Resources() []string { return []string{r.CertificateID} }

// Resources is the certificate whose key signs or verifies.
func (r SignRequest) Resources() []string { return []string{r.CertificateID} }

// Resources is the certificate whose key encrypts or decrypts.
func (r EncryptRequest) Resources() []string { return []string{r.CertificateID} }

func nonEmpty(id string) []string {
	if id == "" {
		return nil
	}
	return []string{id}
}

// CostRSA4096 names RSA-4096 key generation, the most expensive token
// operation a request can ask for (about 1.6 s of SoftHSM CPU): the
// server gives it a throttle of its own.
const CostRSA4096 = "RSA_4096"

// Cost names the expensive work a request asks for, or "".
func (r GenerateRequest) Cost() string { return rsa4096(r.Algorithm) }

// Cost names the expensive work a request asks for, or "".
func (r CreateCARequest) Cost() string { return rsa4096(r.Algorithm) }

// Cost names the expensive work a request asks for, or "": a generated
// key of 4096 bits (only RSA has that size).
func (r ExtensionRequest) Cost() string {
	if r.CsrPemString == "" && r.AlgorithmKeySize == 4096 {
		return CostRSA4096
	}
	return ""
}

func rsa4096(alg string) string {
	if strings.EqualFold(alg, "RSA_4096") {
		return CostRSA4096
	}
	return ""
}
