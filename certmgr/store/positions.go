package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// Page-number listings without COUNT(*) and without deep OFFSET scans:
// ListClientCertificate (an account's live issued certificates),
// ListRevokeCertificate (the live revoked ones) and KMS ListCertificates,
// whose SDK shapes ask for page N and answer TotalCount.
//
// Positions. An issued or KMS certificate takes its account's next
// position in the list when it is inserted: list_positions.next_pos,
// read and moved on by one upsert in the insert's transaction. The upsert
// and the insert commit or roll back together (a failed write's savepoint
// takes both back), so an account's rows hold positions 0, 1, 2, ...
// without a gap, and a listing in position order is issue order.
//
// Counts. Positions fall in buckets of bucketSize. list_buckets keeps,
// for each bucket that has any, how many of its rows are revoked and not
// deleted, and how many are deleted; list_positions keeps the account's
// totals of both. Each count changes in the transaction of the change it
// counts. Rows are never un-revoked, un-deleted or renumbered.
//
// A page at offset o: the totals give TotalCount at once; a walk over the
// account's bucket rows (at most one per bucketSize positions, and only
// those holding a revoked or deleted row) finds the bucket b holding the
// o-th member and how many of b's members come before it (r <
// bucketSize); the page is then read over a partial (account_id, pos)
// index from the r-th member at or after b's first position. However deep
// the page, the read skips fewer than bucketSize index entries.

// bucketSize is how many positions share a bucket. The positions migration fills
// the buckets of existing rows with the same number.
const bucketSize = 1024

// Lists that page by position (list_positions.list, list_buckets.list).
const (
	listPCA = "pca" // issued certificates
	listKMS = "kms" // KMS certificates
)

// takePosition returns the account's next position in a list and moves
// the counter past it (SQLite; PostgreSQL takes it inside the INSERT, see
// positioned). The counter's row stays locked until the transaction ends,
// so writers of one account's rows on several nodes take turns from there
// to their commit. Its caller's write must fail the transaction (or
// savepoint) if it fails: only the rollback gives the position back.
func (q writers) takePosition(ctx context.Context, accountID, list string) (int64, error) {
	var next int64
	err := q.x.QueryRowContext(ctx, `INSERT INTO list_positions (account_id, list, next_pos) VALUES (?, ?, 1)
		ON CONFLICT (account_id, list) DO UPDATE SET next_pos = list_positions.next_pos + 1 RETURNING next_pos`, accountID, list).Scan(&next)
	if err != nil {
		return 0, fmt.Errorf("store: take a list position: %w", err)
	}
	return next - 1, nil
}

// positionedInsert is an INSERT of a row that takes its account's next
// list position, in each dialect's words.
type positionedInsert struct {
	sqlite   string // the INSERT, its last placeholder the position
	postgres string // the counter's upsert and the INSERT in one statement, returning the position
}

// positioned makes a positionedInsert of an INSERT whose position value
// is written {pos}, as its last placeholder. On PostgreSQL the counter's
// upsert rides in the INSERT as a data-modifying WITH, so a position
// costs no round trip of its own and one statement takes (or, failing,
// gives back) both; SQLite runs two statements, in-process. with adds
// further data-modifying WITH items that ride along on PostgreSQL (their
// placeholders come after the account and list); SQLite's caller runs
// their equivalent itself.
func positioned(insert string, with ...string) positionedInsert {
	extra := ""
	for _, w := range with {
		extra += ", " + w
	}
	return positionedInsert{
		sqlite: strings.Replace(insert, "{pos}", "?", 1),
		postgres: `WITH p AS (INSERT INTO list_positions (account_id, list, next_pos) VALUES (?, ?, 1)
			ON CONFLICT (account_id, list) DO UPDATE SET next_pos = list_positions.next_pos + 1 RETURNING next_pos - 1 AS pos)` + extra + ` ` +
			strings.Replace(insert, "{pos}", "(SELECT pos FROM p)", 1) + ` RETURNING pos`,
	}
}

