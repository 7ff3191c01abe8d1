package certmgr

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"errors"

	"github.com/certcustody/certcustody/certmgr/store"
)

// ClientCertificateDescription is DescribeClientCertificate's Certificate
// object (dates in Unix milliseconds, Sans as a JSON string).
type ClientCertificateDescription struct {
	Identifier       string `json:"Identifier"`
	ParentIdentifier string `json:"ParentIdentifier"`
	CertificateType  string `json:"CertificateType"`
	Status           string `json:"Status"`
	Algorithm        string `json:"Algorithm"`
	KeySize          int    `json:"KeySize"`
	SignAlgorithm    string `json:"SignAlgorithm"`
	SubjectDN        string `json:"SubjectDN"`
	SubjectNames
	SerialNumber    string `json:"SerialNumber"`
	BeforeDate      int64  `json:"BeforeDate"`
	AfterDate       int64  `json:"AfterDate"`
	Days            int    `json:"Days"`
	Sans            string `json:"Sans"`
	Md5             string `json:"Md5"`
	Sha2            string `json:"Sha2"`
	X509Certificate string `json:"X509Certificate"`
	ResourceGroupID string `json:"ResourceGroupId"`
	Tags            []Tag  `json:"Tags"`
}

// DescribeClientCertificate describes an issued server or client certificate.
func (m *Manager) DescribeClientCertificate(ctx context.Context, c Caller, id string) (*ClientCertificateDescription, error) {
	row, err := m.getIssued(ctx, c, id)
	if err != nil {
		return nil, err
	}
	return describeIssued(row)
}

func describeIssued(row *store.IssuedCertificate) (*ClientCertificateDescription, error) {
	parsed, err := parseCert(row.Certificate)
	if err != nil {
		return nil, Internal(err)
	}
	name := subjectFields(parsed)
	md := md5.Sum(row.Certificate)
	sh := sha256.Sum256(row.Certificate)
	return &ClientCertificateDescription{
		Identifier: row.Identifier, ParentIdentifier: row.IssuerIdentifier, CertificateType: row.CertificateType, Status: row.Status,
		Algorithm: row.Algorithm, KeySize: row.KeySize, SignAlgorithm: parsed.SignatureAlgorithm, SubjectDN: row.SubjectDN,
		SubjectNames: name, SerialNumber: row.Serial, BeforeDate: row.NotBefore.UnixMilli(), AfterDate: row.NotAfter.UnixMilli(),
		Days: int(row.NotAfter.Sub(row.NotBefore).Hours() / 24), Sans: sansJSON(parsed),
		Md5: hexUpper(md[:]), Sha2: hexUpper(sh[:]), X509Certificate: certPEM(row.Certificate),
		ResourceGroupID: row.ResourceGroupID, Tags: decodeTags(row.Tags),
	}, nil
}

// CertificateStatus is one entry of DescribeClientCertificateStatus, in
// the SDK's terms: Status good, revoked or unknown, RevokeTime (Unix ms)
// only when revoked.
type CertificateStatus struct {
	SerialNumber string `json:"SerialNumber,omitempty"`
	Status       string `json:"Status"`
	RevokeTime   int64  `json:"RevokeTime,omitempty"`
	// Identifier is ours: it says which entry answers which identifier
	// of the request (an unknown one has no serial number to tell).
	Identifier string `json:"Identifier"`
}

// Certificate status values of DescribeClientCertificateStatus.
const (
	statusGood    = "good"
	statusRevoked = "revoked"
	statusUnknown = "unknown"
)

// DescribeClientCertificateStatus reports the status of each identifier,
// in order. An identifier that names no certificate of the caller's
// account answers unknown, as the SDK documents, so one stale identifier
// does not fail the whole list.
func (m *Manager) DescribeClientCertificateStatus(ctx context.Context, c Caller, ids []string) ([]CertificateStatus, error) {
	if len(ids) == 0 {
		return nil, MissingParameter("Identifier")
	}
	out := make([]CertificateStatus, 0, len(ids))
	for _, id := range ids {
		row, err := m.db.GetIssuedCertificate(ctx, c.AccountID, id)
		if errors.Is(err, store.ErrNotFound) {
			out = append(out, CertificateStatus{Identifier: id, Status: statusUnknown})
			continue
		}
		if err != nil {
			return nil, Internal(err)
		}
		out = append(out, issuedStatus(row))
	}
	return out, nil
}

// issuedStatus is a certificate's status entry.
func issuedStatus(row *store.IssuedCertificate) CertificateStatus {
	s := CertificateStatus{Identifier: row.Identifier, SerialNumber: serialOut(row.Serial), Status: statusGood}
	if row.Status == caStatusRevoke {
		s.Status = statusRevoked
		if row.RevokedAt != nil {
			s.RevokeTime = row.RevokedAt.UnixMilli()
		}
	}
	return s
}

