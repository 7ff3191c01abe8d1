package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Appending to the audit chain costs one statement per transaction on
// PostgreSQL, where each statement is a round trip, not three or more. A
// transaction used to read its chain's head, insert each record on its
// own, and read the last checkpoint's sequence.
//
// The head. On PostgreSQL this process remembers the head its last commit
// left (chainTip) and starts from it, unchecked: another process may have
// appended since (the accesskey command beside a running server writes the
// same chain, under the same lock). The records are then inserted by one
// INSERT ... SELECT that writes nothing unless the chain's head is still
// the one it started from, one index entry of (chain, seq) read inside
// the statement. When it writes nothing the head is read, the records are
// chained again after it, and inserted again. A transaction holds its
// chain's write lock from BEGIN, so a head it read itself cannot move: the
// guard failing then is an error, never a retry loop. SQLite reads the
// head in each transaction instead (an in-process call), then inserts
// every record in one plain INSERT.
//
// The last checkpoint. The sequence remembered is one a commit signed, so
// it is never ahead of the database's; if another process signed one since,
// the next checkpoint is signed early, over a shorter tail, which keeps the
// bound (SignAuditEvery). So it needs no check.

// recordsPerInsert bounds one INSERT's rows (13 parameters each).
const recordsPerInsert = 32

// chainTip is what this process's last commit left at its chain's head.
type chainTip struct {
	mu             sync.Mutex
	head           *ChainHead
	lastCheckpoint int64 // -1: not known
	// reads counts the heads read from the database, for tests.
	reads atomic.Int64
}

func newChainTip() *chainTip { return &chainTip{lastCheckpoint: -1} }

func (t *chainTip) get() (*ChainHead, int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.head, t.lastCheckpoint
}

// committed notes what a transaction left at the head once it committed.
// Commits of one chain are ordered by its lock, but their callers may note
// them out of order: the later head wins.
func (t *chainTip) committed(head *ChainHead, lastCheckpoint *int64) {
	if head == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.head == nil || head.Seq >= t.head.Seq {
		t.head = head
		if lastCheckpoint != nil {
			t.lastCheckpoint = *lastCheckpoint
		}
	}
}

// appendRecords chains rs after the head and inserts them, then signs a
// checkpoint over the last of them when they bring the unsigned tail to
// the bound SignAuditEvery set (the checkpoint is returned, nil
// otherwise).
func (tx *Tx) appendRecords(ctx context.Context, rs []*AuditRecord) (*AuditCheckpoint, error) {
	if len(rs) == 0 {
		return nil, nil
	}
	for len(rs) > 0 {
		n := min(len(rs), recordsPerInsert)
		if _, err := tx.insertChained(ctx, rs[:n], nil); err != nil {
			tx.forgetAuditHead()
			return nil, err
		}
		rs = rs[n:]
	}
	return tx.maybeCheckpoint(ctx)
}

// appendRecordsWithNonce is appendRecords that records the call's nonce
// first, as recordNonce does; on PostgreSQL one statement does both (a
// round trip fewer for every call). A nonce already used is ErrNonceUsed,
// and then nothing is written.
func (tx *Tx) appendRecordsWithNonce(ctx context.Context, n *nonceClaim, now time.Time, rs []*AuditRecord) (*AuditCheckpoint, error) {
	if tx.d != postgresDialect || len(rs) == 0 || len(rs) > recordsPerInsert {
		fresh, err := tx.recordNonce(ctx, n.accessKeyID, n.nonce, n.until, now)
		if err != nil {
			return nil, err
		}
		if !fresh {
			return nil, ErrNonceUsed
		}
		return tx.appendRecords(ctx, rs)
	}
	if err := tx.pruneNonces(ctx, now); err != nil {
		return nil, err
	}
	fresh, err := tx.insertChained(ctx, rs, &nonceRecord{claim: n})
	if err != nil {
		tx.forgetAuditHead()
		return nil, err
	}
	if !fresh {
		return nil, ErrNonceUsed
	}
	return tx.maybeCheckpoint(ctx)
}

// nonceRecord is a nonce to record in the statement that appends records.
type nonceRecord struct {
	claim *nonceClaim
}

