package certmgr

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"errors"
	"strings"
	"time"

	"github.com/certcustody/certcustody/certmgr/store"
)

// ClientCertificateDescription is DescribeClientCertificate's Certificate
// object (dates in Unix milliseconds, Sans as a JSON string).
type ClientCertificateDescription struct {
	ClientCertificateSummary
	CertChain     string `json:"CertChain"`
	FullAlgorithm string `json:"FullAlgorithm"`
	// UploadFlag is 0: every certificate here was issued here.
	UploadFlag int   `json:"UploadFlag"`
	Tags       []Tag `json:"Tags"`
}

// ClientCertificateSummary is one item of ListClientCertificate: the
// description without the chain and tags.
type ClientCertificateSummary struct {
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
	AliasName       string `json:"AliasName"`
	// CustomIdentifier is the caller's own unique name for it.
	CustomIdentifier string `json:"CustomIdentifier"`
}

// DescribeClientCertificate describes an issued server or client certificate.
func (m *Manager) DescribeClientCertificate(ctx context.Context, c Caller, id string) (*ClientCertificateDescription, error) {
	row, err := m.getIssued(ctx, c, id)
	if err != nil {
		return nil, err
	}
	sum, facts, err := m.summarizeIssued(row)
	if err != nil {
		return nil, err
	}
	// The issuer's chain never changes once the CA exists: the issuer
	// cache holds it, so a describe reads one row, not the whole chain.
	iss, err := m.issuerOf(ctx, c, row.IssuerIdentifier)
	if err != nil {
		return nil, Internal(err)
	}
	return &ClientCertificateDescription{ClientCertificateSummary: *sum, CertChain: iss.chainPEM,
		FullAlgorithm: facts.fullAlgorithm, Tags: decodeTags(row.Tags)}, nil
}

// issuedSummary builds a list item from the row, the certificate's facts
// and the SHA-256 of its DER.
func issuedSummary(row *store.IssuedCertificate, facts *certFacts, sh [sha256.Size]byte) *ClientCertificateSummary {
	md := md5.Sum(row.Certificate)
	return &ClientCertificateSummary{
		Identifier: row.Identifier, ParentIdentifier: row.IssuerIdentifier, CertificateType: row.CertificateType, Status: row.Status,
		Algorithm: row.Algorithm, KeySize: row.KeySize, SignAlgorithm: facts.signAlgorithm, SubjectDN: row.SubjectDN,
		SubjectNames: facts.subject, SerialNumber: serialOut(row.Serial), BeforeDate: row.NotBefore.UnixMilli(), AfterDate: row.NotAfter.UnixMilli(),
		Days: int(row.NotAfter.Sub(row.NotBefore).Hours() / 24), Sans: facts.sans,
		Md5: hexUpper(md[:]), Sha2: hexUpper(sh[:]), X509Certificate: certPEM(row.Certificate), ResourceGroupID: row.ResourceGroupID,
		AliasName: row.AliasName, CustomIdentifier: row.CustomIdentifier,
	}
}

// RevokedCertificateSummary is one item of ListRevokeCertificate, whose
// SDK shape carries dates as "yyyy-MM-ddTHH:mmZ" strings.
type RevokedCertificateSummary struct {
	Identifier       string `json:"Identifier"`
	ParentIdentifier string `json:"ParentIdentifier"`
	CertificateType  string `json:"CertificateType"`
	Status           string `json:"Status"`
	Algorithm        string `json:"Algorithm"`
	KeySize          int    `json:"KeySize"`
	SignAlgorithm    string `json:"SignAlgorithm"`
	SubjectDN        string `json:"SubjectDN"`
	SubjectNames
	SerialNumber string `json:"SerialNumber"`
	BeforeDate   string `json:"BeforeDate"`
	AfterDate    string `json:"AfterDate"`
	RevokeDate   string `json:"RevokeDate"`
	Sans         string `json:"Sans"`
	Md5          string `json:"Md5"`
	Sha2         string `json:"Sha2"`
	// CustomIdentifier is the caller's own unique name for it.
	CustomIdentifier string `json:"CustomIdentifier"`
}

// minuteTime is the "yyyy-MM-ddTHH:mmZ" form of ListRevokeCertificate.
func minuteTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04Z") }

