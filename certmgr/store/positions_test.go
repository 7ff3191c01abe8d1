package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// refAccount is the brute-force reference of one account's listings: its
// issued certificates in issue order (index = position) and its live KMS
// certificates in creation order.
type refAccount struct {
	issued []*refIssued
	kms    []string
	kmsAll int // KMS positions taken
}

type refIssued struct {
	id               string
	revoked, deleted bool
}

// members is the reference listing: live issued certificates, or only the
// revoked ones.
func (r *refAccount) members(revokedOnly bool) []string {
	var out []string
	for _, c := range r.issued {
		if !c.deleted && (!revokedOnly || c.revoked) {
			out = append(out, c.id)
		}
	}
	return out
}

// pagesFixture is a store with accounts, one CA per account and the
// reference of what it holds.
type pagesFixture struct {
	t    *testing.T
	db   *DB
	now  time.Time
	refs map[string]*refAccount
	seq  int
}

func newPagesFixture(t *testing.T, db *DB, accounts ...string) *pagesFixture {
	t.Helper()
	ctx := context.Background()
	f := &pagesFixture{t: t, db: db, now: time.Now().UTC().Truncate(time.Millisecond), refs: map[string]*refAccount{}}
	err := db.Tx(ctx, func(tx *Tx) error {
		for _, a := range accounts {
			f.refs[a] = &refAccount{}
			if err := tx.InsertAccount(ctx, &Account{ID: a, Name: a, CreatedAt: f.now}); err != nil {
				return err
			}
			if err := tx.InsertCACertificate(ctx, &CACertificate{Identifier: "ca-" + a, AccountID: a, CertificateType: "ROOT", KeyID: "key-ca-" + a,
				Algorithm: "ECC", KeySize: 256, Status: "ISSUE", Certificate: []byte{1}, Serial: "01", SubjectDN: "CN=" + a, Years: 1, PathLen: -1,
				CRLDay: 7, NotBefore: f.now, NotAfter: f.now.Add(time.Hour), CreatedAt: f.now}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// issuedRow is a new certificate of an account; created_at runs
// backwards so that issue order is not creation-time order.
func (f *pagesFixture) issuedRow(account string) *IssuedCertificate {
	f.seq++
	return &IssuedCertificate{Identifier: fmt.Sprintf("%s-c%05d", account, f.seq), AccountID: account, IssuerIdentifier: "ca-" + account,
		Serial: fmt.Sprintf("%08X", f.seq), CertificateType: "CLIENT", Status: "ISSUE", Certificate: []byte{2}, SubjectDN: "CN=c",
		Algorithm: "ECC", KeySize: 256, NotBefore: f.now, NotAfter: f.now.Add(time.Hour), CreatedAt: f.now.Add(-time.Duration(f.seq) * time.Millisecond)}
}

func (f *pagesFixture) kmsRow(account string) *KMSCertificate {
	f.seq++
	return &KMSCertificate{ID: fmt.Sprintf("%s-k%05d", account, f.seq), AccountID: account, KeyID: fmt.Sprintf("key-k%05d", f.seq), KeySpec: "EC_P256",
		ProtectionLevel: "HSM", Subject: "CN=k", Status: "PENDING", CSR: []byte{3}, CreatedAt: f.now, UpdatedAt: f.now}
}

// churn applies n random operations: batches of up to 300 inserts (in
// one transaction, or through group commit), batches of revocations,
// transactions deleting revoked certificates, and transactions deleting
// KMS certificates. The first account gets most of them, so that its
// listings span several buckets.
func (f *pagesFixture) churn(rng *rand.Rand, n int) {
	f.t.Helper()
	ctx := context.Background()
	accounts := slices.Sorted(mapsKeys(f.refs))
	pick := func() string {
		if rng.IntN(4) > 0 {
			return accounts[0]
		}
		return accounts[rng.IntN(len(accounts))]
	}
	for range n {
		switch op := rng.IntN(20); {
		case op < 7: // a batch of inserts
			var rows []*IssuedCertificate
			var kms []*KMSCertificate
			for range 1 + rng.IntN(300) {
				if rng.IntN(5) == 0 {
					kms = append(kms, f.kmsRow(pick()))
				} else {
					rows = append(rows, f.issuedRow(pick()))
				}
			}
			write := f.db.Tx
			if rng.IntN(2) == 0 {
				write = f.db.Group
			}
			err := write(ctx, func(tx *Tx) error {
				for _, r := range rows {
					if err := tx.InsertIssuedCertificate(ctx, r); err != nil {
						return err
					}
				}
				for _, r := range kms {
					if err := tx.InsertKMSCertificate(ctx, r); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				f.t.Fatal(err)
			}
			for _, r := range rows {
				ref := f.refs[r.AccountID]
				ref.issued = append(ref.issued, &refIssued{id: r.Identifier})
			}
			for _, r := range kms {
				ref := f.refs[r.AccountID]
				ref.kms = append(ref.kms, r.ID)
				ref.kmsAll++
			}
		case op < 14: // revocations, one transaction each
			for range 1 + rng.IntN(20) {
				a := pick()
				// Bucket 1 gets no revocation: the revoked listing's walk
				// crosses a bucket without a row.
				if c := f.randomIssued(rng, a, func(c *refIssued) bool { return !c.revoked && f.bucketOf(a, c) != 1 }); c != nil {
					if _, err := f.db.RevokeIssued(ctx, a, c.id, 1, f.now); err != nil {
						f.t.Fatal(err)
					}
					c.revoked = true
				}
			}
		case op < 18: // deletions of revoked certificates, in one transaction
			a := pick()
			var del []*refIssued
			for range 1 + rng.IntN(30) {
				// Odd buckets get no deletion: the live listing's walk
				// crosses full buckets without a row.
				if c := f.randomIssued(rng, a, func(c *refIssued) bool {
					return c.revoked && !c.deleted && f.bucketOf(a, c)%2 == 0 && !slices.Contains(del, c)
				}); c != nil {
					del = append(del, c)
				}
			}
			err := f.db.Tx(ctx, func(tx *Tx) error {
				for _, c := range del {
					if err := tx.DeleteRevokedCertificate(ctx, a, c.id); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				f.t.Fatal(err)
			}
			for _, c := range del {
				c.deleted = true
			}
		default: // deletions of KMS certificates, in one transaction
			a := pick()
			ref := f.refs[a]
			var del []string
			for range 1 + rng.IntN(5) {
				if len(ref.kms) > len(del) {
					id := ref.kms[rng.IntN(len(ref.kms))]
					if !slices.Contains(del, id) {
						del = append(del, id)
					}
				}
			}
			err := f.db.Tx(ctx, func(tx *Tx) error {
				for _, id := range del {
					if err := tx.DeleteKMSCertificate(ctx, a, id); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				f.t.Fatal(err)
			}
			ref.kms = slices.DeleteFunc(ref.kms, func(id string) bool { return slices.Contains(del, id) })
		}
	}
}

// bucketOf is the bucket of an issued certificate's position.
func (f *pagesFixture) bucketOf(account string, c *refIssued) int {
	return slices.Index(f.refs[account].issued, c) / bucketSize
}

func (f *pagesFixture) randomIssued(rng *rand.Rand, account string, ok func(*refIssued) bool) *refIssued {
	var cands []*refIssued
	for _, c := range f.refs[account].issued {
		if ok(c) {
			cands = append(cands, c)
		}
	}
	if len(cands) == 0 {
		return nil
	}
	return cands[rng.IntN(len(cands))]
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// listKind is one of the three page-number listings.
type listKind int

const (
	kindLive listKind = iota
	kindRevoked
	kindKMS
)

func (k listKind) String() string { return [...]string{"live", "revoked", "kms"}[k] }

func (f *pagesFixture) page(k listKind, account string, offset, limit int) ([]string, int) {
	f.t.Helper()
	ctx := context.Background()
	var ids []string
	var total int
	var err error
	if k == kindKMS {
		var rows []*KMSCertificate
		rows, total, err = f.db.ListKMSCertificates(ctx, account, offset, limit)
		for _, r := range rows {
			ids = append(ids, r.ID)
		}
	} else {
		var rows []*IssuedCertificate
		rows, total, err = f.db.ListIssuedCertificates(ctx, account, k == kindRevoked, offset, limit)
		for _, r := range rows {
			ids = append(ids, r.Identifier)
		}
	}
	if err != nil {
		f.t.Fatalf("%s page of %s at %d: %v", k, account, offset, err)
	}
	return ids, total
}

func (f *pagesFixture) reference(k listKind, account string) []string {
	if k == kindKMS {
		return f.refs[account].kms
	}
	return f.refs[account].members(k == kindRevoked)
}

// checkPages compares the listings of every account with the reference:
// every page of two sizes, single-member pages at every offset whose
// member sits at a bucket's edge, the last page, and pages past the end
// (empty, with the right total).
func (f *pagesFixture) checkPages() {
	f.t.Helper()
	for _, a := range slices.Sorted(mapsKeys(f.refs)) {
		for _, k := range []listKind{kindLive, kindRevoked, kindKMS} {
			want := f.reference(k, a)
			check := func(offset, limit int) {
				f.t.Helper()
				got, total := f.page(k, a, offset, limit)
				end := min(offset+limit, len(want))
				var exp []string
				if offset < len(want) {
					exp = want[offset:end]
				}
				if total != len(want) || !slices.Equal(got, exp) {
					f.t.Fatalf("%s list of %s, offset %d limit %d: total %d, %v; want %d, %v", k, a, offset, limit, total, got, len(want), exp)
				}
			}
			for _, size := range []int{100, 37} {
				for off := 0; off <= len(want)+size; off += size {
					check(off, size)
				}
			}
			for _, off := range f.edgeOffsets(k, a) {
				check(off, 1)
				check(off, 3)
			}
			check(len(want)+1000, 20)
		}
	}
}

// edgeOffsets are the offsets of the members whose position is next to
// a bucket boundary, and of the first and last members.
func (f *pagesFixture) edgeOffsets(k listKind, account string) []int {
	ref := f.refs[account]
	out := []int{0}
	if k == kindKMS {
		// Positions of live KMS rows are not kept in the reference; the
		// full walks above cross every boundary.
		return append(out, max(len(ref.kms)-1, 0))
	}
	n := 0
	for pos, c := range ref.issued {
		if c.deleted || (k == kindRevoked && !c.revoked) {
			continue
		}
		if m := pos % bucketSize; m == 0 || m == 1 || m == bucketSize-1 {
			out = append(out, n)
		}
		n++
	}
	return append(out, max(n-1, 0))
}

// checkCounts recomputes the counts from the rows, by brute force, and
// compares them with what the writers kept: positions dense from 0,
// per-bucket revoked and deleted counts, and the totals.
func (f *pagesFixture) checkCounts() {
	f.t.Helper()
	ctx := context.Background()
	q := f.db.queries
	checkIssuedCounts(f.t, f.db)
	for _, a := range slices.Sorted(mapsKeys(f.refs)) {
		ref := f.refs[a]
		for _, tbl := range []struct{ list, table string }{{listPCA, "issued_certificates"}, {listKMS, "kms_certificates"}} {
			rows, err := q.e.QueryContext(ctx, `SELECT pos FROM `+tbl.table+` WHERE account_id = ? ORDER BY pos`, a)
			if err != nil {
				f.t.Fatal(err)
			}
			var got []int64
			for rows.Next() {
				var p int64
				if err := rows.Scan(&p); err != nil {
					f.t.Fatal(err)
				}
				got = append(got, p)
			}
			rows.Close()
			if tbl.list == listPCA {
				for i, p := range got {
					if p != int64(i) {
						f.t.Fatalf("%s: position %d at index %d: positions are not dense", a, p, i)
					}
				}
			}
			tot, err := q.listTotals(ctx, a, tbl.list)
			if err != nil {
				f.t.Fatal(err)
			}
			var want listTotals
			if tbl.list == listPCA {
				want.next = int64(len(ref.issued))
				for _, c := range ref.issued {
					if c.deleted {
						want.deleted++
					} else if c.revoked {
						want.revoked++
					}
				}
			} else {
				want = listTotals{next: int64(ref.kmsAll), deleted: int64(ref.kmsAll - len(ref.kms))}
			}
			if tot != want {
				f.t.Fatalf("%s %s totals %+v, want %+v", a, tbl.list, tot, want)
			}
		}
		// Per bucket, from the rows.
		want := map[int64]bucketCount{}
		for pos, c := range ref.issued {
			b := want[int64(pos)/bucketSize]
			b.bucket = int64(pos) / bucketSize
			if c.deleted {
				b.deleted++
			} else if c.revoked {
				b.revoked++
			}
			if c.deleted || c.revoked {
				want[b.bucket] = b
			}
		}
		rows, err := q.e.QueryContext(ctx, `SELECT bucket, revoked, deleted FROM list_buckets WHERE account_id = ? AND list = 'pca'`, a)
		if err != nil {
			f.t.Fatal(err)
		}
		got := map[int64]bucketCount{}
		for rows.Next() {
			var b bucketCount
			if err := rows.Scan(&b.bucket, &b.revoked, &b.deleted); err != nil {
				f.t.Fatal(err)
			}
			if b.revoked != 0 || b.deleted != 0 {
				got[b.bucket] = b
			}
		}
		rows.Close()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			f.t.Fatalf("%s buckets %v, want %v", a, got, want)
		}
	}
}

// TestPageListsMatchReference: after random inserts, revocations and
// deletions over several accounts, every page of the three page-number
// listings, and their totals, equal a brute-force listing of the
// reference; the kept counts equal a recount of the rows.
func TestPageListsMatchReference(t *testing.T) { eachBackend(t, testPageListsMatchReference) }

func testPageListsMatchReference(t *testing.T) {
	db := openTest(t)
	f := newPagesFixture(t, db, "acc-a", "acc-b", "acc-c", "acc-empty")
	delete(f.refs, "acc-empty")
	rng := rand.New(rand.NewPCG(12, 34))
	f.churn(rng, 40)
	f.checkCounts()
	f.checkPages()
	f.churn(rng, 60)
	f.refs["acc-empty"] = &refAccount{}
	f.checkCounts()
	f.checkPages()
	for _, a := range slices.Sorted(mapsKeys(f.refs)) {
		r := f.refs[a]
		t.Logf("%s: %d issued (%d live, %d revoked live), %d KMS live of %d", a, len(r.issued), len(r.members(false)), len(r.members(true)), len(r.kms), r.kmsAll)
	}
	if _, _, err := db.ListIssuedCertificates(context.Background(), "acc-a", false, -1, 10); err == nil {
		t.Fatal("a negative offset listed")
	}
	if n := len(f.refs["acc-a"].issued); n < 2*bucketSize+1 {
		t.Fatalf("the first account has %d certificates: its listings do not cross two bucket boundaries", n)
	}
}

// TestLocateEqualsWalk: the live listing's bucket walk finds, for every
// offset, the bucket and skip of a brute-force walk over the positions,
// for random patterns of live, revoked and deleted positions. (The
// revoked listing is located by the database: the listing tests above
// compare its pages with the reference on both backends.)
func TestLocateEqualsWalk(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for round := range 200 {
		n := rng.IntN(6 * bucketSize)
		// 0 live, 1 revoked, 2 deleted. Each bucket draws its own mix, and
		// many draw none of one state, so the walk meets buckets without
		// a row between buckets with one, and long runs of one state.
		states := make([]int, n)
		var p [3]int
		for i := range states {
			if i%bucketSize == 0 {
				p = [3]int{rng.IntN(10), rng.IntN(3) * rng.IntN(10), rng.IntN(3) * rng.IntN(10)}
				if p[0]+p[1]+p[2] == 0 {
					p[0] = 1
				}
			}
			switch r := rng.IntN(p[0] + p[1] + p[2]); {
			case r < p[0]:
				states[i] = 0
			case r < p[0]+p[1]:
				states[i] = 1
			default:
				states[i] = 2
			}
		}
		byBucket := map[int64]*bucketCount{}
		for i, s := range states {
			b := int64(i / bucketSize)
			if s == 0 {
				continue
			}
			if byBucket[b] == nil {
				byBucket[b] = &bucketCount{bucket: b}
			}
			if s == 1 {
				byBucket[b].revoked++
			} else {
				byBucket[b].deleted++
			}
		}
		var rows []bucketCount
		for _, b := range slices.Sorted(func(yield func(int64) bool) {
			for k := range byBucket {
				if !yield(k) {
					return
				}
			}
		}) {
			if r := *byBucket[b]; r.deleted > 0 {
				rows = append(rows, r)
			}
		}
		member := 0
		seen := map[int64]int64{} // members of each bucket walked so far
		for i, s := range states {
			if s == 2 {
				continue
			}
			b := int64(i / bucketSize)
			wantB, wantSkip := b, seen[b]
			seen[b]++
			gotB, gotSkip := locateLive(rows, int64(n), int64(member))
			if gotB != wantB || gotSkip != wantSkip {
				t.Fatalf("round %d, member %d (position %d): bucket %d skip %d, want %d %d", round, member, i, gotB, gotSkip, wantB, wantSkip)
			}
			member++
		}
	}
}

// TestFailedWritesLeaveCountsUnchanged: an insert, revocation or
// deletion whose transaction (or group-commit savepoint) rolls back,
// after its counts moved, leaves the counts and the listings as they
// were, and the next insert takes the next position.
func TestFailedWritesLeaveCountsUnchanged(t *testing.T) {
	eachBackend(t, testFailedWritesLeaveCountsUnchanged)
}

func testFailedWritesLeaveCountsUnchanged(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	f := newPagesFixture(t, db, "acc-a", "acc-b")
	f.churn(rand.New(rand.NewPCG(1, 2)), 10)
	refused := errors.New("refused by the test")

	// An insert, then a second one that conflicts: the first goes too.
	good, dup := f.issuedRow("acc-a"), f.issuedRow("acc-a")
	dup.Serial = good.Serial
	err := db.Tx(ctx, func(tx *Tx) error {
		if err := tx.InsertIssuedCertificate(ctx, good); err != nil {
			return err
		}
		return tx.InsertIssuedCertificate(ctx, dup)
	})
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("duplicate serial: %v", err)
	}
	f.checkCounts()

	// Group commit: concurrent writers share transactions; the failing
	// ones (each after its insert and its KMS insert) roll back alone.
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i := range 40 {
		row, kms := f.issuedRow("acc-b"), f.kmsRow("acc-b")
		wg.Go(func() {
			err := db.Group(ctx, func(tx *Tx) error {
				if err := tx.InsertIssuedCertificate(ctx, row); err != nil {
					return err
				}
				if err := tx.InsertKMSCertificate(ctx, kms); err != nil {
					return err
				}
				if i%2 == 1 {
					return refused
				}
				return nil
			})
			if i%2 == 1 {
				if !errors.Is(err, refused) {
					t.Errorf("writer %d: %v", i, err)
				}
				return
			}
			if err != nil {
				t.Errorf("writer %d: %v", i, err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			ref := f.refs["acc-b"]
			ref.issued = append(ref.issued, &refIssued{id: row.Identifier})
			ref.kms = append(ref.kms, kms.ID)
			ref.kmsAll++
		})
	}
	wg.Wait()
	// The writers' commit order is theirs: order the reference by the
	// positions they took (checkCounts proves those dense).
	sortByPosition(t, db, f.refs["acc-b"])
	f.checkCounts()
	f.checkPages()
	// A failing write alone in its group (no savepoint: the transaction
	// itself rolls back), then one that commits.
	for i := range 2 {
		row := f.issuedRow("acc-b")
		err := db.Group(ctx, func(tx *Tx) error {
			if err := tx.InsertIssuedCertificate(ctx, row); err != nil {
				return err
			}
			if i == 0 {
				return refused
			}
			return nil
		})
		if i == 0 {
			if !errors.Is(err, refused) {
				t.Fatalf("lone failing write: %v", err)
			}
			f.checkCounts()
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		f.refs["acc-b"].issued = append(f.refs["acc-b"].issued, &refIssued{id: row.Identifier})
	}
	f.checkCounts()
	f.checkPages()

	// A revocation whose CRL mark is refused by the database rolls back
	// with its counts.
	victim := f.randomIssued(rand.New(rand.NewPCG(3, 4)), "acc-a", func(c *refIssued) bool { return !c.revoked })
	for _, q := range refuseCRLSQL(db) {
		if _, err := db.e.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.RevokeIssued(ctx, "acc-a", victim.id, 1, f.now); err == nil {
		t.Fatal("revocation committed with its CRL mark refused")
	}
	for _, q := range allowCRLSQL(db) {
		if _, err := db.e.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	f.checkCounts()
	// An already revoked certificate: ErrConflict, nothing counted.
	if _, err := db.RevokeIssued(ctx, "acc-a", victim.id, 1, f.now); err != nil {
		t.Fatal(err)
	}
	victim.revoked = true
	if _, err := db.RevokeIssued(ctx, "acc-a", victim.id, 1, f.now); !errors.Is(err, ErrConflict) {
		t.Fatalf("second revocation: %v", err)
	}
	f.checkCounts()

	// Deletions rolled back by their caller.
	err = db.Tx(ctx, func(tx *Tx) error {
		if err := tx.DeleteRevokedCertificate(ctx, "acc-a", victim.id); err != nil {
			return err
		}
		if err := tx.DeleteKMSCertificate(ctx, "acc-b", f.refs["acc-b"].kms[0]); err != nil {
			return err
		}
		return refused
	})
	if !errors.Is(err, refused) {
		t.Fatal(err)
	}
	// A live certificate cannot be deleted; a missing one is not found.
	live := f.randomIssued(rand.New(rand.NewPCG(5, 6)), "acc-a", func(c *refIssued) bool { return !c.revoked })
	if err := db.Tx(ctx, func(tx *Tx) error { return tx.DeleteRevokedCertificate(ctx, "acc-a", live.id) }); !errors.Is(err, ErrConflict) {
		t.Fatalf("deleting a live certificate: %v", err)
	}
	if err := db.Tx(ctx, func(tx *Tx) error { return tx.DeleteKMSCertificate(ctx, "acc-a", "no-such") }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleting a missing KMS certificate: %v", err)
	}
	f.checkCounts()
	f.checkPages()

	// The next insert takes the next position.
	next := f.issuedRow("acc-a")
	if err := db.Tx(ctx, func(tx *Tx) error { return tx.InsertIssuedCertificate(ctx, next) }); err != nil {
		t.Fatal(err)
	}
	f.refs["acc-a"].issued = append(f.refs["acc-a"].issued, &refIssued{id: next.Identifier})
	f.checkCounts()
	f.checkPages()
}

// sortByPosition orders a reference's issued certificates (and its live
// KMS certificates) as the store positioned them, for writers whose
// commit order the test does not fix.
func sortByPosition(t *testing.T, db *DB, ref *refAccount) {
	t.Helper()
	ctx := context.Background()
	pos := map[string]int64{}
	for _, tbl := range []struct{ table, id string }{{"issued_certificates", "identifier"}, {"kms_certificates", "id"}} {
		rows, err := db.e.QueryContext(ctx, `SELECT `+tbl.id+`, pos FROM `+tbl.table)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id string
			var p int64
			if err := rows.Scan(&id, &p); err != nil {
				t.Fatal(err)
			}
			pos[id] = p
		}
		rows.Close()
	}
	slices.SortFunc(ref.issued, func(x, y *refIssued) int { return int(pos[x.id] - pos[y.id]) })
	slices.SortFunc(ref.kms, func(x, y string) int { return int(pos[x] - pos[y]) })
}

// refuseCRLSQL makes every CRL row write fail, and allowCRLSQL undoes it.
func refuseCRLSQL(db *DB) []string {
	if db.d == postgresDialect {
		return []string{`CREATE FUNCTION refuse_crl() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'crl refused'; END $$ LANGUAGE plpgsql`,
			`CREATE TRIGGER refuse_crl BEFORE INSERT ON crls FOR EACH ROW EXECUTE FUNCTION refuse_crl()`}
	}
	return []string{`CREATE TRIGGER refuse_crl BEFORE INSERT ON crls BEGIN SELECT RAISE(ABORT, 'crl refused'); END`}
}

func allowCRLSQL(db *DB) []string {
	if db.d == postgresDialect {
		return []string{`DROP TRIGGER refuse_crl ON crls`, `DROP FUNCTION refuse_crl()`}
	}
	return []string{`DROP TRIGGER refuse_crl`}
}

// TestPositionMigrationBackfills: rows written under the schema before
// positions get them in their old listing order (created_at, then
// identifier), with counts that equal a recount, and the writers go on
// from there.
func TestPositionMigrationBackfills(t *testing.T) { eachBackend(t, testPositionMigrationBackfills) }

func testPositionMigrationBackfills(t *testing.T) {
	ctx := context.Background()
	old, url := openBeforeMigration(t, "CREATE TABLE list_positions")
	now := time.Now().UTC().Truncate(time.Millisecond)
	refs := map[string]*refAccount{"acc-a": {}, "acc-b": {}}
	type oldRow struct {
		id, account string
		created     int64
		revoked     bool
		deleted     bool
	}
	var rows []oldRow
	rng := rand.New(rand.NewPCG(7, 8))
	for i := range 2*bucketSize + 300 {
		a := "acc-a"
		if i%5 == 0 {
			a = "acc-b"
		}
		// Creation times collide often, so identifiers break ties.
		r := oldRow{id: fmt.Sprintf("c%06d-%04d", rng.IntN(1_000_000), i), account: a, created: ms(now) + int64(rng.IntN(500))}
		switch rng.IntN(6) {
		case 0:
			r.revoked = true
		case 1:
			r.revoked, r.deleted = true, true
		}
		rows = append(rows, r)
	}
	err := old.Tx(ctx, func(tx *Tx) error {
		for _, a := range []string{"acc-a", "acc-b"} {
			if err := tx.InsertAccount(ctx, &Account{ID: a, Name: a, CreatedAt: now}); err != nil {
				return err
			}
			if _, err := tx.x.ExecContext(ctx, `INSERT INTO ca_certificates (identifier, account_id, certificate_type, key_id, algorithm, key_size, status,
				certificate, serial, subject_dn, years, path_len, enable_crl, crl_day, not_before, not_after, created_at)
				VALUES (?, ?, 'ROOT', ?, 'ECC', 256, 'ISSUE', ?, '01', 'CN=r', 1, -1, 0, 7, 0, 1, 0)`, "ca-"+a, a, "key-"+a, []byte{1}); err != nil {
				return err
			}
		}
		for i, r := range rows {
			status := "ISSUE"
			if r.revoked {
				status = "REVOKE"
			}
			if _, err := tx.x.ExecContext(ctx, `INSERT INTO issued_certificates (identifier, account_id, issuer_identifier, serial, certificate_type, status,
				certificate, subject_dn, algorithm, key_size, not_before, not_after, created_at, deleted)
				VALUES (?, ?, ?, ?, 'CLIENT', ?, ?, 'CN=c', 'ECC', 256, 0, 1, ?, ?)`,
				r.id, r.account, "ca-"+r.account, fmt.Sprintf("%08X", i), status, []byte{2}, r.created, boolInt(r.deleted)); err != nil {
				return err
			}
		}
		for i := range 30 {
			if _, err := tx.x.ExecContext(ctx, `INSERT INTO kms_certificates (id, account_id, key_id, key_spec, protection_level, exportable, subject, status,
				csr, created_at, updated_at) VALUES (?, 'acc-b', ?, 'EC_P256', 'HSM', 0, 'CN=k', 'PENDING', ?, ?, 0)`,
				fmt.Sprintf("k%02d", 29-i), fmt.Sprintf("key-k%d", i), []byte{3}, ms(now)+int64(i%7)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	db := reopenMigrated(t, old, url)
	slices.SortFunc(rows, func(x, y oldRow) int {
		if x.created != y.created {
			return int(x.created - y.created)
		}
		return strings.Compare(x.id, y.id)
	})
	for _, r := range rows {
		refs[r.account].issued = append(refs[r.account].issued, &refIssued{id: r.id, revoked: r.revoked, deleted: r.deleted})
	}
	kms := make([]string, 30)
	for i := range 30 {
		kms[i] = fmt.Sprintf("k%02d", 29-i)
	}
	slices.SortStableFunc(kms, func(x, y string) int {
		cx, cy := (29-atoi(x[1:]))%7, (29-atoi(y[1:]))%7
		if cx != cy {
			return cx - cy
		}
		return strings.Compare(x, y)
	})
	refs["acc-b"].kms, refs["acc-b"].kmsAll = kms, 30
	f := &pagesFixture{t: t, db: db, now: now, refs: refs, seq: 900000}
	f.checkCounts()
	f.checkPages()
	// The writers go on from the backfilled positions.
	f.churn(rand.New(rand.NewPCG(9, 10)), 20)
	f.checkCounts()
	f.checkPages()
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

// TestListsAfterMassDeletion: when deletions move the listings' members
// by more than a bucket (most of the first four buckets deleted, the
// revocations made in bulk and recounted), every page still equals the
// reference: a page's walk reads every bucket row up to its member.
func TestListsAfterMassDeletion(t *testing.T) { eachBackend(t, testListsAfterMassDeletion) }

func testListsAfterMassDeletion(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	f := newPagesFixture(t, db, "acc-a")
	err := db.Tx(ctx, func(tx *Tx) error {
		return tx.InsertCACertificate(ctx, &CACertificate{Identifier: "ca-doomed", AccountID: "acc-a", CertificateType: "ROOT", KeyID: "key-doomed",
			Algorithm: "ECC", KeySize: 256, Status: "ISSUE", Certificate: []byte{1}, Serial: "02", SubjectDN: "CN=d", Years: 1, PathLen: -1,
			CRLDay: 7, NotBefore: f.now, NotAfter: f.now.Add(time.Hour), CreatedAt: f.now})
	})
	if err != nil {
		t.Fatal(err)
	}
	ref := f.refs["acc-a"]
	// Transactions of at most maxGroup writes, as group commit makes
	// them: PostgreSQL walks a row's versions of its own transaction on
	// every update of it, so a transaction's cost grows with the square
	// of the writes that update one counter row.
	inChunks := func(n int, write func(tx *Tx, i int) error) {
		t.Helper()
		for from := 0; from < n; from += maxGroup {
			err := db.Tx(ctx, func(tx *Tx) error {
				for i := from; i < min(from+maxGroup, n); i++ {
					if err := write(tx, i); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	// The first four buckets mostly from the doomed CA, then two more.
	inChunks(6*bucketSize+100, func(tx *Tx, pos int) error {
		r := f.issuedRow("acc-a")
		doomed := pos < 4*bucketSize && pos%97 != 0
		if doomed {
			r.IssuerIdentifier = "ca-doomed"
		}
		if err := tx.InsertIssuedCertificate(ctx, r); err != nil {
			return err
		}
		ref.issued = append(ref.issued, &refIssued{id: r.Identifier, revoked: doomed})
		return nil
	})
	if err := db.BulkRevokeForBenchmark(ctx, "ca-doomed", f.now); err != nil {
		t.Fatal(err)
	}
	f.checkCounts()
	// Delete all but every tenth revoked one.
	var doomed []*refIssued
	for i, c := range ref.issued {
		if c.revoked && i%10 != 0 {
			doomed = append(doomed, c)
		}
	}
	inChunks(len(doomed), func(tx *Tx, i int) error {
		doomed[i].deleted = true
		return tx.DeleteRevokedCertificate(ctx, "acc-a", doomed[i].id)
	})
	f.checkCounts()
	f.checkPages()
}

// TestSeedForBenchmarkKeepsCounts: rows seeded in bulk (in two calls,
// from two issuers) and revoked in bulk list and count like rows
// written one at a time.
func TestSeedForBenchmarkKeepsCounts(t *testing.T) { eachBackend(t, testSeedForBenchmarkKeepsCounts) }

func testSeedForBenchmarkKeepsCounts(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	f := newPagesFixture(t, db, "acc-a", "acc-b")
	f.churn(rand.New(rand.NewPCG(11, 12)), 6)
	err := db.Tx(ctx, func(tx *Tx) error {
		return tx.InsertCACertificate(ctx, &CACertificate{Identifier: "ca-two", AccountID: "acc-a", CertificateType: "ROOT", KeyID: "key-two",
			Algorithm: "ECC", KeySize: 256, Status: "ISSUE", Certificate: []byte{1}, Serial: "02", SubjectDN: "CN=2", Years: 1, PathLen: -1,
			CRLDay: 7, NotBefore: f.now, NotAfter: f.now.Add(time.Hour), CreatedAt: f.now})
	})
	if err != nil {
		t.Fatal(err)
	}
	tmpl := f.issuedRow("acc-a")
	if err := db.Tx(ctx, func(tx *Tx) error { return tx.InsertIssuedCertificate(ctx, tmpl) }); err != nil {
		t.Fatal(err)
	}
	ref := f.refs["acc-a"]
	ref.issued = append(ref.issued, &refIssued{id: tmpl.Identifier})
	for _, n := range []int{1500, 1100} {
		if err := db.SeedIssuedForBenchmark(ctx, tmpl.Identifier, []string{"ca-acc-a", "ca-two", "ca-acc-a"}, n); err != nil {
			t.Fatal(err)
		}
		for range n {
			ref.issued = append(ref.issued, &refIssued{id: fmt.Sprintf("%s-%d", tmpl.Identifier, len(ref.issued))})
		}
	}
	if err := db.BulkRevokeForBenchmark(ctx, "ca-two", f.now); err != nil {
		t.Fatal(err)
	}
	rows, err := db.e.QueryContext(ctx, `SELECT identifier FROM issued_certificates WHERE issuer_identifier = 'ca-two'`)
	if err != nil {
		t.Fatal(err)
	}
	two := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		two[id] = true
	}
	rows.Close()
	if len(two) < 800 {
		t.Fatalf("%d rows from the second issuer", len(two))
	}
	for _, c := range ref.issued {
		if two[c.id] {
			c.revoked = true
		}
	}
	f.checkCounts()
	f.checkPages()
	got, err := db.GetIssuedCertificate(ctx, "acc-a", tmpl.Identifier+"-"+fmt.Sprint(len(ref.issued)-1))
	if err != nil || got.Serial != tmpl.Serial+fmt.Sprint(10_000_000_000_000+len(ref.issued)-1) || got.SubjectDN != tmpl.SubjectDN {
		t.Fatalf("last seeded row %+v (%v)", got, err)
	}
}