// insertAtNextPosition runs ins with args (all but the position) at the
// account's next position in list, and returns the position. withArgs
// are the placeholders of ins's extra WITH items, used on PostgreSQL only.
func (q writers) insertAtNextPosition(ctx context.Context, accountID, list string, ins positionedInsert, withArgs []any, args ...any) (int64, error) {
	if q.d == postgresDialect {
		var pos int64
		all := append(append([]any{accountID, list}, withArgs...), args...)
		err := q.x.QueryRowContext(ctx, ins.postgres, all...).Scan(&pos)
		return pos, err
	}
	pos, err := q.takePosition(ctx, accountID, list)
	if err != nil {
		return 0, err
	}
	_, err = q.x.ExecContext(ctx, ins.sqlite, append(args, pos)...)
	return pos, err
}

// countRevoked counts an issued certificate at pos that has just been
// revoked.
func (q writers) countRevoked(ctx context.Context, accountID string, pos int64) error {
	if _, err := q.x.ExecContext(ctx, `INSERT INTO list_buckets (account_id, list, bucket, revoked) VALUES (?, 'pca', ?, 1)
		ON CONFLICT (account_id, list, bucket) DO UPDATE SET revoked = list_buckets.revoked + 1`, accountID, pos/bucketSize); err != nil {
		return fmt.Errorf("store: count a revocation: %w", err)
	}
	return q.bumpTotals(ctx, accountID, listPCA, 1, 0)
}