// insertChained inserts rs after the chain's head, reading the head when
// the remembered one turns out to be behind. With a nonce, the first
// attempt records it too; fresh is false when it was already used (and
// then nothing is written).
func (tx *Tx) insertChained(ctx context.Context, rs []*AuditRecord, nonce *nonceRecord) (fresh bool, err error) {
	verified := false
	if tx.head == nil {
		// SQLite reads the head in process, for less than the guard
		// costs it (an INSERT that reads its own table goes through a
		// temporary table there): only PostgreSQL starts from the tip.
		if !tx.tipTried && tx.d == postgresDialect {
			tx.tipTried = true
			tx.head, _ = tx.tip.get()
		}
		if tx.head == nil {
			if err := tx.readAuditHead(ctx); err != nil {
				return false, err
			}
			verified = true
		}
	} else {
		// The transaction's own appends moved it: it holds the lock.
		verified = true
	}
	for {
		prev := *tx.head
		for _, r := range rs {
			r.Chain = tx.chain
			r.Seq, r.PrevHash = prev.Seq+1, prev.Hash
			r.Hash = r.ComputeHash()
			prev = ChainHead{Chain: tx.chain, Seq: r.Seq, Hash: r.Hash}
		}
		var wrote int64
		if nonce != nil {
			var recorded bool
			if recorded, wrote, err = tx.insertAfterWithNonce(ctx, tx.head.Seq, rs, nonce); err != nil || !recorded {
				return false, err
			}
			nonce = nil // recorded: a retry appends only
		} else if wrote, err = tx.insertAfter(ctx, tx.head.Seq, rs, !verified); err != nil {
			return false, err
		}
		if wrote == int64(len(rs)) {
			tx.head = &prev
			return true, nil
		}
		if wrote != 0 || verified {
			return false, fmt.Errorf("store: audit chain %q moved past seq %d under its lock (%d of %d records written)", tx.chain, tx.head.Seq, wrote, len(rs))
		}
		if err := tx.readAuditHead(ctx); err != nil {
			return false, err
		}
		verified = true
	}
}

// readAuditHead reads the chain's head into the transaction.
func (tx *Tx) readAuditHead(ctx context.Context) error {
	tx.tip.reads.Add(1)
	h := &ChainHead{Chain: tx.chain}
	err := tx.e.QueryRowContext(ctx, `SELECT seq, hash FROM audit_log WHERE chain = ? ORDER BY seq DESC LIMIT 1`, tx.chain).Scan(&h.Seq, &h.Hash)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("store: audit head: %w", err)
	}
	if h.Hash == nil {
		h.Hash = make([]byte, sha256.Size)
	}
	tx.head = h
	return nil
}

// insertAfter inserts rs, guarded: only if the chain's head is at seq. It
// returns how many it wrote: all of them or, guarded, none.
func (tx *Tx) insertAfter(ctx context.Context, seq int64, rs []*AuditRecord, guarded bool) (int64, error) {
	q, args := plainAuditInsert(len(rs)), auditInsertArgs(tx.chain, seq, rs)
	if guarded {
		q = guardedAuditInsert(len(rs))
	} else {
		args = args[:len(args)-2]
	}
	res, err := tx.x.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("store: append audit records: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: append audit records: %w", err)
	}
	return n, nil
}

// insertAfterWithNonce is insertAfter that also records a nonce, in one
// PostgreSQL statement (data-modifying WITH): recorded is false when the
// nonce was already used, and then no record is written either.
func (tx *Tx) insertAfterWithNonce(ctx context.Context, seq int64, rs []*AuditRecord, n *nonceRecord) (recorded bool, wrote int64, err error) {
	args := append([]any{ms(n.claim.until), n.claim.accessKeyID, n.claim.nonce}, auditInsertArgs(tx.chain, seq, rs)...)
	var fresh int
	if err := tx.x.QueryRowContext(ctx, nonceAndAuditInsert(len(rs)), args...).Scan(&fresh, &wrote); err != nil {
		return false, 0, fmt.Errorf("store: record nonce and append audit records: %w", err)
	}
	return fresh == 1, wrote, nil
}

// nonceAndAuditInsert is recordNonce's insert and guardedAuditInsert of n
// records in one PostgreSQL statement; the records are written only if
// the nonce was. It answers how many nonces and how many records it wrote.
func nonceAndAuditInsert(n int) string {
	return auditStatement("nonce+guarded", n, func() string {
		return `WITH n AS (` + nonceInsert + ` RETURNING 1),
		a AS (` + guardedAuditInsert(n) + ` AND EXISTS (SELECT 1 FROM n) RETURNING 1)
		SELECT (SELECT COUNT(*) FROM n), (SELECT COUNT(*) FROM a)`
	})
}

