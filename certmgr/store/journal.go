package store

import (
	"context"
	"errors"
	"sync"
	"time"
)

// A Journal carries the audit records of one operation (an API call, a CRL
// build, an administrative command) until a transaction commits them. Every
// transaction run through Tx or Group with a Journal in its context appends
// the records pending at that moment before it commits, so a change and the
// record of it commit or roll back together: the call record goes with the
// first change the call commits, and each token-key use with the first
// transaction after it. Records of an operation that changes nothing are
// written by Flush at its end.
type Journal struct {
	now func() time.Time

	mu       sync.Mutex
	call     *AuditRecord  // the call's record once its caller is known
	callDone bool          // the call record has committed
	base     AuditRecord   // RequestID and SourceIP, known from the start
	uses     []AuditRecord // key uses not yet committed
	changes  []AuditRecord // records of changes the next transaction makes (AddChange)
	written  []*AuditRecord
	signed   []*AuditCheckpoint // checkpoints its transactions signed and committed
	closed   bool               // Flush has run: the operation is over
	claim    *ClientToken       // the call's ClientToken, claimed with its change
	claimTTL time.Duration      // how old a claim of the same token may be replaced
	nonce    *nonceClaim        // the call's signature nonce, not yet committed
}

// nonceClaim is a signature nonce waiting for the call's first commit.
type nonceClaim struct {
	accessKeyID, nonce string
	until              time.Time
}

// NewJournal starts a journal for one request.
func NewJournal(requestID, sourceIP string, now func() time.Time) *Journal {
	return &Journal{now: now, base: AuditRecord{RequestID: requestID, SourceIP: sourceIP}}
}

type journalKey struct{}

// WithJournal returns ctx carrying j.
func WithJournal(ctx context.Context, j *Journal) context.Context {
	return context.WithValue(ctx, journalKey{}, j)
}

// JournalFrom returns the journal ctx carries, or nil.
func JournalFrom(ctx context.Context) *Journal {
	j, _ := ctx.Value(journalKey{}).(*Journal)
	return j
}

// SetClientCert records the subject of the verified TLS client
// certificate the operation came over; it goes on the call record. Call
// it before SetCall.
func (j *Journal) SetClientCert(subject string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.base.ClientCert = subject
}

// SetCall names the operation once its caller is authenticated. The call
// record's Code is "OK" when it commits with a change; Flush writes it with
// the final code otherwise.
func (j *Journal) SetCall(accountID, accessKeyID, action, resource string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	r := j.base
	r.AccountID, r.AccessKeyID, r.Action, r.Resource = accountID, accessKeyID, action, resource
	j.call = &r
}

// SetResource names the resource a creating call made (its ARN was not
// known when the call started).
func (j *Journal) SetResource(resource string) {
	j.amendCall(func(r *AuditRecord) { r.Resource = resource })
}

// SetAccount names the account an administrative operation acted on, once
// it is known (the account a new AccessKey went into).
func (j *Journal) SetAccount(accountID string) {
	j.amendCall(func(r *AuditRecord) { r.AccountID = accountID })
}

// amendCall changes the call record while it is not yet written; a nil
// journal (an operation nobody audits) ignores it.
func (j *Journal) amendCall(f func(*AuditRecord)) {
	if j == nil {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.call != nil && !j.callDone {
		f(j.call)
	}
}

// SetClientToken asks that the call's ClientToken be claimed in the
// transaction that commits the call's change, naming the call's action,
// its parameters' fingerprint and the resource it made. A claim older
// than ttl is replaced.
func (j *Journal) SetClientToken(token, fingerprint string, ttl time.Duration) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.claim, j.claimTTL = &ClientToken{Token: token, Fingerprint: fingerprint}, ttl
}

