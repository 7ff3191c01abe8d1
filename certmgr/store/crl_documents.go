package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// A CA's current CRL is stored as what its build wrote around the kept
// entries (crl_documents: head, tail) and which of them it listed
// (chunks 1..entries_seq, the last up to entries_tail bytes). The kept
// list only grows at its end, so those bytes stay what was signed; a
// build then saves a few hundred bytes, not a second copy of a list of
// tens of megabytes, and no row a revocation updates holds the CRL
// (SQLite rewrites a whole row on update). A stored SHA-256 of the whole
// CRL is checked each time it is put together: a CRL whose chunks were
// written afresh since (keepCRLEntries) reads as missing and is rebuilt,
// never served wrong. A CRL saved by a binary before the kept entries
// (or a CRL that lists none) is all head.

// CRL is the stored state of a CA's CRL.
type CRL struct {
	Number     int64
	Dirty      bool
	Generation int64 // change counter: bumped by every revocation the CRL must list
	DER        []byte
	ThisUpdate time.Time
	NextUpdate time.Time
	// EntriesAt, for SaveCRL, is where the build's entries (its
	// CRLBuildInput.Entries) sit in DER; 0 if they are not in it as read.
	EntriesAt int
}

// crlExtent is which of a CA's kept entries a CRL lists: chunks 1..seq,
// the last of them up to tail bytes, bytes in all.
type crlExtent struct {
	seq, tail, bytes int64
}

// CRLState returns the state of a CA's CRL without the CRL itself (DER
// nil): a zero CRL, dirty, if none yet.
func (q queries) CRLState(ctx context.Context, ca string) (*CRL, error) {
	c, _, err := q.crlRow(ctx, ca, false)
	return c, err
}

// GetCRL returns the state of a CA's CRL with the CRL (a zero CRL, dirty,
// if none yet). DER is nil while the CRL is dirty (no one serves a dirty
// CRL; reading tens of megabytes only to rebuild them would double a
// build's memory), and when the stored CRL no longer reads back as it was
// signed: either way the caller builds one.
func (q queries) GetCRL(ctx context.Context, ca string) (*CRL, error) {
	c, doc, err := q.crlRow(ctx, ca, true)
	if err != nil || doc == nil {
		return c, err
	}
	if c.DER, err = q.assembleCRL(ctx, ca, doc); err != nil {
		return nil, err
	}
	return c, nil
}

// crlDocument is a CRL as stored: head, the kept entries it lists, tail.
type crlDocument struct {
	head, tail, sum []byte
	extent          crlExtent
}

// crlRow reads a CA's CRL state and, when withDoc and it is clean, its
// stored document, in one statement (one snapshot on PostgreSQL too).
func (q queries) crlRow(ctx context.Context, ca string, withDoc bool) (*CRL, *crlDocument, error) {
	var c CRL
	var dirty int
	var this, next, seq, tail, size sql.NullInt64
	var d crlDocument
	err := q.e.QueryRowContext(ctx, `SELECT c.crl_number, c.dirty, c.generation, c.this_update, c.next_update,
			CASE WHEN c.dirty = 0 AND ? = 1 THEN d.head END, d.entries_seq, d.entries_tail, d.entries_bytes, d.tail, d.sha256
		FROM crls c LEFT JOIN crl_documents d ON d.ca_identifier = c.ca_identifier WHERE c.ca_identifier = ?`, boolInt(withDoc), ca).
		Scan(&c.Number, &dirty, &c.Generation, &this, &next, &d.head, &seq, &tail, &size, &d.tail, &d.sum)
	if errors.Is(err, sql.ErrNoRows) {
		return &CRL{Dirty: true}, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("store: CRL state: %w", err)
	}
	c.Dirty = dirty != 0
	if this.Valid {
		c.ThisUpdate, c.NextUpdate = fromMS(this.Int64), fromMS(next.Int64)
	}
	if d.head == nil {
		return &c, nil, nil
	}
	d.extent = crlExtent{seq: seq.Int64, tail: tail.Int64, bytes: size.Int64}
	return &c, &d, nil
}

// assembleCRL puts a stored CRL together: nil if it does not match the
// digest it was saved with.
func (q queries) assembleCRL(ctx context.Context, ca string, d *crlDocument) ([]byte, error) {
	if d.extent.seq == 0 {
		return d.head, nil
	}
	der := make([]byte, 0, int64(len(d.head))+d.extent.bytes+int64(len(d.tail)))
	der = append(der, d.head...)
	rows, err := q.e.QueryContext(ctx, `SELECT seq, der FROM crl_entries WHERE ca_identifier = ? AND seq <= ? ORDER BY seq`, ca, d.extent.seq)
	if err != nil {
		return nil, fmt.Errorf("store: read CRL: %w", err)
	}
	defer rows.Close()
	left, want := d.extent.bytes, int64(1)
	for rows.Next() {
		var seq int64
		var chunk sql.RawBytes
		if err := rows.Scan(&seq, &chunk); err != nil {
			return nil, fmt.Errorf("store: read CRL: %w", err)
		}
		if seq != want {
			return nil, nil // a chunk missing: the entries were written afresh
		}
		want++
		if seq == d.extent.seq {
			if int64(len(chunk)) < d.extent.tail {
				return nil, nil
			}
			chunk = chunk[:d.extent.tail]
		}
		if int64(len(chunk)) > left {
			return nil, nil
		}
		der = append(der, chunk...)
		left -= int64(len(chunk))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: read CRL: %w", err)
	}
	der = append(der, d.tail...)
	if sum := sha256.Sum256(der); left != 0 || want != d.extent.seq+1 || !bytes.Equal(sum[:], d.sum) {
		return nil, nil
	}
	return der, nil
}

