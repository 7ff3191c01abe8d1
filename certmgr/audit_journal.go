package certmgr

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/certcustody/certcustody/certmgr/store"
	"github.com/certcustody/certcustody/keystore"
)

// Journal collects the audit records of one operation. The records travel
// in the context: each store transaction the operation runs appends the
// records pending at that moment, so the record of a change commits with
// the change or not at all. Finish writes what no change carried. A nil
// *Journal records nothing.
type Journal struct {
	m *Manager
	j *store.Journal
}

// StartAudit returns ctx carrying a new journal for a request. Token-key
// uses made with the returned ctx are recorded from now on; the call record
// exists once SetCaller names the caller.
func (m *Manager) StartAudit(ctx context.Context, requestID, sourceIP string) (context.Context, *Journal) {
	j := store.NewJournal(requestID, sourceIP, m.now)
	return store.WithJournal(ctx, j), &Journal{m: m, j: j}
}

// SetClientCert records the subject of the verified TLS client
// certificate the call came over, for its audit record; call it before
// SetCaller.
func (a *Journal) SetClientCert(subject string) {
	if a == nil || subject == "" {
		return
	}
	a.j.SetClientCert(subject)
}

// SetCaller names the authenticated caller and the call: action is
// "Version/Action", resource the ARN the call is authorized against.
func (a *Journal) SetCaller(c Caller, action, resource string) {
	if a == nil {
		return
	}
	a.j.SetCall(c.AccountID, c.AccessKeyID, action, resource)
}

// ClaimNonce makes the call's signature nonce part of its first commit
// (its change, or its record at the end), valid until the given time.
// Check first that it is unused (Manager.NonceUsed): a replay of a
// committed request is then refused before it does any work, and one
// racing its original loses at commit, when its transaction fails with
// ErrNonceUsed and nothing of it commits but the record of its refusal.
func (a *Journal) ClaimNonce(accessKeyID, nonce string, until time.Time) {
	if a == nil {
		return
	}
	a.j.SetNonce(accessKeyID, nonce, until)
}

// Finish writes what is still pending when the operation ends with code:
// the call record if no change carried it (or a second record when the
// call failed after its change committed), and key uses that no
// transaction carried. It returns the checkpoints that the operation's
// transactions signed (the writer signs as it appends), for the log.
func (a *Journal) Finish(ctx context.Context, code string) ([]Checkpoint, error) {
	if a == nil {
		return nil, nil
	}
	ctx = context.WithoutCancel(ctx)
	err := a.m.db.Flush(ctx, a.j, code)
	return checkpointsOf(a.j), err
}

// auditResource names the resource a creating call is making, so that its
// audit record carries the new ARN instead of a wildcard.
func auditResource(ctx context.Context, arn string) { store.JournalFrom(ctx).SetResource(arn) }

// internalAudit starts a journal for work no API call carries (a CRL built
// for the public endpoint, an administrative command) unless ctx already
// has one. finish must be called with the outcome.
func (m *Manager) internalAudit(ctx context.Context, accountID, action, resource string) (context.Context, func(error)) {
	if store.JournalFrom(ctx) != nil {
		return ctx, func(error) {}
	}
	return m.detachedAudit(ctx, accountID, action, resource)
}

// detachedAudit starts a journal of its own for internal work, even when
// ctx carries a caller's: work shared by several callers (a CRL build)
// or outliving its caller must not write into a journal that may already
// be closed.
func (m *Manager) detachedAudit(ctx context.Context, accountID, action, resource string) (context.Context, func(error)) {
	ctx, j := m.StartAudit(ctx, "internal-"+uuid.NewString(), "")
	j.j.SetCall(accountID, "", action, resource)
	return ctx, func(err error) {
		code := "OK"
		if err != nil {
			code = AsError(err).Code
		}
		cps, ferr := j.Finish(ctx, code)
		if ferr != nil {
			m.log.Error("audit: cannot record internal operation", "action", action, "err", ferr)
		}
		for _, cp := range cps {
			m.log.Info("audit checkpoint", "seq", cp.Seq, "head_hash", cp.HeadHash)
		}
	}
}

// observeKeyUse is the keystore observer: each token-key use becomes a
// record in the journal of the operation that made it. The audit key is
// the exception: its only use is signing checkpoints, which are their own
// record. So are the TLS key's signatures: each is a handshake, made
// before anyone is authenticated, and recording them would let anyone
// fill the log by connecting (they are counted on /metrics; creating the
// TLS key is recorded).
func (m *Manager) observeKeyUse(ctx context.Context, u keystore.KeyUse) {
	if u.KeyID == keystore.AuditKeyID || (u.KeyID == keystore.TLSKeyID && u.Op == keystore.OpSign) {
		return
	}
	action := "token:" + string(u.Op)
	if u.Mechanism != "" {
		action += "/" + u.Mechanism
	}
	// Outside any operation, or after its journal was flushed, nothing
	// would write the record: count it and say so loudly instead.
	if j := store.JournalFrom(ctx); j == nil || !j.AddUse(action, u.KeyID, keyUseCode(u.Err)) {
		m.unaudited.Add(1)
		m.log.Warn("audit: token key used outside an audited operation", "op", string(u.Op), "key_id", u.KeyID)
	}
}

// keyUseCode classifies a key use's outcome without the error text.
func keyUseCode(err error) string {
	switch {
	case err == nil:
		return "OK"
	case errors.Is(err, keystore.ErrNotExportable):
		return "Failed.NotExportable"
	case errors.Is(err, keystore.ErrNotFound):
		return "Failed.KeyNotFound"
	case errors.Is(err, keystore.ErrDecrypt), errors.Is(err, keystore.ErrSealedBlob):
		return "Failed.Decrypt"
	case errors.Is(err, keystore.ErrUnsupported):
		return "Failed.Unsupported"
	case errors.Is(err, keystore.ErrKeyPurpose):
		return "Failed.KeyPurpose"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "Failed.Canceled"
	}
	return "Failed.Token"
}

// UnauditedKeyUses counts token-key uses made outside any journal; a
// healthy service keeps it at zero.
func (m *Manager) UnauditedKeyUses() uint64 { return m.unaudited.Load() }

// ClaimClientToken makes the call's ClientToken part of its change: the
// claim commits in the same transaction as what the call creates, so two
// calls with one token cannot both commit.
func (a *Journal) ClaimClientToken(token, fingerprint string) {
	if a == nil {
		return
	}
	a.j.SetClientToken(token, fingerprint, ClientTokenTTL)
}
