package certmgr

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"github.com/certcustody/certcustody/certmgr/store"
	"github.com/certcustody/certcustody/csrgen"
	"github.com/certcustody/certcustody/keystore"
)

// UploadCertificateRequest is KMS UploadCertificate's input.
type UploadCertificateRequest struct {
	CertificateID    string
	Certificate      string // PEM
	CertificateChain string // PEM bundle, issuer first
}

// UploadCertificate attaches the signed certificate to a PENDING key. The
// certificate's public key must be the token key's, and the chain must
// verify it link by link; then the certificate becomes ACTIVE.
func (m *Manager) UploadCertificate(ctx context.Context, c Caller, req UploadCertificateRequest) error {
	if req.Certificate == "" {
		return MissingParameter("Certificate")
	}
	row, err := m.getKMS(ctx, c, req.CertificateID)
	if err != nil {
		return err
	}
	if row.Status != StatusPending {
		return RuleViolation("CertificateStatus", "The certificate is %s; only a PENDING certificate accepts an upload.", row.Status)
	}
	certs, err := parseCertsPEM(req.Certificate)
	if err != nil || len(certs) != 1 {
		return InvalidParameter("Certificate", "must be exactly one PEM certificate")
	}
	leaf := certs[0]
	csr, err := csrgen.ParseCSR(row.CSR)
	if err != nil {
		return Internal(fmt.Errorf("stored CSR of %s: %w", row.ID, err))
	}
	if !publicKeysEqual(leaf.Public, csr.PublicKey) {
		return RuleViolation("CertificatePublicKey", "The certificate's public key does not match the certificate's private key.")
	}
	chain, err := parseCertsPEM(req.CertificateChain)
	if err != nil {
		return InvalidParameter("CertificateChain", "must be PEM certificates")
	}
	if err := verifyChain(leaf, chain); err != nil {
		return RuleViolation("CertificateChain", "The certificate chain does not verify: %v", err)
	}
	row.Certificate, row.Chain = leaf.Raw, strings.TrimSpace(req.CertificateChain)
	row.Serial, row.Issuer, row.SignatureAlgorithm = strings.ToLower(leaf.Serial.Text(16)), leaf.Issuer(), leaf.SignatureAlgorithm
	nb, na := leaf.NotBefore.UTC(), leaf.NotAfter.UTC()
	row.NotBefore, row.NotAfter = &nb, &na
	row.Status, row.UpdatedAt = StatusActive, m.now()
	if err := m.db.Tx(ctx, func(tx *store.Tx) error { return tx.UpdateKMSCertificate(ctx, row, StatusPending) }); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return RuleViolation("CertificateStatus", "The certificate was changed by another request.")
		}
		return Internal(err)
	}
	return nil
}

// verifyChain checks each link's signature and names. An empty chain is
// accepted only for a self-signed certificate.
func verifyChain(leaf *cert, chain []*cert) error {
	if len(chain) == 0 {
		if err := leaf.checkSignedBy(leaf); err != nil {
			return fmt.Errorf("no chain given and the certificate is not self-signed")
		}
		return nil
	}
	if len(chain) > 10 {
		return fmt.Errorf("more than 10 certificates")
	}
	prev := leaf
	for i, ca := range chain {
		if ca.std != nil && !ca.std.IsCA {
			return fmt.Errorf("certificate %d of the chain is not a CA", i+1)
		}
		if ca.sm != nil && !ca.sm.IsCA {
			return fmt.Errorf("certificate %d of the chain is not a CA", i+1)
		}
		if err := prev.checkSignedBy(ca); err != nil {
			return fmt.Errorf("link %d: %v", i+1, err)
		}
		prev = ca
	}
	return nil
}

// GetCertificateResult is KMS GetCertificate's output.
type GetCertificateResult struct {
	CertificateID    string `json:"CertificateId"`
	Certificate      string `json:"Certificate"`
	CertificateChain string `json:"CertificateChain"`
	Csr              string `json:"Csr"`
}

// GetCertificate returns the CSR and, once uploaded, the certificate and chain.
func (m *Manager) GetCertificate(ctx context.Context, c Caller, id string) (*GetCertificateResult, error) {
	row, err := m.getKMS(ctx, c, id)
	if err != nil {
		return nil, err
	}
	out := &GetCertificateResult{CertificateID: row.ID, Csr: csrgen.EncodeCSRPEM(row.CSR), CertificateChain: row.Chain}
	if row.Certificate != nil {
		out.Certificate = certPEM(row.Certificate)
	}
	return out, nil
}