func (m *Manager) revokedSummary(row *store.IssuedCertificate) (*RevokedCertificateSummary, error) {
	sum, _, err := m.summarizeIssued(row)
	if err != nil {
		return nil, err
	}
	r := &RevokedCertificateSummary{Identifier: sum.Identifier, ParentIdentifier: sum.ParentIdentifier, CertificateType: sum.CertificateType,
		Status: sum.Status, Algorithm: sum.Algorithm, KeySize: sum.KeySize, SignAlgorithm: sum.SignAlgorithm, SubjectDN: sum.SubjectDN,
		SubjectNames: sum.SubjectNames, SerialNumber: sum.SerialNumber, BeforeDate: minuteTime(row.NotBefore), AfterDate: minuteTime(row.NotAfter),
		Sans: sum.Sans, Md5: sum.Md5, Sha2: sum.Sha2, CustomIdentifier: sum.CustomIdentifier}
	if row.RevokedAt != nil {
		r.RevokeDate = minuteTime(*row.RevokedAt)
	}
	return r, nil
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
	CertificateList []*CASummary `json:"CertificateList"`
	TotalCount      int          `json:"TotalCount"`
	CurrentPage     int          `json:"CurrentPage"`
	ShowSize        int          `json:"ShowSize"`
	PageCount       int          `json:"PageCount"`
}

// CASummary is one item of DescribeCACertificateList, in its SDK shape.
type CASummary struct {
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
	Years           int    `json:"Years"`
	Md5             string `json:"Md5"`
	Sha2            string `json:"Sha2"`
	X509Certificate string `json:"X509Certificate"`
	ResourceGroupID string `json:"ResourceGroupId"`
	Alias           string `json:"Alias"`
	// Gift and Trial are the cloud's purchase flags: never, here.
	Gift  int `json:"Gift"`
	Trial int `json:"Trial"`
}

// CAListRequest is DescribeCACertificateList's filters and page.
type CAListRequest struct {
	Identifier  string // one CA
	CaStatus    string // issue|revoke (the SDK's forbidden matches nothing here)
	CertType    string // root|subRoot (externalCa: CAs whose key lives elsewhere)
	ValidStatus string // valid|notValid, at the time of the call
	IssuerType  string // local|external
	CurrentPage int
	ShowSize    int
}

// Resources is the one CA asked for, or nil for the account's list.
func (r CAListRequest) Resources() []string { return nonEmpty(r.Identifier) }

// DescribeCACertificateList pages through the caller's CAs that pass the
// request's filters.
func (m *Manager) DescribeCACertificateList(ctx context.Context, c Caller, r CAListRequest) (*CAList, error) {
	page, size, err := pageArgs(r.CurrentPage, r.ShowSize)
	if err != nil {
		return nil, err
	}
	f := store.CAFilter{Identifier: r.Identifier}
	empty := false
	switch strings.ToLower(r.CaStatus) {
	case "":
	case "issue":
		f.Status = caStatusIssue
	case "revoke":
		f.Status = caStatusRevoke
	case "forbidden":
		empty = true // no CA is disabled without being revoked here
	default:
		return nil, InvalidParameter("CaStatus", "issue, forbidden or revoke")
	}
	switch strings.ToLower(r.CertType) {
	case "":
	case "root":
		f.Type = caTypeRoot
	case "subroot":
		f.Type = caTypeSub
	case "externalca":
		f.IssuerType = store.IssuerExternal
	default:
		return nil, InvalidParameter("CertType", "root, subRoot or externalCa")
	}
	switch strings.ToLower(r.ValidStatus) {
	case "":
	case "valid", "notvalid":
		now := m.now()
		f.ValidAt, f.Valid = &now, strings.EqualFold(r.ValidStatus, "valid")
	default:
		return nil, InvalidParameter("ValidStatus", "valid or notValid")
	}
	switch strings.ToLower(r.IssuerType) {
	case "":
	case "local":
		f.IssuerType = store.IssuerLocal
	case "external":
		f.IssuerType = store.IssuerExternal
	case "itruschina":
		empty = true
	default:
		return nil, InvalidParameter("IssuerType", "local, iTrusChina or external")
	}
	out := &CAList{CertificateList: []*CASummary{}, CurrentPage: page, ShowSize: size}
	if empty {
		return out, nil
	}
	rows, total, err := m.db.FilterCACertificates(ctx, c.AccountID, f, (page-1)*size, size)
	if err != nil {
		return nil, Internal(err)
	}
	out.TotalCount, out.PageCount = total, (total+size-1)/size
	for _, ca := range rows {
		s, err := m.summarizeCA(ca)
		if err != nil {
			return nil, err
		}
		out.CertificateList = append(out.CertificateList, s)
	}
	return out, nil
}

