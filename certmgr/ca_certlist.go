package certmgr

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/certcustody/certcustody/certmgr/store"
)

// ListCert and ListAllEndEntityInstance: keyset-paged listings of the
// caller's end-entity certificates (deleted ones are not listed). Both
// answer MaxResults/NextToken paging; the older CurrentPage/ShowSize
// parameters are honoured as far as keyset paging allows: ShowSize is the
// page size when MaxResults is absent, and CurrentPage may only be 1
// (later pages are reached with NextToken; see keysetPage).

// listDateLayout is ListCert's date format (yyyy-MM-dd HH:mm:ss, UTC).
const listDateLayout = "2006-01-02 15:04:05"

// ListCertRequest is ListCert's input.
type ListCertRequest struct {
	Status           string // ISSUE or REVOKE; empty: both
	Type             string // SERVER, CLIENT or END_ENTITY (both); empty: both
	ParentIdentifier string // the issuing CA; empty: every CA
	InstanceUUID     string // InstanceUuid: the CA "instance", which here is the issuing CA; same as ParentIdentifier
	BeforeDate       string // yyyy-MM-dd HH:mm:ss UTC: only certificates valid from this time or later (notBefore >= BeforeDate)
	AfterDate        string // yyyy-MM-dd HH:mm:ss UTC: only certificates that expire by this time (notAfter <= AfterDate)
	MaxResults       int    // 1 to 100; default 20
	NextToken        string
	CurrentPage      int // 1 (or 0) only; see keysetPage
	ShowSize         int // page size when MaxResults is 0
}

func (r ListCertRequest) parent() (string, error) {
	if r.ParentIdentifier != "" && r.InstanceUUID != "" && r.ParentIdentifier != r.InstanceUUID {
		return "", InvalidParameter("InstanceUuid", "names the issuing CA, like ParentIdentifier; give one, or the same value in both")
	}
	if r.ParentIdentifier != "" {
		return r.ParentIdentifier, checkIdentifier("ParentIdentifier", r.ParentIdentifier)
	}
	return r.InstanceUUID, checkIdentifier("InstanceUuid", r.InstanceUUID)
}

// Resources is the issuing CA the listing is limited to, or nil (an
// account-wide listing).
func (r ListCertRequest) Resources() []string {
	var out []string
	for _, id := range []string{r.ParentIdentifier, r.InstanceUUID} {
		if id != "" && (len(out) == 0 || out[0] != id) {
			out = append(out, id)
		}
	}
	return out
}

func (r ListCertRequest) filter(c Caller) (store.IssuedFilter, error) {
	f := store.IssuedFilter{AccountID: c.AccountID}
	var err error
	if f.Issuer, err = r.parent(); err != nil {
		return f, err
	}
	switch s := strings.ToUpper(r.Status); s {
	case "", caStatusIssue, caStatusRevoke:
		f.Status = s
	default:
		return f, InvalidParameter("Status", "must be ISSUE or REVOKE")
	}
	switch t := strings.ToUpper(r.Type); t {
	case "", "END_ENTITY":
	case "SERVER", "CLIENT":
		f.CertType = t
	default:
		return f, InvalidParameter("Type", "must be SERVER, CLIENT or END_ENTITY")
	}
	if f.NotBeforeFrom, err = listDate("BeforeDate", r.BeforeDate); err != nil {
		return f, err
	}
	if f.NotAfterTo, err = listDate("AfterDate", r.AfterDate); err != nil {
		return f, err
	}
	return f, nil
}

func listDate(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(listDateLayout, v)
	if err != nil {
		return time.Time{}, InvalidParameter(name, "use yyyy-MM-dd HH:mm:ss (UTC)")
	}
	return t, nil
}

// CertListItem is one ListCert entry. CertificateType is the cloud's
// source of the certificate, and every certificate here is issued by a
// private CA: "cas". The SERVER/CLIENT type and the issuing CA, which the
// shape has no field for, are in Extra (a JSON string:
// {"CertType","ParentIdentifier","KeySize"}). Tags are "key:value" strings.
type CertListItem struct {
	Identifier       string   `json:"Identifier"`
	CommonName       string   `json:"CommonName"`
	Organization     string   `json:"Organization"`
	OrganizationUnit string   `json:"OrganizationUnit"`
	SubjectDn        string   `json:"SubjectDn"`
	SerialNumber     string   `json:"SerialNumber"`
	Status           string   `json:"Status"`
	CertificateType  string   `json:"CertificateType"`
	Algorithm        string   `json:"Algorithm"`
	AliasName        string   `json:"AliasName"`
	CustomIdentifier string   `json:"CustomIdentifier"`
	KeyExportable    bool     `json:"KeyExportable"` // the service holds the key (DescribeCertificatePrivateKey works)
	BeforeDate       string   `json:"BeforeDate"`    // yyyy-MM-dd HH:mm:ss UTC
	AfterDate        string   `json:"AfterDate"`     // yyyy-MM-dd HH:mm:ss UTC
	BeforeTime       int64    `json:"BeforeTime"`    // Unix ms
	AfterTime        int64    `json:"AfterTime"`     // Unix ms
	Tags             []string `json:"Tags"`
	Extra            string   `json:"Extra"`
}