// countDeletedRevoked counts a revoked issued certificate at pos that has
// just been deleted: it leaves the revoked members of its bucket. Its
// bucket row exists since its revocation; a missing one means the counts
// are out of step with the rows, and the write fails instead of making
// them worse.
func (q writers) countDeletedRevoked(ctx context.Context, accountID string, pos int64) error {
	res, err := q.x.ExecContext(ctx, `UPDATE list_buckets SET revoked = revoked - 1, deleted = deleted + 1
		WHERE account_id = ? AND list = 'pca' AND bucket = ? AND revoked > 0`, accountID, pos/bucketSize)
	if err != nil {
		return fmt.Errorf("store: count a deletion: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("store: count a deletion: bucket %d of account %s counts no revoked certificate", pos/bucketSize, accountID)
	}
	return q.bumpTotals(ctx, accountID, listPCA, -1, 1)
}

// countDeletedKMS counts a KMS certificate at pos that has just been
// deleted.
func (q writers) countDeletedKMS(ctx context.Context, accountID string, pos int64) error {
	if _, err := q.x.ExecContext(ctx, `INSERT INTO list_buckets (account_id, list, bucket, deleted) VALUES (?, 'kms', ?, 1)
		ON CONFLICT (account_id, list, bucket) DO UPDATE SET deleted = list_buckets.deleted + 1`, accountID, pos/bucketSize); err != nil {
		return fmt.Errorf("store: count a deletion: %w", err)
	}
	return q.bumpTotals(ctx, accountID, listKMS, 0, 1)
}

// bumpTotals adds to an account's totals of a list; the row exists since
// the account's first row took a position.
func (q writers) bumpTotals(ctx context.Context, accountID, list string, revoked, deleted int) error {
	res, err := q.x.ExecContext(ctx, `UPDATE list_positions SET revoked = revoked + ?, deleted = deleted + ? WHERE account_id = ? AND list = ?`,
		revoked, deleted, accountID, list)
	if err != nil {
		return fmt.Errorf("store: list totals: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("store: list totals: account %s has no %s positions", accountID, list)
	}
	return nil
}

// recountPCA recomputes an account's issued-certificate counts from its
// rows, for bulk changes that bypass the per-row writers (benchmark
// setup). Positions stay as they are.
func (q writers) recountPCA(ctx context.Context, accountID string) error {
	if _, err := q.x.ExecContext(ctx, `DELETE FROM list_buckets WHERE account_id = ? AND list = 'pca'`, accountID); err != nil {
		return fmt.Errorf("store: recount: %w", err)
	}
	if _, err := q.x.ExecContext(ctx, `INSERT INTO list_buckets (account_id, list, bucket, revoked, deleted)
		SELECT account_id, 'pca', b, SUM(CASE WHEN status = 'REVOKE' AND deleted = 0 THEN 1 ELSE 0 END), SUM(CASE WHEN deleted = 0 THEN 0 ELSE 1 END)
		FROM (SELECT account_id, status, deleted, pos / ? AS b FROM issued_certificates
			WHERE account_id = ? AND pos IS NOT NULL AND (status = 'REVOKE' OR deleted <> 0)) r
		GROUP BY account_id, b`, bucketSize, accountID); err != nil {
		return fmt.Errorf("store: recount: %w", err)
	}
	_, err := q.x.ExecContext(ctx, `UPDATE list_positions SET
		revoked = (SELECT COUNT(*) FROM issued_certificates WHERE account_id = ? AND pos IS NOT NULL AND status = 'REVOKE' AND deleted = 0),
		deleted = (SELECT COUNT(*) FROM issued_certificates WHERE account_id = ? AND pos IS NOT NULL AND deleted <> 0)
		WHERE account_id = ? AND list = 'pca'`, accountID, accountID, accountID)
	if err != nil {
		return fmt.Errorf("store: recount: %w", err)
	}
	return nil
}

// listTotals are an account's totals of one list.
type listTotals struct {
	next    int64 // positions taken: every row the list ever held
	revoked int64 // rows revoked and not deleted
	deleted int64 // rows deleted
}

func (q queries) listTotals(ctx context.Context, accountID, list string) (listTotals, error) {
	var t listTotals
	err := q.e.QueryRowContext(ctx, `SELECT next_pos, revoked, deleted FROM list_positions WHERE account_id = ? AND list = ?`, accountID, list).
		Scan(&t.next, &t.revoked, &t.deleted)
	if errors.Is(err, sql.ErrNoRows) {
		return listTotals{}, nil
	}
	if err != nil {
		return listTotals{}, fmt.Errorf("store: list totals: %w", err)
	}
	return t, nil
}

// bucketCount is one list_buckets row.
type bucketCount struct {
	bucket, revoked, deleted int64
}

// A listing is what a page-number list is made of.
type listing int

const (
	// listLive: every position not deleted (a bucket without a row is
	// full).
	listLive listing = iota
	// listRevoked: the positions revoked and not deleted (a bucket
	// without a row has none).
	listRevoked
)

// total is how many members the listing has.
func (l listing) total(t listTotals) int64 {
	if l == listRevoked {
		return t.revoked
	}
	return t.next - t.deleted
}

// locateLive returns the bucket that holds member number offset (from 0)
// of the live listing and how many of that bucket's members come before
// it. rows are the account's bucket rows with a deletion, in bucket
// order, at least those up to the one holding the member; next is the
// account's next_pos. The caller has checked that offset < the listing's
// total.
func locateLive(rows []bucketCount, next, offset int64) (bucket, skip int64) {
	var at int64 // the first bucket not yet walked past
	for _, r := range rows {
		// The buckets between the last row and this one are full and
		// lie before the last position: every one of them is whole.
		gap := (r.bucket - at) * bucketSize
		if offset < gap {
			return at + offset/bucketSize, offset % bucketSize
		}
		offset -= gap
		members := min(bucketSize, next-r.bucket*bucketSize) - r.deleted
		if offset < members {
			return r.bucket, offset
		}
		offset -= members
		at = r.bucket + 1
	}
	// Past the last row every bucket is full up to next.
	return at + offset/bucketSize, offset % bucketSize
}

// locateRevoked finds the bucket that holds member number offset of the
// revoked listing and how many of its revoked members come before it. A
// bucket without a row has none, so only the rows count: the database
// sums them in bucket order and returns the one row where the sum passes
// offset, instead of every row (one per bucket that has a revocation)
// for a walk here. The caller has checked that offset < the listing's
// total.
func (q queries) locateRevoked(ctx context.Context, accountID, list string, offset int64) (bucket, skip int64, err error) {
	var before int64
	err = q.e.QueryRowContext(ctx, `SELECT bucket, upto - revoked FROM (
			SELECT bucket, revoked, CAST(SUM(revoked) OVER (ORDER BY bucket) AS BIGINT) AS upto
			FROM list_buckets WHERE account_id = ? AND list = ? AND revoked > 0) c
		WHERE upto > ? ORDER BY bucket LIMIT 1`, accountID, list, offset).Scan(&bucket, &before)
	if err != nil {
		return 0, 0, fmt.Errorf("store: locate revoked member %d: %w", offset, err)
	}
	return bucket, offset - before, nil
}

// bucketsUpTo reads the bucket rows the live listing's walk to member
// offset needs: the member's position is at most offset plus the
// deletions before it, so rows past (offset+deleted)/bucketSize are never
// reached.
func (q queries) bucketsUpTo(ctx context.Context, accountID, list string, t listTotals, offset int64) ([]bucketCount, error) {
	rows, err := q.e.QueryContext(ctx, `SELECT bucket, revoked, deleted FROM list_buckets WHERE account_id = ? AND list = ? AND deleted > 0 AND bucket <= ? ORDER BY bucket`,
		accountID, list, (offset+t.deleted)/bucketSize)
	if err != nil {
		return nil, fmt.Errorf("store: list buckets: %w", err)
	}
	defer rows.Close()
	var out []bucketCount
	for rows.Next() {
		var b bucketCount
		if err := rows.Scan(&b.bucket, &b.revoked, &b.deleted); err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// pageStart is where a page begins: the account's member number skip at
// or after the first position of bucket, or nothing (the page is past the
// end).
type pageStart struct {
	total int64
	past  bool
	from  int64 // the first position of the member's bucket
	skip  int64 // members of that bucket before the page's first
}

// seekPage finds where the page at offset of an account's listing
// begins. Run it in the snapshot the page is read in, so the counts and
// the rows agree.
func (q queries) seekPage(ctx context.Context, accountID, list string, l listing, offset int64) (pageStart, error) {
	if offset < 0 {
		return pageStart{}, fmt.Errorf("store: list from offset %d", offset)
	}
	t, err := q.listTotals(ctx, accountID, list)
	if err != nil {
		return pageStart{}, err
	}
	p := pageStart{total: l.total(t)}
	if offset >= p.total {
		p.past = true
		return p, nil
	}
	var b, skip int64
	if l == listRevoked {
		if b, skip, err = q.locateRevoked(ctx, accountID, list, offset); err != nil {
			return pageStart{}, err
		}
	} else {
		rows, err := q.bucketsUpTo(ctx, accountID, list, t, offset)
		if err != nil {
			return pageStart{}, err
		}
		b, skip = locateLive(rows, t.next, offset)
	}
	p.from, p.skip = b*bucketSize, skip
	return p, nil
}

// readPage reads the page at offset of one of an account's listings, and
// the listing's total, from one snapshot. query selects the rows from the
// one at position >= from after skipping skip of them, with the arguments
// (account, account, from, skip, limit); scan reads one row.
func readPage[T any](ctx context.Context, s *DB, accountID, list string, l listing, offset, limit int, scan func(scanner) (T, error), query string) ([]T, int, error) {
	var out []T
	var total int64
	err := s.snapshot(ctx, func(q queries) error {
		p, err := q.seekPage(ctx, accountID, list, l, int64(offset))
		if err != nil {
			return err
		}
		if total = p.total; p.past {
			return nil
		}
		rows, err := q.e.QueryContext(ctx, query, accountID, accountID, p.from, p.skip, limit)
		if err != nil {
			return fmt.Errorf("store: list %s: %w", list, err)
		}
		defer rows.Close()
		for rows.Next() {
			v, err := scan(rows)
			if err != nil {
				return err
			}
			out = append(out, v)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, 0, err
	}
	return out, int(total), nil
}
