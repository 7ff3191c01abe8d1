package store

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Each CA's CRL entries are kept encoded, so a CRL build reads a few
// thousand blobs and signs, instead of reading, converting and encoding a
// row per revoked certificate (a million of them took seconds), and
// saves only what it wrote around them (crl_documents.go). A
// revocation appends its entry's DER to its CA's last chunk, in its own
// transaction and after markCRLDirty has taken the CA's crls row, so the
// appends of one CA take turns on every backend and node, and each costs
// one bounded chunk rewrite however long the list is.
//
// crls.entries_kept says whether the chunks are the whole list. A CA
// whose list is not kept yet (a CA before this scheme, or whose first
// revocation made its crls row) has it written from the certificate
// tables by its next build, under the same row lock, once.
//
// The entries are the one piece of X.509 the store writes: a revocation
// must append its entry in its own transaction, and the entry is made only
// of what the store holds (serial, revocation time, reason).

// crlChunkBytes bounds a chunk: about a hundred entries, small enough
// that a SQLite record stays on one 4 KiB page (an append rewrites one
// page) and a build reads ten thousand chunks for a million entries.
const crlChunkBytes = 3800

// CRL entry DER: tags and the reasonCode extension's OID (2.5.29.21).
const (
	tagInteger         = 0x02
	tagEnumerated      = 0x0a
	tagUTCTime         = 0x17
	tagGeneralizedTime = 0x18
	tagSequence        = 0x30
)

var oidReasonCodeDER = []byte{0x06, 0x03, 0x55, 0x1d, 0x15}

// CRLEntryDER is one revokedCertificates element of an RFC 5280 CRL:
// SEQUENCE { userCertificate INTEGER, revocationDate Time,
// crlEntryExtensions { reasonCode } OPTIONAL }, the reason omitted when
// unspecified (0). serialHex is the serial as stored (hex, either case);
// the time is written to the second, as UTCTime from 1950 through 2049
// and GeneralizedTime otherwise.
func CRLEntryDER(serialHex string, revokedAt time.Time, reason int) ([]byte, error) {
	serial, err := hex.DecodeString(serialHex)
	if err != nil || len(serial) == 0 {
		return nil, fmt.Errorf("store: CRL entry: bad stored serial %q", serialHex)
	}
	if reason < 0 || reason > 127 {
		return nil, fmt.Errorf("store: CRL entry: reason %d is not a CRL reason code", reason)
	}
	// An INTEGER's content is minimal and non-negative: no redundant
	// leading zero octets, one zero octet before a high bit.
	for len(serial) > 1 && serial[0] == 0 && serial[1]&0x80 == 0 {
		serial = serial[1:]
	}
	pad := serial[0]&0x80 != 0
	intLen := len(serial)
	if pad {
		intLen++
	}
	t := revokedAt.UTC()
	timeTag, layout := byte(tagUTCTime), "060102150405Z"
	if y := t.Year(); y < 1950 || y >= 2050 {
		timeTag, layout = tagGeneralizedTime, "20060102150405Z"
	}
	body := DERHeaderLen(intLen) + intLen + 2 + len(layout)
	if reason != 0 {
		body += 14 // SEQUENCE { SEQUENCE { OID, OCTET STRING { ENUMERATED } } }
	}
	out := make([]byte, 0, DERHeaderLen(body)+body)
	out = AppendDERHeader(out, tagSequence, body)
	out = AppendDERHeader(out, tagInteger, intLen)
	if pad {
		out = append(out, 0)
	}
	out = append(out, serial...)
	out = append(out, timeTag, byte(len(layout)))
	out = t.AppendFormat(out, layout)
	if reason != 0 {
		out = append(out, tagSequence, 12, tagSequence, 10)
		out = append(out, oidReasonCodeDER...)
		out = append(out, 0x04, 3, tagEnumerated, 1, byte(reason))
	}
	return out, nil
}

// DERHeaderLen is the size of a DER tag and length for n content octets.
// certmgr sizes the CRL around the entries kept here with it too.
func DERHeaderLen(n int) int {
	switch {
	case n < 0x80:
		return 2
	case n <= 0xff:
		return 3
	case n <= 0xffff:
		return 4
	case n <= 0xffffff:
		return 5
	default:
		return 6
	}
}