// CertList is ListCert's result.
type CertList struct {
	List        []CertListItem `json:"List"`
	TotalCount  int64          `json:"TotalCount"`
	MaxResults  int            `json:"MaxResults"`
	NextToken   string         `json:"NextToken,omitempty"`
	CurrentPage int            `json:"CurrentPage"`
	ShowSize    int            `json:"ShowSize"`
	PageCount   int            `json:"PageCount"`
}

// ListCert pages through the caller's end-entity certificates that match
// the request's filters, oldest first.
func (m *Manager) ListCert(ctx context.Context, c Caller, r ListCertRequest) (*CertList, error) {
	f, err := r.filter(c)
	if err != nil {
		return nil, err
	}
	p, err := m.issuedPage(ctx, c, f, tokenListCert, r.MaxResults, r.ShowSize, r.CurrentPage, r.NextToken)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(p.rows))
	for _, row := range p.rows {
		ids = append(ids, row.Identifier)
	}
	tags, err := m.db.TagsOfMany(ctx, c.AccountID, store.TagResourcePCA, ids)
	if err != nil {
		return nil, Internal(err)
	}
	out := &CertList{List: []CertListItem{}, TotalCount: p.total, MaxResults: p.size, NextToken: p.next,
		CurrentPage: p.page, ShowSize: p.size, PageCount: pageCount(p.total, p.size)}
	for _, row := range p.rows {
		parsed, err := parseCert(row.Certificate)
		if err != nil {
			return nil, Internal(err)
		}
		name := subjectFields(parsed)
		extra, _ := json.Marshal(struct {
			CertType         string `json:"CertType"`
			ParentIdentifier string `json:"ParentIdentifier"`
			KeySize          int    `json:"KeySize"`
		}{row.CertificateType, row.IssuerIdentifier, row.KeySize})
		item := CertListItem{
			Identifier: row.Identifier, CommonName: name.CommonName, Organization: name.Organization, OrganizationUnit: name.OrganizationUnit,
			SubjectDn: row.SubjectDN, SerialNumber: strings.ToLower(row.Serial), Status: row.Status, CertificateType: "cas",
			Algorithm: row.Algorithm, AliasName: row.AliasName, CustomIdentifier: row.CustomIdentifier, KeyExportable: row.KeyBlob != nil,
			BeforeDate: row.NotBefore.UTC().Format(listDateLayout), AfterDate: row.NotAfter.UTC().Format(listDateLayout),
			BeforeTime: row.NotBefore.UnixMilli(), AfterTime: row.NotAfter.UnixMilli(), Tags: []string{}, Extra: string(extra),
		}
		for _, t := range tags[row.Identifier] {
			item.Tags = append(item.Tags, t.Key+":"+t.Value)
		}
		out.List = append(out.List, item)
	}
	return out, nil
}

// issuedListPage is one keyset page of issued certificates.
type issuedListPage struct {
	rows  []*store.IssuedCertificate
	total int64
	size  int
	page  int
	next  string
}

func (m *Manager) issuedPage(ctx context.Context, c Caller, f store.IssuedFilter, list string, maxResults, showSize, currentPage int, nextToken string) (*issuedListPage, error) {
	size, err := pageSize(maxResults, showSize, 20, 100)
	if err != nil {
		return nil, err
	}
	tok, err := decodeToken(list, nextToken)
	if err != nil {
		return nil, err
	}
	page, err := keysetPage(currentPage, tok)
	if err != nil {
		return nil, err
	}
	if f.Issuer != "" {
		// Another account's CA lists nothing anyway; answering NotFound
		// tells the caller the identifier is wrong.
		if _, err := m.getCA(ctx, c, f.Issuer); err != nil {
			return nil, err
		}
	}
	var after *store.Cursor
	if tok != nil {
		after = tok.cursor()
	}
	rows, err := m.db.ListIssuedAfter(ctx, f, after, size+1)
	if err != nil {
		return nil, Internal(err)
	}
	total, err := m.db.CountIssuedMatching(ctx, f)
	if err != nil {
		return nil, Internal(err)
	}
	p := &issuedListPage{rows: rows, total: total, size: size, page: page}
	if len(rows) > size {
		p.rows = rows[:size]
		last := p.rows[size-1]
		p.next = pageToken{list: list, page: page, at: last.CreatedAt.UnixMilli(), id: last.Identifier}.encode()
	}
	return p, nil
}

