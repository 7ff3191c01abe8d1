package certmgr

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