// AppendDERHeader appends a DER tag and the definite length n. certmgr
// frames the CRL around the entries kept here with it too.
func AppendDERHeader(b []byte, tag byte, n int) []byte {
	b = append(b, tag)
	switch {
	case n < 0x80:
		return append(b, byte(n))
	case n <= 0xff:
		return append(b, 0x81, byte(n))
	case n <= 0xffff:
		return append(b, 0x82, byte(n>>8), byte(n))
	case n <= 0xffffff:
		return append(b, 0x83, byte(n>>16), byte(n>>8), byte(n))
	default:
		return append(b, 0x84, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
}

// appendCRLEntry adds a revocation's entry to its CA's kept list. The
// caller holds the CA's crls row (markCRLDirty), so no other append or
// rewrite of this CA's chunks runs until it commits.
func appendCRLEntry(ctx context.Context, tx *Tx, ca string, entry []byte) error {
	var seq int64
	var tail []byte
	err := tx.e.QueryRowContext(ctx, `SELECT seq, der FROM crl_entries WHERE ca_identifier = ? ORDER BY seq DESC LIMIT 1`, ca).Scan(&seq, &tail)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return fmt.Errorf("store: CRL entries: %w", err)
	case len(tail)+len(entry) <= crlChunkBytes:
		if _, err := tx.x.ExecContext(ctx, `UPDATE crl_entries SET der = ? WHERE ca_identifier = ? AND seq = ?`, append(tail, entry...), ca, seq); err != nil {
			return fmt.Errorf("store: CRL entries: %w", err)
		}
		return nil
	}
	if _, err := tx.x.ExecContext(ctx, `INSERT INTO crl_entries (ca_identifier, seq, der) VALUES (?, ?, ?)`, ca, seq+1, entry); err != nil {
		return fmt.Errorf("store: CRL entries: %w", err)
	}
	return nil
}

// keepCRLEntries writes a CA's list from the certificate tables and marks
// it kept. It first takes the CA's crls row: on PostgreSQL a revocation
// that holds it commits first and is in the tables read below, and one
// that comes after waits, then finds the list kept and appends to it.
func keepCRLEntries(ctx context.Context, tx *Tx, ca string) error {
	if _, err := tx.x.ExecContext(ctx, `UPDATE crls SET entries_kept = 1 WHERE ca_identifier = ?`, ca); err != nil {
		return fmt.Errorf("store: keep CRL entries: %w", err)
	}
	// A stored CRL made of the old chunks would no longer read back.
	if _, err := tx.x.ExecContext(ctx, `DELETE FROM crl_documents WHERE ca_identifier = ? AND entries_seq > 0`, ca); err != nil {
		return fmt.Errorf("store: keep CRL entries: %w", err)
	}
	if _, err := tx.x.ExecContext(ctx, `DELETE FROM crl_entries WHERE ca_identifier = ?`, ca); err != nil {
		return fmt.Errorf("store: keep CRL entries: %w", err)
	}
	// Chunks are written after the rows are read: a PostgreSQL connection
	// runs one statement at a time.
	var chunks [][]byte
	var cur []byte
	err := eachRevoked(ctx, tx.queries, ca, func(serial string, at time.Time, reason int) error {
		entry, err := CRLEntryDER(serial, at, reason)
		if err != nil {
			return err
		}
		if len(cur) > 0 && len(cur)+len(entry) > crlChunkBytes {
			chunks, cur = append(chunks, cur), nil
		}
		if cur == nil {
			cur = make([]byte, 0, crlChunkBytes)
		}
		cur = append(cur, entry...)
		return nil
	})
	if err != nil {
		return err
	}
	if len(cur) > 0 {
		chunks = append(chunks, cur)
	}
	for i, c := range chunks {
		if _, err := tx.x.ExecContext(ctx, `INSERT INTO crl_entries (ca_identifier, seq, der) VALUES (?, ?, ?)`, ca, i+1, c); err != nil {
			return fmt.Errorf("store: keep CRL entries: %w", err)
		}
	}
	return nil
}

// eachRevoked calls fn for everything a CA has revoked, from the
// certificate tables: its end-entity certificates, then its revoked
// subordinate CAs (reason unspecified).
func eachRevoked(ctx context.Context, q queries, ca string, fn func(serial string, at time.Time, reason int) error) error {
	rows, err := q.e.QueryContext(ctx, `SELECT serial, revoked_at, revoke_reason FROM issued_certificates WHERE issuer_identifier = ? AND status = 'REVOKE'
		UNION ALL SELECT serial, revoked_at, 0 FROM ca_certificates WHERE parent_identifier = ? AND status = 'REVOKE'`, ca, ca)
	if err != nil {
		return fmt.Errorf("store: revoked list: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var serial string
		var at int64
		var reason int
		if err := rows.Scan(&serial, &at, &reason); err != nil {
			return err
		}
		if err := fn(serial, fromMS(at), reason); err != nil {
			return err
		}
	}
	return rows.Err()
}

// readCRLEntries returns a CA's kept list as one buffer (into's, if
// given), the revokedCertificates content of its next CRL, and which
// chunks it was read from.
func readCRLEntries(ctx context.Context, q queries, ca string, into func(size int) []byte) ([]byte, crlExtent, error) {
	var size int64
	if err := q.e.QueryRowContext(ctx, `SELECT COALESCE(SUM(LENGTH(der)), 0) FROM crl_entries WHERE ca_identifier = ?`, ca).Scan(&size); err != nil {
		return nil, crlExtent{}, fmt.Errorf("store: CRL entries: %w", err)
	}
	rows, err := q.e.QueryContext(ctx, `SELECT seq, der FROM crl_entries WHERE ca_identifier = ? ORDER BY seq`, ca)
	if err != nil {
		return nil, crlExtent{}, fmt.Errorf("store: CRL entries: %w", err)
	}
	defer rows.Close()
	// Sized once; on PostgreSQL a revocation committed since the sum may
	// add a few bytes, which append takes.
	var out []byte
	if into != nil {
		out = into(int(size))[:0]
	} else {
		out = make([]byte, 0, size)
	}
	var ext crlExtent
	for rows.Next() {
		var chunk sql.RawBytes
		if err := rows.Scan(&ext.seq, &chunk); err != nil {
			return nil, crlExtent{}, fmt.Errorf("store: CRL entries: %w", err)
		}
		out = append(out, chunk...)
		ext.tail = int64(len(chunk))
	}
	if err := rows.Err(); err != nil {
		return nil, crlExtent{}, fmt.Errorf("store: CRL entries: %w", err)
	}
	ext.bytes = int64(len(out))
	return out, ext, nil
}