// ListAllEndEntityInstanceRequest is ListAllEndEntityInstance's input.
// ParentId is the cloud's numeric CA id; CAs here have no numeric id, so
// only 0 (absent) is accepted: a filter that cannot be applied is refused
// rather than silently ignored. RecursiveChildren changes nothing: only
// subordinate CAs issue end-entity certificates, so every end-entity
// certificate is a direct child of its CA.
type ListAllEndEntityInstanceRequest struct {
	ParentID          int64 // ParentId
	RecursiveChildren int
	MaxResults        int // 1 to 100; default 20
	NextToken         string
	CurrentPage       int // 1 (or 0) only; see keysetPage
	ShowSize          int // page size when MaxResults is 0
}

// Resources is nil: a listing of the account.
func (ListAllEndEntityInstanceRequest) Resources() []string { return nil }

// EndEntityInstance is one ListAllEndEntityInstance entry; the shape
// declares its entries as free-form objects, and these are the fields we
// fill (times in Unix ms).
type EndEntityInstance struct {
	Identifier       string `json:"Identifier"`
	ParentIdentifier string `json:"ParentIdentifier"`
	CertificateType  string `json:"CertificateType"` // SERVER or CLIENT
	CommonName       string `json:"CommonName"`
	SubjectDN        string `json:"SubjectDN"`
	SerialNumber     string `json:"SerialNumber"`
	Status           string `json:"Status"` // ISSUE or REVOKE
	Algorithm        string `json:"Algorithm"`
	KeySize          int    `json:"KeySize"`
	BeforeTime       int64  `json:"BeforeTime"`
	AfterTime        int64  `json:"AfterTime"`
	AliasName        string `json:"AliasName"`
	CustomIdentifier string `json:"CustomIdentifier"`
}

// EndEntityInstanceList is ListAllEndEntityInstance's result.
type EndEntityInstanceList struct {
	List        []EndEntityInstance `json:"List"`
	TotalCount  int64               `json:"TotalCount"`
	MaxResults  int                 `json:"MaxResults"`
	NextToken   string              `json:"NextToken,omitempty"`
	CurrentPage int                 `json:"CurrentPage"`
	ShowSize    int                 `json:"ShowSize"`
	PageCount   int                 `json:"PageCount"`
}

// ListAllEndEntityInstance pages through all of the caller's end-entity
// certificates, oldest first.
func (m *Manager) ListAllEndEntityInstance(ctx context.Context, c Caller, r ListAllEndEntityInstanceRequest) (*EndEntityInstanceList, error) {
	if r.ParentID != 0 {
		return nil, InvalidParameter("ParentId", "CAs here have no numeric id; list a CA's certificates with ListCert and its ParentIdentifier")
	}
	p, err := m.issuedPage(ctx, c, store.IssuedFilter{AccountID: c.AccountID}, tokenListEndEntity, r.MaxResults, r.ShowSize, r.CurrentPage, r.NextToken)
	if err != nil {
		return nil, err
	}
	out := &EndEntityInstanceList{List: []EndEntityInstance{}, TotalCount: p.total, MaxResults: p.size, NextToken: p.next,
		CurrentPage: p.page, ShowSize: p.size, PageCount: pageCount(p.total, p.size)}
	for _, row := range p.rows {
		parsed, err := parseCert(row.Certificate)
		if err != nil {
			return nil, Internal(err)
		}
		out.List = append(out.List, EndEntityInstance{
			Identifier: row.Identifier, ParentIdentifier: row.IssuerIdentifier, CertificateType: row.CertificateType,
			CommonName: dnGet(parsed.RawSubject, "CN"), SubjectDN: row.SubjectDN, SerialNumber: strings.ToLower(row.Serial), Status: row.Status,
			Algorithm: row.Algorithm, KeySize: row.KeySize, BeforeTime: row.NotBefore.UnixMilli(), AfterTime: row.NotAfter.UnixMilli(),
			AliasName: row.AliasName, CustomIdentifier: row.CustomIdentifier,
		})
	}
	return out, nil
}