// SetNonce asks that the call's signature nonce be recorded, until the
// given time, in the first transaction that appends the call's records:
// its first change, or Flush when it changes nothing. The call then costs
// one commit instead of two, and a request and its replay still cannot
// both commit: the later one's transaction fails with ErrNonceUsed and
// rolls back. Flush then records the call with the code the caller
// gives, without the nonce. Call it once, before SetCall; the nonce's
// absence must already have been checked (NonceUsed), so that a replay
// of a committed request does no work at all.
func (j *Journal) SetNonce(accessKeyID, nonce string, until time.Time) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.nonce = &nonceClaim{accessKeyID: accessKeyID, nonce: nonce, until: until}
}

// AddUse notes one use of a token key: op is what was done
// ("token:sign/CKM_ECDSA"), keyID which key, code "OK" or why it failed. It
// reports false, and records nothing, when the operation has already
// ended: nothing would ever write the record.
func (j *Journal) AddUse(op, keyID, code string) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return false
	}
	j.uses = append(j.uses, AuditRecord{At: j.now(), Action: op, Resource: keyID, Code: code})
	return true
}

// AddChange notes a change that the transaction about to take the
// journal's records makes itself (a pool key claimed): unlike a key use,
// which happened whatever becomes of the transaction, the record goes
// only with that transaction. If it rolls back, the record is dropped, and
// Flush never writes it. Call it as the last step of the transaction's
// function, once nothing in it can fail. A nil journal records nothing.
func (j *Journal) AddChange(op, resource, code string) bool {
	if j == nil {
		return false
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return false
	}
	j.changes = append(j.changes, AuditRecord{At: j.now(), Action: op, Resource: resource, Code: code})
	return true
}

// Written returns the records this journal has committed so far.
func (j *Journal) Written() []*AuditRecord {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]*AuditRecord(nil), j.written...)
}

// Checkpoints returns the checkpoints that transactions carrying this
// journal's records signed and committed (see DB.SignAuditEvery), for the
// log.
func (j *Journal) Checkpoints() []*AuditCheckpoint {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]*AuditCheckpoint(nil), j.signed...)
}

// CallRecorded reports whether the call record has committed.
func (j *Journal) CallRecorded() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.callDone
}

// batch is what one transaction appends from a journal.
type batch struct {
	call *AuditRecord // nil when the call record is not part of it
	uses []*AuditRecord
	// changes are AddChange records: they commit with this batch or never.
	changes []*AuditRecord
	cps     []*AuditCheckpoint // signed while appending it
	claim   *ClientToken       // the ClientToken claim, with the call record
	ttl     time.Duration
	nonce   *nonceClaim // the signature nonce, recorded before anything else
	at      time.Time   // when the batch was taken: the nonce's "now"
}

// empty reports whether the batch writes nothing.
func (b batch) empty() bool {
	return b.call == nil && len(b.uses) == 0 && len(b.changes) == 0 && b.nonce == nil
}

func (b batch) records() []*AuditRecord {
	var out []*AuditRecord
	if b.call != nil {
		out = append(out, b.call)
	}
	out = append(out, b.uses...)
	return append(out, b.changes...)
}

