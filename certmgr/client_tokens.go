package certmgr

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/certcustody/certcustody/certmgr/store"
)

// ClientTokenTTL is how long a ClientToken makes retries of a creating
// call idempotent, as the cloud documents.
const ClientTokenTTL = 24 * time.Hour

// ErrClientTokenUsed is the cause of a call that lost its ClientToken to
// a concurrent call of the same account: its change was rolled back, and
// the winner's resource is the answer to give.
var ErrClientTokenUsed = store.ErrClientTokenUsed

// ClientTokenClaim is a committed call's claim of its ClientToken.
type ClientTokenClaim struct {
	Action      string
	Fingerprint string
	// ResourceID is the identifier of what the call made or changed.
	ResourceID string
}

// ClientTokenClaim returns the caller's account's live claim of token, or
// nil when no call has claimed it within ClientTokenTTL.
func (m *Manager) ClientTokenClaim(ctx context.Context, c Caller, token string) (*ClientTokenClaim, error) {
	ct, err := m.db.ClientTokenClaim(ctx, c.AccountID, token, m.now().Add(-ClientTokenTTL))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, Internal(err)
	}
	// The claim holds the resource's ARN; its last segment is the id.
	id := ct.Resource[strings.LastIndexByte(ct.Resource, '/')+1:]
	return &ClientTokenClaim{Action: ct.Action, Fingerprint: ct.Fingerprint, ResourceID: id}, nil
}

// IssuedResultFor rebuilds a certificate issuance's answer from its row,
// for a retried call: the same Identifier, certificate, chain and serial.
func (m *Manager) IssuedResultFor(ctx context.Context, c Caller, id string) (*IssuedResult, error) {
	row, err := m.getIssued(ctx, c, id)
	if err != nil {
		return nil, err
	}
	issuer, err := m.db.GetCACertificate(ctx, c.AccountID, row.IssuerIdentifier)
	if err != nil {
		return nil, Internal(err)
	}
	chain, err := m.issuedChainPEM(ctx, c, issuer)
	if err != nil {
		return nil, err
	}
	return &IssuedResult{Identifier: row.Identifier, Certificate: certPEM(row.Certificate),
		CertificateChain: chain, SerialNumber: serialOut(row.Serial)}, nil
}

// CAResultFor rebuilds a CA creation's answer from its row.
func (m *Manager) CAResultFor(ctx context.Context, c Caller, id string) (*IssuedResult, error) {
	ca, err := m.getCA(ctx, c, id)
	if err != nil {
		return nil, err
	}
	chain, err := m.chainPEM(ctx, c, ca)
	if err != nil {
		return nil, err
	}
	return &IssuedResult{Identifier: ca.Identifier, Certificate: certPEM(ca.Certificate), CertificateChain: chain}, nil
}
