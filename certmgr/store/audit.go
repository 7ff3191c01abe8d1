package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// AuditRecord is one entry of the audit log. Hash = SHA-256(PrevHash ‖
// seq ‖ each field length-prefixed), so editing, deleting or reordering a
// record breaks the chain at that record. ClientCert, added later, is
// hashed only when set: records written before it existed (and every
// record of a call without a client certificate) hash as they always did.
type AuditRecord struct {
	// Chain is the hash chain the record is on: one per node of a cluster
	// (the embedded default has one, ""). Seq counts within it.
	Chain       string
	Seq         int64
	At          time.Time
	RequestID   string
	AccountID   string
	AccessKeyID string
	Action      string
	Resource    string
	Code        string
	SourceIP    string
	// ClientCert is the subject (RFC 2253) of the verified TLS client
	// certificate the call came over; empty without one.
	ClientCert string
	PrevHash   []byte
	Hash       []byte
}

// ComputeHash returns the record's chain hash from its fields and PrevHash.
func (r *AuditRecord) ComputeHash() []byte {
	h := sha256.New()
	if r.Chain != "" {
		// A node's chain binds its name, so records cannot move between
		// chains; the one chain of a single node hashes as it always has.
		h.Write([]byte("chain\x00" + r.Chain + "\x00"))
	}
	h.Write(r.PrevHash)
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(r.Seq))
	h.Write(n[:])
	binary.BigEndian.PutUint64(n[:], uint64(r.At.UnixMilli()))
	h.Write(n[:])
	fields := []string{r.RequestID, r.AccountID, r.AccessKeyID, r.Action, r.Resource, r.Code, r.SourceIP}
	if r.ClientCert != "" {
		// Length-prefixed like the rest, so a record with it can never
		// hash like one without it.
		fields = append(fields, r.ClientCert)
	}
	for _, f := range fields {
		binary.BigEndian.PutUint64(n[:], uint64(len(f)))
		h.Write(n[:])
		h.Write([]byte(f))
	}
	return h.Sum(nil)
}

// CheckpointSigner signs an audit checkpoint (its chain, sequence, head
// hash and the other chains' heads) with the audit key, which stays in the
// token.
type CheckpointSigner func(ctx context.Context, cp *AuditCheckpoint) ([]byte, error)

// auditSigning is how the writer keeps the unsigned tail bounded.
type auditSigning struct {
	every int64
	now   func() time.Time
	sign  CheckpointSigner
}

// SignAuditEvery makes the writer sign: a transaction whose record brings
// the records after the last checkpoint to every signs a checkpoint over
// that record, inside the same transaction, before anything else is
// appended. So the unsigned tail never exceeds every records, under any
// load and whatever becomes of the call that wrote the record; if the
// signature cannot be made, the transaction fails and its change does not
// happen. now stamps the checkpoints.
func (s *DB) SignAuditEvery(every int64, now func() time.Time, sign CheckpointSigner) {
	s.signing.Store(&auditSigning{every: every, now: now, sign: sign})
}

// otherHeadsQuery finds the chains by skipping through the (chain, seq)
// key, one index seek per chain, and each chain's head with two more
// (scalar subqueries: a join on the head let PostgreSQL hash the log):
// neither SQLite nor PostgreSQL skip-scans a GROUP BY chain by itself,
// and "chain <> ?" cannot use the key at all, so the plain aggregate read
// the whole log inside every checkpoint's transaction (40-70 ms at 300,000
// records on SQLite, growing with the log).
const otherHeadsQuery = `WITH RECURSIVE chains(chain) AS (
		SELECT MIN(chain) FROM audit_log
		UNION ALL
		SELECT (SELECT MIN(chain) FROM audit_log WHERE chain > chains.chain) FROM chains WHERE chains.chain IS NOT NULL)
	SELECT c.chain,
		(SELECT seq FROM audit_log WHERE chain = c.chain ORDER BY seq DESC LIMIT 1),
		(SELECT hash FROM audit_log WHERE chain = c.chain ORDER BY seq DESC LIMIT 1)
	FROM chains c WHERE c.chain IS NOT NULL AND c.chain <> ? ORDER BY c.chain`

