package certmgr

import (
	"context"
	"fmt"
	"strings"

	"github.com/certcustody/certcustody/certmgr/store"
)

// ListCACertificateLog is built from the audit log: the committed ("OK")
// call records of this account that name the CA's ARN and are changes to
// it — its creation (OpType ADD) and its status, alias and tag changes
// (UPDATE). Reads of the CA are recorded under the same ARN but are not
// changes, and the records of issuances name the new certificate's ARN,
// so issuance is one summary entry (UPDATE) computed from the CA's
// issued certificates: how many, how many revoked, and when the last one
// was issued.

// caLogLimit bounds the entries read from the audit log (the newest).
const caLogLimit = 500

// caLogActions maps the audited "Version/Action" of a change to a CA to
// its OpType.
var caLogActions = map[string]string{
	"2020-06-30/CreateRootCACertificate":     "ADD",
	"2020-06-30/CreateSubCACertificate":      "ADD",
	"2020-06-30/CreateExternalCACertificate": "ADD",
	"2020-06-30/UpdateCACertificateStatus":   "UPDATE",
	"2020-06-30/UpdatePcaCertificate":        "UPDATE",
	"2020-06-30/TagResources":                "UPDATE",
	"2020-06-30/UntagResources":              "UPDATE",
}

// CALogEntry is one LogList entry.
type CALogEntry struct {
	Identifier string `json:"Identifier"`
	OpType     string `json:"OpType"`     // ADD or UPDATE
	CreateTime int64  `json:"CreateTime"` // Unix ms
	Content    string `json:"Content"`
}

// CALog is ListCACertificateLog's result.
type CALog struct {
	LogList []CALogEntry `json:"LogList"`
}

// ListCACertificateLog lists what was done to one of the caller's CAs,
// oldest first: up to caLogLimit audit entries, then the issuance summary.
func (m *Manager) ListCACertificateLog(ctx context.Context, c Caller, identifier string) (*CALog, error) {
	if identifier == "" {
		return nil, MissingParameter("Identifier")
	}
	if err := checkIdentifier("Identifier", identifier); err != nil {
		return nil, err
	}
	ca, err := m.getCA(ctx, c, identifier)
	if err != nil {
		return nil, err
	}
	// The ARN carries the request's region; RegionId is the configured
	// region or absent, so these are the spellings a record can have.
	arns := []string{m.caArn(Caller{AccountID: c.AccountID}, ca.Identifier)}
	if a := m.caArn(c, ca.Identifier); a != arns[0] {
		arns = append(arns, a)
	}
	actions := make([]string, 0, len(caLogActions))
	for a := range caLogActions {
		actions = append(actions, a)
	}
	recs, err := m.db.AuditFor(ctx, c.AccountID, arns, actions, "OK", caLogLimit)
	if err != nil {
		return nil, Internal(err)
	}
	out := &CALog{LogList: make([]CALogEntry, 0, len(recs)+1)}
	for _, r := range recs {
		out.LogList = append(out.LogList, CALogEntry{Identifier: ca.Identifier, OpType: caLogActions[r.Action], CreateTime: r.At.UnixMilli(),
			Content: logContent(r)})
	}
	certs, revoked, subs, last, err := m.db.IssuedByCA(ctx, ca.Identifier)
	if err != nil {
		return nil, Internal(err)
	}
	if certs > 0 || subs > 0 {
		out.LogList = append(out.LogList, CALogEntry{Identifier: ca.Identifier, OpType: "UPDATE", CreateTime: last.UnixMilli(),
			Content: fmt.Sprintf("Issued %d certificates (%d revoked) and %d subordinate CA certificates; the last at %s.", certs, revoked, subs, isoTime(last))})
	}
	return out, nil
}

// logContent says what an audited change was, without anything secret:
// the action, the AccessKey that made it, and the request.
func logContent(r *store.AuditRecord) string {
	_, action, _ := strings.Cut(r.Action, "/")
	what := map[string]string{
		"CreateRootCACertificate":     "Root CA created",
		"CreateSubCACertificate":      "Subordinate CA created",
		"CreateExternalCACertificate": "External subordinate CA certificate issued",
		"UpdateCACertificateStatus":   "Status changed to REVOKE",
		"UpdatePcaCertificate":        "Alias name, resource group or tags updated",
		"TagResources":                "Tags added",
		"UntagResources":              "Tags removed",
	}[action]
	return fmt.Sprintf("%s (%s) by AccessKey %s, request %s", what, action, r.AccessKeyID, r.RequestID)
}