func (m *Manager) summarizeCA(ca *store.CACertificate) (*CASummary, error) {
	sh := sha256.Sum256(ca.Certificate)
	facts, err := m.facts.factsOf(ca.Certificate, sh)
	if err != nil {
		return nil, Internal(err)
	}
	md := md5.Sum(ca.Certificate)
	return &CASummary{Identifier: ca.Identifier, ParentIdentifier: ca.ParentIdentifier, CertificateType: ca.CertificateType, Status: ca.Status,
		Algorithm: ca.Algorithm, KeySize: ca.KeySize, SignAlgorithm: facts.signAlgorithm, SubjectDN: ca.SubjectDN,
		SubjectNames: facts.subject, SerialNumber: serialOut(ca.Serial), BeforeDate: ca.NotBefore.UnixMilli(), AfterDate: ca.NotAfter.UnixMilli(),
		Years: ca.Years, Md5: hexUpper(md[:]), Sha2: hexUpper(sh[:]), X509Certificate: certPEM(ca.Certificate), ResourceGroupID: ca.ResourceGroupID,
		Alias: ca.AliasName}, nil
}

// DescribeCACertificateCount counts the caller's CAs.
func (m *Manager) DescribeCACertificateCount(ctx context.Context, c Caller) (int, error) {
	_, total, err := m.db.ListCACertificates(ctx, c.AccountID, 0, 1)
	if err != nil {
		return 0, Internal(err)
	}
	return total, nil
}

// ClientCertificateList is ListClientCertificate's output.
type ClientCertificateList struct {
	CertificateList []*ClientCertificateSummary `json:"CertificateList"`
	TotalCount      int                         `json:"TotalCount"`
	CurrentPage     int                         `json:"CurrentPage"`
	ShowSize        int                         `json:"ShowSize"`
	PageCount       int                         `json:"PageCount"`
}

// RevokedCertificateList is ListRevokeCertificate's output.
type RevokedCertificateList struct {
	CertificateList []*RevokedCertificateSummary `json:"CertificateList"`
	TotalCount      int                          `json:"TotalCount"`
	CurrentPage     int                          `json:"CurrentPage"`
	ShowSize        int                          `json:"ShowSize"`
	PageCount       int                          `json:"PageCount"`
}

// ListClientCertificate pages through the caller's issued certificates.
func (m *Manager) ListClientCertificate(ctx context.Context, c Caller, page, size int) (*ClientCertificateList, error) {
	page, size, err := pageArgs(page, size)
	if err != nil {
		return nil, err
	}
	rows, total, err := m.db.ListIssuedCertificates(ctx, c.AccountID, false, (page-1)*size, size)
	if err != nil {
		return nil, Internal(err)
	}
	out := &ClientCertificateList{CertificateList: []*ClientCertificateSummary{}, TotalCount: total, CurrentPage: page, ShowSize: size, PageCount: (total + size - 1) / size}
	for _, r := range rows {
		d, _, err := m.summarizeIssued(r)
		if err != nil {
			return nil, err
		}
		out.CertificateList = append(out.CertificateList, d)
	}
	return out, nil
}

// ListRevokeCertificate pages through the caller's revoked certificates.
func (m *Manager) ListRevokeCertificate(ctx context.Context, c Caller, page, size int) (*RevokedCertificateList, error) {
	page, size, err := pageArgs(page, size)
	if err != nil {
		return nil, err
	}
	rows, total, err := m.db.ListIssuedCertificates(ctx, c.AccountID, true, (page-1)*size, size)
	if err != nil {
		return nil, Internal(err)
	}
	out := &RevokedCertificateList{CertificateList: []*RevokedCertificateSummary{}, TotalCount: total, CurrentPage: page, ShowSize: size, PageCount: (total + size - 1) / size}
	for _, r := range rows {
		d, err := m.revokedSummary(r)
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