func (m *Manager) getIssued(ctx context.Context, c Caller, id string) (*store.IssuedCertificate, error) {
	if id == "" {
		return nil, MissingParameter("Identifier")
	}
	row, err := m.db.GetIssuedCertificate(ctx, c.AccountID, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, NotFound("NotFound.Certificate", "The certificate %q is not found.", id)
	}
	if err != nil {
		return nil, Internal(err)
	}
	return row, nil
}

// CAList is DescribeCACertificateList's output.
type CAList struct {
	CertificateList []*CADescription `json:"CertificateList"`
	TotalCount      int              `json:"TotalCount"`
	CurrentPage     int              `json:"CurrentPage"`
	ShowSize        int              `json:"ShowSize"`
	PageCount       int              `json:"PageCount"`
}

// DescribeCACertificateList pages through the caller's CAs.
func (m *Manager) DescribeCACertificateList(ctx context.Context, c Caller, page, size int) (*CAList, error) {
	page, size, err := pageArgs(page, size)
	if err != nil {
		return nil, err
	}
	rows, total, err := m.db.ListCACertificates(ctx, c.AccountID, (page-1)*size, size)
	if err != nil {
		return nil, Internal(err)
	}
	out := &CAList{CertificateList: []*CADescription{}, TotalCount: total, CurrentPage: page, ShowSize: size, PageCount: (total + size - 1) / size}
	for _, r := range rows {
		d, err := m.DescribeCACertificate(ctx, c, r.Identifier)
		if err != nil {
			return nil, err
		}
		out.CertificateList = append(out.CertificateList, d)
	}
	return out, nil
}

// DescribeCACertificateCount counts the caller's CAs.
func (m *Manager) DescribeCACertificateCount(ctx context.Context, c Caller) (int, error) {
	_, total, err := m.db.ListCACertificates(ctx, c.AccountID, 0, 1)
	if err != nil {
		return 0, Internal(err)
	}
	return total, nil
}

// ClientCertificateList is ListClientCertificate's and
// ListRevokeCertificate's output.
type ClientCertificateList struct {
	CertificateList []*ClientCertificateDescription `json:"CertificateList"`
	TotalCount      int                             `json:"TotalCount"`
	CurrentPage     int                             `json:"CurrentPage"`
	ShowSize        int                             `json:"ShowSize"`
	PageCount       int                             `json:"PageCount"`
}

// ListClientCertificate pages through the caller's issued certificates;
// ListRevokeCertificate through the revoked ones (revokedOnly).
func (m *Manager) ListClientCertificate(ctx context.Context, c Caller, revokedOnly bool, page, size int) (*ClientCertificateList, error) {
	page, size, err := pageArgs(page, size)
	if err != nil {
		return nil, err
	}
	rows, total, err := m.db.ListIssuedCertificates(ctx, c.AccountID, revokedOnly, (page-1)*size, size)
	if err != nil {
		return nil, Internal(err)
	}
	out := &ClientCertificateList{CertificateList: []*ClientCertificateDescription{}, TotalCount: total, CurrentPage: page, ShowSize: size, PageCount: (total + size - 1) / size}
	for _, r := range rows {
		d, err := describeIssued(r)
		if err != nil {
			return nil, err
		}
		out.CertificateList = append(out.CertificateList, d)
	}
	return out, nil
}

// DeleteClientCertificate deletes a revoked certificate (a live one must be
// revoked first, so that it stays on its CRL while it is valid).
func (m *Manager) DeleteClientCertificate(ctx context.Context, c Caller, id string) error {
	if id == "" {
		return MissingParameter("Identifier")
	}
	err := m.db.Tx(ctx, func(tx *store.Tx) error { return tx.DeleteRevokedCertificate(ctx, c.AccountID, id) })
	switch {
	case errors.Is(err, store.ErrNotFound):
		return NotFound("NotFound.Certificate", "The certificate %q is not found.", id)
	case errors.Is(err, store.ErrConflict):
		return RuleViolation("Status", "Only a revoked certificate can be deleted; revoke it first.")
	case err != nil:
		return Internal(err)
	}
	return nil
}

// pageArgs applies the Private CA paging defaults (CurrentPage 1, ShowSize
// 20) and limits (ShowSize at most 100).
func pageArgs(page, size int) (int, int, error) {
	if page == 0 {
		page = 1
	}
	if size == 0 {
		size = 20
	}
	if page < 1 || page > 1_000_000 || size < 1 || size > 100 {
		return 0, 0, InvalidParameter("ShowSize", "CurrentPage from 1, ShowSize 1 to 100")
	}
	return page, size, nil
}