// otherHeads names the head of every chain but this one, as this
// transaction sees them: a checkpoint that names them lets verification
// notice a whole chain, or the end of one, gone.
func otherHeads(ctx context.Context, e execer, chain string) ([]ChainHead, error) {
	rows, err := e.QueryContext(ctx, otherHeadsQuery, chain)
	if err != nil {
		return nil, fmt.Errorf("store: audit chain heads: %w", err)
	}
	defer rows.Close()
	var out []ChainHead
	for rows.Next() {
		var h ChainHead
		if err := rows.Scan(&h.Chain, &h.Seq, &h.Hash); err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

func insertCheckpoint(ctx context.Context, e execer, cp *AuditCheckpoint) error {
	_, err := e.ExecContext(ctx, `INSERT INTO audit_checkpoints (chain, seq, head_hash, signature, at, heads) VALUES (?,?,?,?,?,?)
		ON CONFLICT (chain, seq) DO NOTHING`, cp.Chain, cp.Seq, cp.HeadHash, cp.Signature, ms(cp.At), encodeHeads(cp.Heads))
	if err != nil {
		return fmt.Errorf("store: insert audit checkpoint: %w", err)
	}
	return nil
}

// AuditHead returns the newest record of this store's chain, and whether a
// checkpoint already covers it; seq is 0 for an empty chain.
func (s *DB) AuditHead(ctx context.Context) (seq int64, hash []byte, signed bool, err error) {
	err = s.e.QueryRowContext(ctx, `SELECT a.seq, a.hash, c.seq IS NOT NULL FROM audit_log a
		LEFT JOIN audit_checkpoints c ON c.chain = a.chain AND c.seq = a.seq WHERE a.chain = ? ORDER BY a.seq DESC LIMIT 1`, s.chain).Scan(&seq, &hash, &signed)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil, false, nil
	}
	return seq, hash, signed, err
}

// AuditChain is the chain this store appends to ("" for a single node).
func (s *DB) AuditChain() string { return s.chain }

// ChainHead is one chain's newest record as a checkpoint saw it.
type ChainHead struct {
	Chain string
	Seq   int64
	Hash  []byte
}

// AuditCheckpoint is a signed (chain, sequence, head hash) triple, naming
// the heads of the other chains when it was signed.
type AuditCheckpoint struct {
	Chain     string
	Seq       int64
	HeadHash  []byte
	Signature []byte
	At        time.Time
	Heads     []ChainHead
}

// encodeHeads stores heads as "chain seq hexhash" lines (chain names are
// ours: no spaces or newlines). The embedded default's chain, named "",
// is written "-" (no node's chain is called that): a node that joins a
// database copied from an embedded install (store copy) names that chain's
// head in its checkpoints, and an empty first field would vanish.
func encodeHeads(hs []ChainHead) string {
	var b strings.Builder
	for _, h := range hs {
		name := h.Chain
		if name == "" {
			name = unnamedChain
		}
		fmt.Fprintf(&b, "%s %d %s\n", name, h.Seq, hex.EncodeToString(h.Hash))
	}
	return b.String()
}

// unnamedChain stands for the chain named "" in a checkpoint's heads.
const unnamedChain = "-"

func decodeHeads(s string) ([]ChainHead, error) {
	var out []ChainHead
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) == 2 { // the chain named "", as written before unnamedChain
			f = append([]string{unnamedChain}, f...)
		}
		if len(f) != 3 {
			return nil, fmt.Errorf("store: malformed checkpoint head %q", line)
		}
		if f[0] == unnamedChain {
			f[0] = ""
		}
		seq, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("store: malformed checkpoint head %q", line)
		}
		hash, err := hex.DecodeString(f[2])
		if err != nil {
			return nil, fmt.Errorf("store: malformed checkpoint head %q", line)
		}
		out = append(out, ChainHead{Chain: f[0], Seq: seq, Hash: hash})
	}
	return out, nil
}

// InsertAuditCheckpoint stores a checkpoint of this store's chain,
// naming the other chains' heads it was signed over.
func (s *DB) InsertAuditCheckpoint(ctx context.Context, c *AuditCheckpoint) error {
	return insertCheckpoint(ctx, s.e, c)
}

// OtherChainHeads returns the heads of every chain but this store's, for
// a checkpoint about to be signed outside a write transaction.
func (s *DB) OtherChainHeads(ctx context.Context) ([]ChainHead, error) {
	return otherHeads(ctx, s.e, s.chain)
}

// WalkAudit calls fn for every record, chain by chain, each in sequence
// order. A Tx has it too, so a check can read a log that is not yet
// committed (store copy does).
func (q queries) WalkAudit(ctx context.Context, fn func(*AuditRecord) error) error {
	rows, err := q.e.QueryContext(ctx, `SELECT chain, seq, at, request_id, account_id, access_key_id, action, resource, code, source_ip, client_cert, prev_hash, hash
		FROM audit_log ORDER BY chain, seq`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var r AuditRecord
		var at int64
		if err := rows.Scan(&r.Chain, &r.Seq, &at, &r.RequestID, &r.AccountID, &r.AccessKeyID, &r.Action, &r.Resource, &r.Code, &r.SourceIP, &r.ClientCert, &r.PrevHash, &r.Hash); err != nil {
			return err
		}
		r.At = fromMS(at)
		if err := fn(&r); err != nil {
			return err
		}
	}
	return rows.Err()
}

// CheckpointKey names a checkpoint: its chain and sequence.
type CheckpointKey struct {
	Chain string
	Seq   int64
}

// AuditCheckpoints returns every checkpoint of every chain.
func (q queries) AuditCheckpoints(ctx context.Context) (map[CheckpointKey]*AuditCheckpoint, error) {
	rows, err := q.e.QueryContext(ctx, `SELECT chain, seq, head_hash, signature, at, heads FROM audit_checkpoints`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[CheckpointKey]*AuditCheckpoint{}
	for rows.Next() {
		var c AuditCheckpoint
		var at int64
		var heads string
		if err := rows.Scan(&c.Chain, &c.Seq, &c.HeadHash, &c.Signature, &at, &heads); err != nil {
			return nil, err
		}
		c.At = fromMS(at)
		if c.Heads, err = decodeHeads(heads); err != nil {
			return nil, err
		}
		out[CheckpointKey{c.Chain, c.Seq}] = &c
	}
	return out, rows.Err()
}
