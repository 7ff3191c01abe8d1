package certmgr

import (
	"context"

	"github.com/certcustody/certcustody/certmgr/store"
)

// In the cloud a CA is bought as an "instance" and then activated; here a
// CA is created directly, so a CA's instance is the CA itself: InstanceId
// is the CA's Identifier, and an instance is USED from creation (REVOKE
// once the CA is revoked). Nothing is bought, so there is no purchase
// quota: CertTotalCount and UseExpireTime are left out.

// maxInstancesListed bounds GetCAInstanceStatus without an Identifier,
// whose shape has no paging: the account's oldest CAs up to this many.
const maxInstancesListed = 1000

// GetCAInstanceStatusRequest is GetCAInstanceStatus's input. Identifier
// and InstanceId name the same thing here; either may be given.
type GetCAInstanceStatusRequest struct {
	Identifier string
	InstanceID string // InstanceId
}

func (r GetCAInstanceStatusRequest) id() (string, error) {
	if r.Identifier != "" && r.InstanceID != "" && r.Identifier != r.InstanceID {
		return "", InvalidParameter("InstanceId", "names the CA, like Identifier; give one, or the same value in both")
	}
	if r.Identifier != "" {
		return r.Identifier, checkIdentifier("Identifier", r.Identifier)
	}
	return r.InstanceID, checkIdentifier("InstanceId", r.InstanceID)
}

// Resources is the CA asked about, or nil (every CA of the account).
func (r GetCAInstanceStatusRequest) Resources() []string {
	if id, err := r.id(); err == nil && id != "" {
		return []string{id}
	}
	if r.Identifier != "" || r.InstanceID != "" {
		// Conflicting names: both are named, and the call will fail.
		return []string{r.Identifier, r.InstanceID}
	}
	return nil
}

// CAInstanceStatus is one InstanceStatusList entry.
type CAInstanceStatus struct {
	Identifier      string `json:"Identifier"`
	InstanceID      string `json:"InstanceId"`
	Status          string `json:"Status"` // USED or REVOKE
	Type            string `json:"Type"`   // ROOT or SUB_ROOT
	BeforeTime      int64  `json:"BeforeTime"`
	AfterTime       int64  `json:"AfterTime"`
	CertIssuedCount int64  `json:"CertIssuedCount"` // certificates (a root: subordinate CAs) it has signed
}

// CAInstanceStatusList is GetCAInstanceStatus's result.
type CAInstanceStatusList struct {
	InstanceStatusList []CAInstanceStatus `json:"InstanceStatusList"`
}

// GetCAInstanceStatus reports a CA's instance status, or every CA's (up to
// maxInstancesListed) when no identifier is given.
func (m *Manager) GetCAInstanceStatus(ctx context.Context, c Caller, r GetCAInstanceStatusRequest) (*CAInstanceStatusList, error) {
	id, err := r.id()
	if err != nil {
		return nil, err
	}
	var cas []*store.CACertificate
	if id != "" {
		ca, err := m.getCA(ctx, c, id)
		if err != nil {
			return nil, err
		}
		cas = []*store.CACertificate{ca}
	} else if cas, err = m.db.ListCAsAfter(ctx, c.AccountID, nil, maxInstancesListed); err != nil {
		return nil, Internal(err)
	}
	out := &CAInstanceStatusList{InstanceStatusList: make([]CAInstanceStatus, 0, len(cas))}
	for _, ca := range cas {
		certs, _, subs, _, err := m.db.IssuedByCA(ctx, ca.Identifier)
		if err != nil {
			return nil, Internal(err)
		}
		status := "USED"
		if ca.Status == caStatusRevoke {
			status = caStatusRevoke
		}
		out.InstanceStatusList = append(out.InstanceStatusList, CAInstanceStatus{
			Identifier: ca.Identifier, InstanceID: ca.Identifier, Status: status, Type: ca.CertificateType,
			BeforeTime: ca.NotBefore.UnixMilli(), AfterTime: ca.NotAfter.UnixMilli(), CertIssuedCount: certs + subs,
		})
	}
	return out, nil
}

// ListPcaCaCertificateRequest is ListPcaCaCertificate's input.
type ListPcaCaCertificateRequest struct {
	MaxResults int // 1 to 2000; default 20
	NextToken  string
}

// Resources is nil: a listing of the account.
func (ListPcaCaCertificateRequest) Resources() []string { return nil }

// PcaCA is one ListPcaCaCertificate entry.
type PcaCA struct {
	CertIdentifier      string `json:"CertIdentifier"`
	CommonName          string `json:"CommonName"`
	IssuerIdentifier    string `json:"IssuerIdentifier"` // the parent; empty for a root
	PrivateCaInstanceID string `json:"PrivateCaInstanceId"`
	PrivateCaRegionID   string `json:"PrivateCaRegionId"`
	Status              string `json:"Status"` // ISSUE or REVOKE
	UserID              string `json:"UserId"` // the owning account
}

// PcaCAList is ListPcaCaCertificate's result.
type PcaCAList struct {
	List       []PcaCA `json:"List"`
	MaxResults int     `json:"MaxResults"`
	NextToken  string  `json:"NextToken,omitempty"`
	TotalCount int64   `json:"TotalCount"`
}

// ListPcaCaCertificate pages through the caller's CAs, oldest first.
func (m *Manager) ListPcaCaCertificate(ctx context.Context, c Caller, r ListPcaCaCertificateRequest) (*PcaCAList, error) {
	size, err := pageSize(r.MaxResults, 0, 20, 2000)
	if err != nil {
		return nil, err
	}
	tok, err := decodeToken(tokenListPcaCA, r.NextToken)
	if err != nil {
		return nil, err
	}
	page, _ := keysetPage(0, tok)
	var after *store.Cursor
	if tok != nil {
		after = tok.cursor()
	}
	rows, err := m.db.ListCAsAfter(ctx, c.AccountID, after, size+1)
	if err != nil {
		return nil, Internal(err)
	}
	total, err := m.db.CountCAs(ctx, c.AccountID)
	if err != nil {
		return nil, Internal(err)
	}
	out := &PcaCAList{List: []PcaCA{}, MaxResults: size, TotalCount: total}
	if len(rows) > size {
		rows = rows[:size]
		last := rows[size-1]
		out.NextToken = pageToken{list: tokenListPcaCA, page: page, at: last.CreatedAt.UnixMilli(), id: last.Identifier}.encode()
	}
	for _, ca := range rows {
		cn := ""
		if parsed, err := parseCert(ca.Certificate); err == nil {
			cn = dnGet(parsed.RawSubject, "CN")
		}
		out.List = append(out.List, PcaCA{
			CertIdentifier: ca.Identifier, CommonName: cn, IssuerIdentifier: ca.ParentIdentifier, PrivateCaInstanceID: ca.Identifier,
			PrivateCaRegionID: m.region, Status: ca.Status, UserID: c.AccountID,
		})
	}
	return out, nil
}