// CertificateDescription is KMS DescribeCertificate's output, with the
// cloud's field names and formats (times ISO 8601 UTC).
type CertificateDescription struct {
	CertificateID           string            `json:"CertificateId"`
	Arn                     string            `json:"Arn"`
	KeySpec                 string            `json:"KeySpec"`
	ProtectionLevel         string            `json:"ProtectionLevel"`
	ExportablePrivateKey    bool              `json:"ExportablePrivateKey"`
	Status                  string            `json:"Status"`
	Subject                 string            `json:"Subject"`
	SubjectAlternativeNames []string          `json:"SubjectAlternativeNames"`
	SubjectPublicKey        string            `json:"SubjectPublicKey"`
	SubjectKeyIdentifier    string            `json:"SubjectKeyIdentifier,omitempty"`
	Issuer                  string            `json:"Issuer,omitempty"`
	Serial                  string            `json:"Serial,omitempty"`
	SignatureAlgorithm      string            `json:"SignatureAlgorithm,omitempty"`
	NotBefore               string            `json:"NotBefore,omitempty"`
	NotAfter                string            `json:"NotAfter,omitempty"`
	CreatedAt               string            `json:"CreatedAt"`
	UpdatedAt               string            `json:"UpdatedAt"`
	Tags                    map[string]string `json:"Tags"`
	// KeyCustody is ours: the key's custody attributes, read live from
	// the token for this answer (the proof that a non-exportable key was
	// never extractable).
	KeyCustody *keystore.KeyCustody `json:"KeyCustody,omitempty"`
}

// DescribeCertificate describes a certificate and its key.
func (m *Manager) DescribeCertificate(ctx context.Context, c Caller, id string) (*CertificateDescription, error) {
	row, err := m.getKMS(ctx, c, id)
	if err != nil {
		return nil, err
	}
	spki, err := csrgen.PublicKeyInfo(row.CSR)
	if err != nil {
		return nil, Internal(err)
	}
	pub := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki}))
	d := &CertificateDescription{
		CertificateID: row.ID, Arn: m.kmsArn(c, row.ID), KeySpec: row.KeySpec, ProtectionLevel: row.ProtectionLevel,
		ExportablePrivateKey: row.Exportable, Status: row.Status, Subject: row.Subject,
		SubjectAlternativeNames: append([]string{}, row.SANs...), SubjectPublicKey: pub,
		Issuer: row.Issuer, Serial: row.Serial, SignatureAlgorithm: row.SignatureAlgorithm,
		CreatedAt: isoTime(row.CreatedAt), UpdatedAt: isoTime(row.UpdatedAt),
	}
	if d.Tags, err = m.KMSTagMap(ctx, c, row.ID); err != nil {
		return nil, err
	}
	if d.KeyCustody, err = m.kmsCustody(ctx, row); err != nil {
		return nil, Internal(err)
	}
	if row.NotBefore != nil {
		d.NotBefore, d.NotAfter = isoTime(*row.NotBefore), isoTime(*row.NotAfter)
	}
	if row.Certificate != nil {
		if leaf, err := parseCert(row.Certificate); err == nil {
			ski := leaf.SubjectKeyID
			if len(ski) == 0 {
				// An outside CA may leave the extension out; the SDK field
				// is still the key's identifier (RFC 5280 4.2.1.2 method 1).
				ski, _ = subjectKeyID(leaf.Public)
			}
			d.SubjectKeyIdentifier = hexUpper(ski)
		}
	}
	return d, nil
}