// CRLBuildInput is what a CRL build reads, from one snapshot.
type CRLBuildInput struct {
	// Entries is the content of the CRL's revokedCertificates: the DER
	// of every revoked entry (CRLEntryDER), one after the other, in the
	// order they were kept; empty when nothing is revoked.
	Entries    []byte
	LastNumber int64 // the number of the CRL stored now
	Generation int64 // the change counter the entries were read at
	extent     crlExtent
}

// ReadCRLBuild reads, in one transaction, what a CRL build needs: the
// revoked entries, the last CRL number and the change counter they go
// with. The counter is read before the entries, so on PostgreSQL (one
// snapshot per statement) the entries hold at least every revocation the
// counter counts. It changes nothing but creating the CRL's row and, the
// first time, writing the CA's kept list from the certificate tables;
// the dirty mark stays until SaveCRL stores a CRL built from this
// snapshot. The caller holds the CA's CRL-build lock.
//
// into, if not nil, is told the entries' size and returns the empty
// slice they are appended to (a build reads them straight into the CRL it
// writes around them); a slice too small is grown by append.
func (s *DB) ReadCRLBuild(ctx context.Context, ca string, into func(size int) []byte) (*CRLBuildInput, error) {
	in := &CRLBuildInput{}
	err := s.Tx(ctx, func(tx *Tx) error {
		if _, err := tx.e.ExecContext(ctx, `INSERT INTO crls (ca_identifier, crl_number, dirty, generation) VALUES (?, 0, 1, 0)
			ON CONFLICT (ca_identifier) DO NOTHING`, ca); err != nil {
			return fmt.Errorf("store: CRL row: %w", err)
		}
		var kept int
		if err := tx.e.QueryRowContext(ctx, `SELECT crl_number, generation, entries_kept FROM crls WHERE ca_identifier = ?`, ca).Scan(&in.LastNumber, &in.Generation, &kept); err != nil {
			return fmt.Errorf("store: CRL state: %w", err)
		}
		if kept == 0 {
			if err := keepCRLEntries(ctx, tx, ca); err != nil {
				return err
			}
		}
		var err error
		in.Entries, in.extent, err = readCRLEntries(ctx, tx.queries, ca, into)
		return err
	})
	if err != nil {
		return nil, err
	}
	return in, nil
}

// SaveCRL stores a CRL built from in, and in the same transaction clears
// the dirty mark, but only if no revocation arrived since in was read (the
// change counter is unchanged): a CRL that lacks a revocation never
// clears the mark that asks for it. The CRL number must follow the one in
// was read with; a CRL saved in between by another builder is ErrConflict.
// A CRL with in's entries in it at c.EntriesAt is stored as what is
// around them; any other CRL, whole.
func (s *DB) SaveCRL(ctx context.Context, ca string, c *CRL, in *CRLBuildInput) error {
	head, tail, extent := c.DER, []byte(nil), crlExtent{}
	if n := len(in.Entries); n > 0 && in.extent.seq > 0 && c.EntriesAt > 0 && c.EntriesAt+n <= len(c.DER) &&
		bytes.Equal(c.DER[c.EntriesAt:c.EntriesAt+n], in.Entries) {
		head, tail, extent = c.DER[:c.EntriesAt], c.DER[c.EntriesAt+n:], in.extent
	}
	sum := sha256.Sum256(c.DER)
	return s.Tx(ctx, func(tx *Tx) error {
		res, err := tx.e.ExecContext(ctx, `UPDATE crls SET crl_number = ?, this_update = ?, next_update = ?,
			dirty = CASE WHEN generation = ? THEN 0 ELSE 1 END
			WHERE ca_identifier = ? AND crl_number = ?`,
			c.Number, ms(c.ThisUpdate), ms(c.NextUpdate), in.Generation, ca, in.LastNumber)
		if err != nil {
			return fmt.Errorf("store: save CRL: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("%w: CRL %d of %s was saved by another build", ErrConflict, in.LastNumber+1, ca)
		}
		if _, err := tx.e.ExecContext(ctx, `INSERT INTO crl_documents (ca_identifier, head, entries_seq, entries_tail, entries_bytes, tail, sha256)
			VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (ca_identifier) DO UPDATE SET head = excluded.head, entries_seq = excluded.entries_seq, entries_tail = excluded.entries_tail,
				entries_bytes = excluded.entries_bytes, tail = excluded.tail, sha256 = excluded.sha256`,
			ca, head, extent.seq, extent.tail, extent.bytes, tail, sum[:]); err != nil {
			return fmt.Errorf("store: save CRL: %w", err)
		}
		return nil
	})
}
