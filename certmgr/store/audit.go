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
// record breaks the chain at that record. ClientCert, added later, is
// hashed only when set: records written before it existed (and every
// record of a call without a client certificate) hash as they always did.
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
	// ClientCert is the subject (RFC 2253) of the verified TLS client
	// certificate the call came over; empty without one.
	ClientCert string
	PrevHash   []byte
	Hash       []byte
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

// appendAudit appends a record at the head of the chain. Every transaction
// holds SQLite's write lock from BEGIN (txlock=immediate), so reading the
// head and appending after it cannot fork the chain.
func (tx *Tx) appendAudit(ctx context.Context, r *AuditRecord) error {
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
	_, err = tx.e.ExecContext(ctx, `INSERT INTO audit_log (seq, at, request_id, account_id, access_key_id, action, resource, code, source_ip, client_cert, prev_hash, hash)
			VALUES (?,?,?,?,?,?,?,?,?,?,?,?)`, r.Seq, ms(r.At), r.RequestID, r.AccountID, r.AccessKeyID, r.Action, r.Resource, r.Code, r.SourceIP, r.ClientCert, r.PrevHash, r.Hash)
	if err != nil {
		return fmt.Errorf("store: append audit record: %w", err)
	}
	return nil
}

// AuditHead returns the newest record's sequence and hash, and whether a
// checkpoint already covers it; seq is 0 for an empty log.
func (s *DB) AuditHead(ctx context.Context) (seq int64, hash []byte, signed bool, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT a.seq, a.hash, c.seq IS NOT NULL FROM audit_log a
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
	_, err := s.db.ExecContext(ctx, `INSERT OR IGNORE INTO audit_checkpoints (seq, head_hash, signature, at) VALUES (?,?,?,?)`, c.Seq, c.HeadHash, c.Signature, ms(c.At))
	return err
}

// WalkAudit calls fn for every record in sequence order.
func (s *DB) WalkAudit(ctx context.Context, fn func(*AuditRecord) error) error {
	rows, err := s.db.QueryContext(ctx, `SELECT seq, at, request_id, account_id, access_key_id, action, resource, code, source_ip, client_cert, prev_hash, hash FROM audit_log ORDER BY seq`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var r AuditRecord
		var at int64
		if err := rows.Scan(&r.Seq, &at, &r.RequestID, &r.AccountID, &r.AccessKeyID, &r.Action, &r.Resource, &r.Code, &r.SourceIP, &r.ClientCert, &r.PrevHash, &r.Hash); err != nil {
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
func (s *DB) AuditCheckpoints(ctx context.Context) (map[int64]*AuditCheckpoint, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT seq, head_hash, signature, at FROM audit_checkpoints`)
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
