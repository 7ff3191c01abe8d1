package certmgr

import (
	"context"
	"errors"
	"strings"

	"github.com/certcustody/certcustody/certmgr/store"
)

// crlReasons are the RFC 5280 reason codes a revocation may name.
var crlReasons = map[string]int{
	"unspecified": 0, "keycompromise": 1, "cacompromise": 2, "affiliationchanged": 3,
	"superseded": 4, "cessationofoperation": 5, "certificatehold": 6, "privilegewithdrawn": 9,
}

// CreateRevokeClientCertificate revokes a server or client certificate.
// reason is an RFC 5280 reason name (optional, unspecified by default).
func (m *Manager) CreateRevokeClientCertificate(ctx context.Context, c Caller, id, reason string) error {
	if id == "" {
		return MissingParameter("Identifier")
	}
	code := 0
	if reason != "" {
		var ok bool
		if code, ok = crlReasons[strings.ToLower(reason)]; !ok {
			return InvalidParameter("Reason", "must be an RFC 5280 reason such as keyCompromise or superseded")
		}
	}
	_, err := m.db.RevokeIssued(ctx, c.AccountID, id, code, m.now())
	switch {
	case errors.Is(err, store.ErrNotFound):
		return NotFound("NotFound.Certificate", "The certificate %q is not found.", id)
	case errors.Is(err, store.ErrConflict):
		return RuleViolation("Status", "The certificate is already revoked.")
	case err != nil:
		return Internal(err)
	}
	return nil
}

// UpdateCACertificateStatus revokes a CA (ISSUE → REVOKE, final). A revoked
// subordinate CA appears on its parent's CRL.
func (m *Manager) UpdateCACertificateStatus(ctx context.Context, c Caller, id, status string) error {
	if id == "" {
		return MissingParameter("Identifier")
	}
	if !strings.EqualFold(status, caStatusRevoke) {
		return InvalidParameter("Status", "the only change a CA accepts is REVOKE")
	}
	err := m.db.RevokeCA(ctx, c.AccountID, id, m.now())
	switch {
	case errors.Is(err, store.ErrNotFound):
		return caNotFound(id)
	case errors.Is(err, store.ErrConflict):
		return RuleViolation("Status", "The CA is already revoked.")
	case err != nil:
		return Internal(err)
	}
	return nil
}

// crlURL is where a CA's CRL is served.
func (m *Manager) crlURL(caIdentifier string) string {
	return m.public + "/crl/" + caIdentifier + ".crl"
}