// take removes the records to append in a transaction that made a change:
// the call record (first time only, Code "OK") and the pending key uses,
// which carry the caller's identity. Before the caller is known (a nonce
// stored while authenticating) it takes nothing: key uses wait for the
// identity they belong to, and Flush writes them without one if the
// caller never becomes known.
func (j *Journal) take() batch {
	if j == nil {
		return batch{}
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	var b batch
	if j.call == nil {
		return b
	}
	b.at = j.now()
	b.nonce, j.nonce = j.nonce, nil
	if !j.callDone {
		r := *j.call
		r.At, r.Code = j.now(), "OK"
		b.call = &r
		j.callDone = true
		if j.claim != nil {
			c := *j.claim
			c.AccountID, c.Action, c.Resource, c.CreatedAt = r.AccountID, r.Action, r.Resource, r.At
			b.claim, b.ttl = &c, j.claimTTL
		}
	}
	b.uses = j.takeUsesLocked()
	b.changes = j.recordsLocked(j.changes)
	j.changes = nil
	return b
}

// flush removes what Flush must still write: the call record with its
// final code when it has not committed (or, when it committed as "OK" but
// the call then failed, a second record with the failure), and the pending
// key uses.
func (j *Journal) flush(code string) batch {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.closed = true
	j.changes = nil // no transaction made them
	b := batch{at: j.now()}
	if j.call != nil {
		b.nonce, j.nonce = j.nonce, nil
	}
	if j.call != nil && (!j.callDone || code != "OK") {
		r := *j.call
		r.At, r.Code = j.now(), code
		b.call = &r
		j.callDone = true
	}
	b.uses = j.takeUsesLocked()
	return b
}

func (j *Journal) takeUsesLocked() []*AuditRecord {
	out := j.recordsLocked(j.uses)
	j.uses = nil
	return out
}

// recordsLocked turns pending records into full ones, with the call's
// identity when it is known.
func (j *Journal) recordsLocked(pending []AuditRecord) []*AuditRecord {
	out := make([]*AuditRecord, 0, len(pending))
	for _, u := range pending {
		r := j.base
		if j.call != nil {
			r = *j.call
		}
		r.At, r.Action, r.Resource, r.Code = u.At, u.Action, u.Resource, u.Code
		out = append(out, &r)
	}
	return out
}

// settle records the outcome, err, of a transaction that appended b.
func (j *Journal) settle(b batch, err error) {
	if j == nil || b.empty() {
		return
	}
	committed := err == nil
	j.mu.Lock()
	defer j.mu.Unlock()
	// A nonce another call holds is never tried again: the call is a
	// replay, and the record of its refusal goes without it.
	if !committed && b.nonce != nil && !errors.Is(err, ErrNonceUsed) {
		j.nonce = b.nonce
	}
	if committed {
		j.written = append(j.written, b.records()...)
		j.signed = append(j.signed, b.cps...)
		return
	}
	// Rolled back: the records are pending again, in their order, but for
	// the changes, which rolled back with the transaction.
	if b.call != nil {
		j.callDone = false
	}
	uses := make([]AuditRecord, 0, len(b.uses)+len(j.uses))
	for _, r := range b.uses {
		uses = append(uses, AuditRecord{At: r.At, Action: r.Action, Resource: r.Resource, Code: r.Code})
	}
	j.uses = append(uses, j.uses...)
}

// appendBatch appends a journal's records inside tx, noting in b the
// checkpoints the appends signed, and claims its ClientToken: a claim that
// loses to another call's rolls tx back.
func appendBatch(ctx context.Context, tx *Tx, b *batch) error {
	b.cps = nil
	n := b.nonce
	if n != nil && b.claim != nil {
		// The nonce goes first, on its own: a claim that loses must not
		// hide a replay.
		fresh, err := tx.recordNonce(ctx, n.accessKeyID, n.nonce, n.until, b.at)
		if err != nil {
			return err
		}
		if !fresh {
			return ErrNonceUsed
		}
		n = nil
	}
	if b.claim != nil {
		if err := tx.insertClientToken(ctx, b.claim, b.claim.CreatedAt.Add(-b.ttl)); err != nil {
			return err
		}
	}
	var cp *AuditCheckpoint
	var err error
	if n != nil {
		cp, err = tx.appendRecordsWithNonce(ctx, n, b.at, b.records())
	} else {
		cp, err = tx.appendRecords(ctx, b.records())
	}
	if err != nil {
		return err
	}
	if cp != nil {
		b.cps = append(b.cps, cp)
	}
	return nil
}

// Flush writes, in one group-committed transaction, what the journal still
// holds at the end of its operation; code is the operation's result.
func (s *DB) Flush(ctx context.Context, j *Journal, code string) error {
	b := j.flush(code)
	if b.empty() {
		return nil
	}
	// The journal is already being flushed: the transaction must not take
	// from it again.
	ctx = context.WithValue(ctx, journalKey{}, (*Journal)(nil))
	err := s.Group(ctx, func(tx *Tx) error { return appendBatch(ctx, tx, &b) })
	j.settle(b, err)
	return err
}