// UpdateCertificateStatus moves a certificate between ACTIVE and INACTIVE,
// or to REVOKED, which is final. PENDING ends only through an upload.
func (m *Manager) UpdateCertificateStatus(ctx context.Context, c Caller, id, status string) error {
	if status == "" {
		return MissingParameter("Status")
	}
	to := strings.ToUpper(status)
	if to != StatusActive && to != StatusInactive && to != StatusRevoked {
		return InvalidParameter("Status", "must be ACTIVE, INACTIVE or REVOKED")
	}
	row, err := m.getKMS(ctx, c, id)
	if err != nil {
		return err
	}
	from := row.Status
	switch {
	case from == to:
		return nil
	case from == StatusPending:
		return RuleViolation("CertificateStatus", "A PENDING certificate becomes ACTIVE only by uploading its certificate.")
	case from == StatusRevoked:
		return RuleViolation("CertificateStatus", "A REVOKED certificate cannot change status.")
	}
	row.Status, row.UpdatedAt = to, m.now()
	if err := m.db.Tx(ctx, func(tx *store.Tx) error { return tx.UpdateKMSCertificate(ctx, row, from) }); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return RuleViolation("CertificateStatus", "The certificate was changed by another request.")
		}
		return Internal(err)
	}
	return nil
}

// DeleteCertificate deletes the row, then destroys the key's token
// objects. The order is the point: a key destroyed inside a transaction
// that then fails to commit leaves a row whose key is gone, which can
// never be deleted. Once the deletion has committed no row names the key,
// so destroying it can only finish the job: a key already missing is
// success (a retry, or a crash between the commit and the destroy), and a
// key the token refuses to destroy now is left to the orphan sweep, which
// removes token keys that no row references.
func (m *Manager) DeleteCertificate(ctx context.Context, c Caller, id string) error {
	row, err := m.getKMS(ctx, c, id)
	if err != nil {
		return err
	}
	err = m.db.Tx(ctx, func(tx *store.Tx) error { return tx.DeleteKMSCertificate(ctx, c.AccountID, id) })
	if errors.Is(err, store.ErrNotFound) {
		return kmsNotFound(id)
	}
	if err != nil {
		return Internal(err)
	}
	if row.KeyBlob != nil {
		// A wrapped-class key lived in the row: only this node's unwrapped
		// object of it is left, and nothing can use it any more.
		m.keys.ForgetWrapped(context.WithoutCancel(ctx), row.KeyID)
		return nil
	}
	// The caller has its answer once the row is gone; the destroy must not
	// be cut short by a caller who hangs up.
	if err := m.keys.Destroy(context.WithoutCancel(ctx), row.KeyID); err != nil && !errors.Is(err, keystore.ErrNotFound) {
		m.log.Error("kms: the deleted certificate's key stays in the token until the orphan sweep", "certificate_id", id, "key_id", row.KeyID, "err", err)
	}
	return nil
}

// CertificateSummary is one row of ListCertificates.
type CertificateSummary struct {
	CertificateID string `json:"CertificateId"`
	Arn           string `json:"Arn"`
	KeySpec       string `json:"KeySpec"`
	Status        string `json:"Status"`
	Subject       string `json:"Subject"`
	CreatedAt     string `json:"CreatedAt"`
}

// CertificateList is ListCertificates' output.
type CertificateList struct {
	Certificates []CertificateSummary `json:"Certificates"`
	TotalCount   int                  `json:"TotalCount"`
	PageNumber   int                  `json:"PageNumber"`
	PageSize     int                  `json:"PageSize"`
}

// ListCertificates pages through the caller's certificates (PageNumber from
// 1, PageSize up to 100, default 20).
func (m *Manager) ListCertificates(ctx context.Context, c Caller, pageNumber, pageSize int) (*CertificateList, error) {
	if pageNumber == 0 {
		pageNumber = 1
	}
	if pageSize == 0 {
		pageSize = 20
	}
	if pageNumber < 1 || pageNumber > 1_000_000 {
		return nil, InvalidParameter("PageNumber", "must be between 1 and 1000000")
	}
	if pageSize < 1 || pageSize > 100 {
		return nil, InvalidParameter("PageSize", "must be between 1 and 100")
	}
	rows, total, err := m.db.ListKMSCertificates(ctx, c.AccountID, (pageNumber-1)*pageSize, pageSize)
	if err != nil {
		return nil, Internal(err)
	}
	out := &CertificateList{Certificates: []CertificateSummary{}, TotalCount: total, PageNumber: pageNumber, PageSize: pageSize}
	for _, r := range rows {
		out.Certificates = append(out.Certificates, CertificateSummary{CertificateID: r.ID, Arn: m.kmsArn(c, r.ID), KeySpec: r.KeySpec, Status: r.Status, Subject: r.Subject, CreatedAt: isoTime(r.CreatedAt)})
	}
	return out, nil
}