const (
	auditColumns = `audit_log (chain, seq, at, request_id, account_id, access_key_id, action, resource, code, source_ip, client_cert, prev_hash, hash)`
	auditRow     = `(?,?,?,?,?,?,?,?,?,?,?,?,?)`
)

// plainAuditInsert is the INSERT of n records after a head the
// transaction read itself.
func plainAuditInsert(n int) string {
	return auditStatement("plain", n, func() string {
		return `INSERT INTO ` + auditColumns + ` VALUES ` + auditRow + strings.Repeat(","+auditRow, n-1)
	})
}

// guardedAuditInsert is the PostgreSQL INSERT of n records that writes
// nothing unless the chain's head is the record they follow. Its last two
// parameters are the chain and that record's seq (0: the chain is empty).
// PostgreSQL types a VALUES list from its first row, so that row's
// parameters are cast.
func guardedAuditInsert(n int) string {
	return auditStatement("guarded", n, func() string {
		first := `(?::text,?::bigint,?::bigint,?::text,?::text,?::text,?::text,?::text,?::text,?::text,?::text,?::bytea,?::bytea)`
		// MAX over the (chain, seq) key is one index entry whatever the
		// plan: "no record after seq" (seq > ?) read the whole log under
		// the generic plan of a prepared statement, which cannot know
		// that no row matches.
		return `INSERT INTO ` + auditColumns + ` SELECT * FROM (VALUES ` + first + strings.Repeat(","+auditRow, n-1) +
			`) AS v WHERE COALESCE((SELECT MAX(seq) FROM audit_log WHERE chain = ?), 0) = ?`
	})
}

// auditStatements caches the statements above by kind and record count:
// a call's few records make a handful of shapes.
var auditStatements sync.Map // auditStatementKey → string

type auditStatementKey struct {
	kind string
	n    int
}

func auditStatement(kind string, n int, build func() string) string {
	k := auditStatementKey{kind, n}
	if q, ok := auditStatements.Load(k); ok {
		return q.(string)
	}
	q := build()
	auditStatements.Store(k, q)
	return q
}

func auditInsertArgs(chain string, after int64, rs []*AuditRecord) []any {
	args := make([]any, 0, 13*len(rs)+2)
	for _, r := range rs {
		args = append(args, r.Chain, r.Seq, ms(r.At), r.RequestID, r.AccountID, r.AccessKeyID, r.Action, r.Resource, r.Code, r.SourceIP, r.ClientCert, r.PrevHash, r.Hash)
	}
	return append(args, chain, after)
}

// maybeCheckpoint signs a checkpoint over the head when the records after
// the last one have reached the bound.
func (tx *Tx) maybeCheckpoint(ctx context.Context) (*AuditCheckpoint, error) {
	a := tx.signing
	if a == nil {
		return nil, nil
	}
	if tx.lastCheckpoint == nil {
		last := int64(-1)
		if !tx.checkpointTried {
			tx.checkpointTried = true
			_, last = tx.tip.get()
		}
		if last < 0 {
			if err := tx.e.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM audit_checkpoints WHERE chain = ?`, tx.chain).Scan(&last); err != nil {
				return nil, fmt.Errorf("store: last audit checkpoint: %w", err)
			}
		}
		tx.lastCheckpoint = &last
	}
	head := tx.head
	if head.Seq-*tx.lastCheckpoint < a.every {
		return nil, nil
	}
	cp := &AuditCheckpoint{Chain: tx.chain, Seq: head.Seq, HeadHash: head.Hash, At: a.now()}
	var err error
	if cp.Heads, err = otherHeads(ctx, tx.e, tx.chain); err != nil {
		return nil, err
	}
	if cp.Signature, err = a.sign(ctx, cp); err != nil {
		return nil, fmt.Errorf("store: sign audit checkpoint %d: %w", head.Seq, err)
	}
	if err := insertCheckpoint(ctx, tx.e, cp); err != nil {
		return nil, err
	}
	signed := cp.Seq
	tx.lastCheckpoint = &signed
	return cp, nil
}

// forgetAuditHead drops what the transaction remembers of its chain, after
// a savepoint rolled back appends it had made; the head is then read.
func (tx *Tx) forgetAuditHead() {
	tx.head, tx.lastCheckpoint = nil, nil
	tx.tipTried, tx.checkpointTried = true, true
}

// committed tells the process what this transaction, now committed, left
// at its chain's head.
func (tx *Tx) committed() { tx.tip.committed(tx.head, tx.lastCheckpoint) }
