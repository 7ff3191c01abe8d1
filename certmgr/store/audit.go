package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// AuditRecord is one entry of the audit log. Hash = SHA-256(PrevHash ‖
// seq ‖ each field length-prefixed), so editing, deleting or reordering a
// record breaks the chain at that record.
type AuditRecord struct {
	Seq         int64
	At          time.Time
	RequestID   string
	AccountID   string
	AccessKeyID string
	Action      string
	Resource    string
	Code        string
	SourceIP    string
	PrevHash    []byte
	Hash        []byte
}

// ComputeHash returns the record's chain hash from its fields and PrevHash.
func (r *AuditRecord) ComputeHash() []byte {
	h := sha256.New()
	h.Write(r.PrevHash)
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(r.Seq))
	h.Write(n[:])
	binary.BigEndian.PutUint64(n[:], uint64(r.At.UnixMilli()))
	h.Write(n[:])
	for _, f := range []string{r.RequestID, r.AccountID, r.AccessKeyID, r.Action, r.Resource, r.Code, r.SourceIP} {
		binary.BigEndian.PutUint64(n[:], uint64(len(f)))
		h.Write(n[:])
		h.Write([]byte(f))
	}
	return h.Sum(nil)
}

// CheckpointSigner signs an audit checkpoint: the digest of (seq, head
// hash), with the audit key, which stays in the token.
type CheckpointSigner func(ctx context.Context, seq int64, head []byte) ([]byte, error)

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

// appendAudit appends a record at the head of the chain, and signs a
// checkpoint over it when it completes the bound SignAuditEvery set (the
// checkpoint is returned, nil otherwise). Every transaction holds SQLite's
// write lock from BEGIN (txlock=immediate), so reading the head and
// appending after it cannot fork the chain.
func (tx *Tx) appendAudit(ctx context.Context, r *AuditRecord) (*AuditCheckpoint, error) {
	if err := tx.appendRecord(ctx, r); err != nil {
		return nil, err
	}
	a := tx.signing
	if a == nil {
		return nil, nil
	}
	var last int64
	if err := tx.e.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM audit_checkpoints`).Scan(&last); err != nil {
		return nil, fmt.Errorf("store: last audit checkpoint: %w", err)
	}
	if r.Seq-last < a.every {
		return nil, nil
	}
	sig, err := a.sign(ctx, r.Seq, r.Hash)
	if err != nil {
		return nil, fmt.Errorf("store: sign audit checkpoint %d: %w", r.Seq, err)
	}
	cp := &AuditCheckpoint{Seq: r.Seq, HeadHash: r.Hash, Signature: sig, At: a.now()}
	if _, err := tx.e.ExecContext(ctx, `INSERT INTO audit_checkpoints (seq, head_hash, signature, at) VALUES (?,?,?,?) ON CONFLICT (seq) DO NOTHING`,
		cp.Seq, cp.HeadHash, cp.Signature, ms(cp.At)); err != nil {
		return nil, fmt.Errorf("store: insert audit checkpoint: %w", err)
	}
	return cp, nil
}

func (tx *Tx) appendRecord(ctx context.Context, r *AuditRecord) error {
	var seq int64
	var prev []byte
	err := tx.e.QueryRowContext(ctx, `SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1`).Scan(&seq, &prev)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("store: audit head: %w", err)
	}
	if prev == nil {
		prev = make([]byte, sha256.Size)
	}
	r.Seq, r.PrevHash = seq+1, prev
	r.Hash = r.ComputeHash()
	_, err = tx.e.ExecContext(ctx, `INSERT INTO audit_log (seq, at, request_id, account_id, access_key_id, action, resource, code, source_ip, prev_hash, hash)
			VALUES (?,?,?,?,?,?,?,?,?,?,?)`, r.Seq, ms(r.At), r.RequestID, r.AccountID, r.AccessKeyID, r.Action, r.Resource, r.Code, r.SourceIP, r.PrevHash, r.Hash)
	if err != nil {
		return fmt.Errorf("store: append audit record: %w", err)
	}
	return nil
}

// AuditHead returns the newest record's sequence and hash, and whether a
// checkpoint already covers it; seq is 0 for an empty log.
func (s *DB) AuditHead(ctx context.Context) (seq int64, hash []byte, signed bool, err error) {
	err = s.e.QueryRowContext(ctx, `SELECT a.seq, a.hash, c.seq IS NOT NULL FROM audit_log a
		LEFT JOIN audit_checkpoints c ON c.seq = a.seq ORDER BY a.seq DESC LIMIT 1`).Scan(&seq, &hash, &signed)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil, false, nil
	}
	return seq, hash, signed, err
}

// AuditCheckpoint is a signed (sequence, head hash) pair.
type AuditCheckpoint struct {
	Seq       int64
	HeadHash  []byte
	Signature []byte
	At        time.Time
}

// InsertAuditCheckpoint stores a checkpoint.
func (s *DB) InsertAuditCheckpoint(ctx context.Context, c *AuditCheckpoint) error {
	_, err := s.e.ExecContext(ctx, `INSERT INTO audit_checkpoints (seq, head_hash, signature, at) VALUES (?,?,?,?) ON CONFLICT (seq) DO NOTHING`, c.Seq, c.HeadHash, c.Signature, ms(c.At))
	return err
}

// WalkAudit calls fn for every record in sequence order. A Tx has it too,
// so a check can read a log that is not yet committed (store copy does).
func (q queries) WalkAudit(ctx context.Context, fn func(*AuditRecord) error) error {
	rows, err := q.e.QueryContext(ctx, `SELECT seq, at, request_id, account_id, access_key_id, action, resource, code, source_ip, prev_hash, hash FROM audit_log ORDER BY seq`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var r AuditRecord
		var at int64
		if err := rows.Scan(&r.Seq, &at, &r.RequestID, &r.AccountID, &r.AccessKeyID, &r.Action, &r.Resource, &r.Code, &r.SourceIP, &r.PrevHash, &r.Hash); err != nil {
			return err
		}
		r.At = fromMS(at)
		if err := fn(&r); err != nil {
			return err
		}
	}
	return rows.Err()
}

// AuditCheckpoints returns every checkpoint by sequence.
func (q queries) AuditCheckpoints(ctx context.Context) (map[int64]*AuditCheckpoint, error) {
	rows, err := q.e.QueryContext(ctx, `SELECT seq, head_hash, signature, at FROM audit_checkpoints`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int64]*AuditCheckpoint{}
	for rows.Next() {
		var c AuditCheckpoint
		var at int64
		if err := rows.Scan(&c.Seq, &c.HeadHash, &c.Signature, &at); err != nil {
			return nil, err
		}
		c.At = fromMS(at)
		out[c.Seq] = &c
	}
	return out, rows.Err()
}
