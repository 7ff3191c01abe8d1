package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"math/big"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// referenceEntry is a CRL entry written with cryptobyte, as CRLs were
// before the store kept entries: the oracle for CRLEntryDER's bytes.
func referenceEntry(t *testing.T, serialHex string, at time.Time, reason int) []byte {
	t.Helper()
	serial, err := hex.DecodeString(serialHex)
	if err != nil {
		t.Fatal(err)
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1BigInt(new(big.Int).SetBytes(serial))
		if at = at.UTC(); at.Year() >= 1950 && at.Year() < 2050 {
			b.AddASN1UTCTime(at)
		} else {
			b.AddASN1GeneralizedTime(at)
		}
		if reason != 0 {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1ObjectIdentifier([]int{2, 5, 29, 21})
					b.AddASN1(cbasn1.OCTET_STRING, func(b *cryptobyte.Builder) {
						b.AddASN1(cbasn1.ENUM, func(b *cryptobyte.Builder) { b.AddUint8(uint8(reason)) })
					})
				})
			})
		}
	})
	der, err := b.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// TestCRLEntryDER: a kept entry is byte for byte the DER an independent
// encoder writes, for serials that need a sign octet or lose leading
// zeros, both time forms and every kind of reason; a serial or reason no
// CRL can carry is an error.
func TestCRLEntryDER(t *testing.T) {
	times := []time.Time{
		time.Date(2026, 12, 1, 22, 42, 5, 999_000_000, time.UTC),
		time.Date(2049, 12, 31, 23, 59, 59, 0, time.FixedZone("CST", 8*3600)),
		time.Date(2050, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1949, 12, 31, 23, 59, 59, 0, time.UTC),
	}
	serials := []string{"01", "7f", "80", "00ff", "0000", "00", "0080", "ABCDEF", strings.Repeat("ff", 20), fmt.Sprintf("%032X", 1_000_000)}
	for _, serial := range serials {
		for _, at := range times {
			for _, reason := range []int{0, 1, 6, 10} {
				got, err := CRLEntryDER(serial, at, reason)
				if err != nil {
					t.Fatalf("%s %v %d: %v", serial, at, reason, err)
				}
				if want := referenceEntry(t, serial, at, reason); !bytes.Equal(got, want) {
					t.Errorf("%s %v %d:\n got %x\nwant %x", serial, at, reason, got, want)
				}
			}
		}
	}
	for _, bad := range []struct {
		serial string
		reason int
	}{{"", 0}, {"zz", 0}, {"abc", 0}, {"01", -1}, {"01", 128}} {
		if der, err := CRLEntryDER(bad.serial, times[0], bad.reason); err == nil {
			t.Errorf("serial %q reason %d: %x, want an error", bad.serial, bad.reason, der)
		}
	}
}

// crlTestCAs stores an account, a root, a subordinate CA "sub" with n
// live leaves (serials 1..n) and a CA "sub2" under "sub".
func crlTestCAs(t *testing.T, db *DB, n int) time.Time {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	later := now.Add(24 * time.Hour)
	err := db.Tx(ctx, func(tx *Tx) error {
		if err := tx.InsertAccount(ctx, &Account{ID: "a1", Name: "a1", CreatedAt: now}); err != nil {
			return err
		}
		for _, ca := range []struct{ id, parent, typ, serial string }{{"root", "", "ROOT", "0a01"}, {"sub", "root", "SUB_ROOT", "0a02"}, {"sub2", "sub", "SUB_ROOT", sub2Serial}} {
			if err := tx.InsertCACertificate(ctx, &CACertificate{Identifier: ca.id, AccountID: "a1", ParentIdentifier: ca.parent, CertificateType: ca.typ,
				KeyID: "ca-" + ca.id, Algorithm: "ECC_256", KeySize: 256, Status: "ISSUE", Certificate: []byte{0}, Serial: ca.serial,
				SubjectDN: "CN=" + ca.id, Years: 1, PathLen: 1, EnableCRL: true, CRLDay: 7, NotBefore: now, NotAfter: later, CreatedAt: now}); err != nil {
				return err
			}
		}
		for i := range n {
			if err := tx.InsertIssuedCertificate(ctx, &IssuedCertificate{Identifier: leafID(i), AccountID: "a1", IssuerIdentifier: "sub",
				Serial: fmt.Sprintf("%032x", i+1), CertificateType: "SERVER", Status: "ISSUE", Certificate: []byte{0}, SubjectDN: "CN=leaf",
				Algorithm: "ECC_256", KeySize: 256, NotBefore: now, NotAfter: later, CreatedAt: now}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return now
}

// sub2Serial is the serial of the CA under "sub".
const sub2Serial = "8a03"

func leafID(i int) string { return fmt.Sprintf("leaf-%d", i) }

// revokeLeaf revokes leaf i with reason i%11 (unspecified to aACompromise,
// 7 included: the store writes what it is given) and returns its entry.
func revokeLeaf(t *testing.T, db *DB, i int, at time.Time) []byte {
	t.Helper()
	reason := i % 11
	if _, err := db.RevokeIssued(context.Background(), "a1", leafID(i), reason, at); err != nil {
		t.Fatalf("revoke %s: %v", leafID(i), err)
	}
	return referenceEntry(t, fmt.Sprintf("%032x", i+1), at, reason)
}

// splitEntries cuts a revokedCertificates content into its entries.
func splitEntries(t *testing.T, b []byte) [][]byte {
	t.Helper()
	var out [][]byte
	s := cryptobyte.String(b)
	for !s.Empty() {
		var e cryptobyte.String
		if !s.ReadASN1Element(&e, cbasn1.SEQUENCE) {
			t.Fatalf("entries do not parse after %d", len(out))
		}
		out = append(out, e)
	}
	return out
}

// sameEntries reports whether two lists hold the same entries, in any
// order, each once.
func sameEntries(a, b [][]byte) bool {
	key := func(l [][]byte) []string {
		out := make([]string, len(l))
		for i, e := range l {
			out[i] = string(e)
		}
		sort.Strings(out)
		return out
	}
	return strings.Join(key(a), "\x00") == strings.Join(key(b), "\x00")
}

func readBuild(t *testing.T, db *DB, ca string) *CRLBuildInput {
	t.Helper()
	in, err := db.ReadCRLBuild(context.Background(), ca, nil)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// TestKeptCRLEntries: revocations before a CA's list is kept are written
// into it by the next build, from the tables; later ones are appended, in
// order, across chunks no larger than the bound; a revoked subordinate
// CA joins its parent's list; and a list written afresh holds exactly
// what the tables hold.
func TestKeptCRLEntries(t *testing.T) { eachBackend(t, testKeptCRLEntries) }

func testKeptCRLEntries(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	now := crlTestCAs(t, db, 300)
	var want [][]byte
	for i := range 5 {
		want = append(want, revokeLeaf(t, db, i, now.Add(time.Duration(i)*time.Second)))
	}
	var chunks int
	if err := db.e.QueryRowContext(ctx, `SELECT COUNT(*) FROM crl_entries WHERE ca_identifier = 'sub'`).Scan(&chunks); err != nil || chunks != 0 {
		t.Fatalf("%d chunks (%v) before the list is kept", chunks, err)
	}
	first := readBuild(t, db, "sub")
	if got := splitEntries(t, first.Entries); !sameEntries(got, want) {
		t.Fatalf("the first build lists %d entries, want the %d revoked", len(got), len(want))
	}
	var appended [][]byte
	for i := 5; i < 300; i++ {
		appended = append(appended, revokeLeaf(t, db, i, now.Add(time.Duration(i)*time.Second)))
	}
	if err := db.RevokeCA(ctx, "a1", "sub2", now); err != nil {
		t.Fatal(err)
	}
	appended = append(appended, referenceEntry(t, sub2Serial, now, 0))
	in := readBuild(t, db, "sub")
	if !bytes.HasPrefix(in.Entries, first.Entries) || !bytes.Equal(in.Entries[len(first.Entries):], bytes.Join(appended, nil)) {
		t.Fatal("revocations after the first build are not appended to its list, in order")
	}
	if in.Generation <= first.Generation {
		t.Fatalf("generation %d after revocations, was %d", in.Generation, first.Generation)
	}
	var largest int
	if err := db.e.QueryRowContext(ctx, `SELECT COUNT(*), MAX(LENGTH(der)) FROM crl_entries WHERE ca_identifier = 'sub'`).Scan(&chunks, &largest); err != nil {
		t.Fatal(err)
	}
	if chunks < 2 || largest > crlChunkBytes {
		t.Fatalf("%d chunks, the largest %d bytes: want several, none over %d", chunks, largest, crlChunkBytes)
	}
	if in := readBuild(t, db, "root"); len(in.Entries) != 0 {
		t.Fatalf("root lists %x, revoked nothing", in.Entries)
	}

	// Written afresh from the tables (as after an upgrade): the same
	// entries, each once.
	if _, err := db.e.ExecContext(ctx, `UPDATE crls SET entries_kept = 0 WHERE ca_identifier = 'sub'`); err != nil {
		t.Fatal(err)
	}
	again := readBuild(t, db, "sub")
	if !sameEntries(splitEntries(t, again.Entries), splitEntries(t, in.Entries)) {
		t.Fatal("the list written afresh differs from the one kept")
	}
}

// TestSavedCRLReadsBackAsSigned: a CRL saved with its entries in place is
// stored as what is around them, a few hundred bytes, and reads back byte
// for byte, also after later revocations appended to the chunks it
// lists; once those chunks change under it (a chunk damaged, or the list
// written afresh), it reads as missing, clean, so that it is rebuilt; a
// CRL with its entries elsewhere is stored whole.
func TestSavedCRLReadsBackAsSigned(t *testing.T) { eachBackend(t, testSavedCRLReadsBackAsSigned) }

func testSavedCRLReadsBackAsSigned(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	now := crlTestCAs(t, db, 400)
	for i := range 250 {
		revokeLeaf(t, db, i, now)
	}
	in := readBuild(t, db, "sub")
	head, tail := []byte("head of the CRL"), []byte("tail: extensions and signature")
	der := append(append(append([]byte{}, head...), in.Entries...), tail...)
	save := func(der []byte, at int, in *CRLBuildInput) {
		t.Helper()
		if err := db.SaveCRL(ctx, "sub", &CRL{Number: in.LastNumber + 1, DER: der, EntriesAt: at, ThisUpdate: now, NextUpdate: now.Add(time.Hour)}, in); err != nil {
			t.Fatal(err)
		}
	}
	save(der, len(head), in)
	var stored int
	if err := db.e.QueryRowContext(ctx, `SELECT LENGTH(head) + LENGTH(tail) FROM crl_documents WHERE ca_identifier = 'sub'`).Scan(&stored); err != nil || stored != len(head)+len(tail) {
		t.Fatalf("stored %d bytes beside the entries (%v), want %d", stored, err, len(head)+len(tail))
	}
	readBack := func() *CRL {
		t.Helper()
		c, err := db.GetCRL(ctx, "sub")
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if c := readBack(); c.Dirty || !bytes.Equal(c.DER, der) || c.Number != in.LastNumber+1 {
		t.Fatalf("read back: dirty %v, number %d, %d bytes equal %v", c.Dirty, c.Number, len(c.DER), bytes.Equal(c.DER, der))
	}
	if st, err := db.CRLState(ctx, "sub"); err != nil || st.DER != nil || st.Dirty || st.Number != in.LastNumber+1 {
		t.Fatalf("state %+v (%v): want clean, number %d, no DER", st, err, in.LastNumber+1)
	}

	// Revocations append to the last chunk it lists and add more: it still
	// reads back (looked at as clean: a revocation marks the CRL dirty).
	for i := 250; i < 400; i++ {
		revokeLeaf(t, db, i, now)
	}
	if c := readBack(); !c.Dirty || c.DER != nil {
		t.Fatalf("after revocations: dirty %v with %d bytes, want dirty and no DER", c.Dirty, len(c.DER))
	}
	clean := func() {
		t.Helper()
		if _, err := db.e.ExecContext(ctx, `UPDATE crls SET dirty = 0 WHERE ca_identifier = 'sub'`); err != nil {
			t.Fatal(err)
		}
	}
	clean()
	if c := readBack(); !bytes.Equal(c.DER, der) {
		t.Fatalf("after appends the CRL reads back as %d bytes, not the %d signed", len(c.DER), len(der))
	}

	// A chunk it lists, damaged at the same length: it reads as missing.
	var chunk []byte
	if err := db.e.QueryRowContext(ctx, `SELECT der FROM crl_entries WHERE ca_identifier = 'sub' AND seq = 1`).Scan(&chunk); err != nil {
		t.Fatal(err)
	}
	damaged := bytes.Clone(chunk)
	damaged[len(damaged)-1] ^= 1
	if _, err := db.e.ExecContext(ctx, `UPDATE crl_entries SET der = ? WHERE ca_identifier = 'sub' AND seq = 1`, damaged); err != nil {
		t.Fatal(err)
	}
	if c := readBack(); c.Dirty || c.DER != nil {
		t.Fatalf("a damaged chunk: dirty %v, %d bytes; want clean with no DER (rebuild)", c.Dirty, len(c.DER))
	}
	if _, err := db.e.ExecContext(ctx, `UPDATE crl_entries SET der = ? WHERE ca_identifier = 'sub' AND seq = 1`, chunk); err != nil {
		t.Fatal(err)
	}
	if c := readBack(); !bytes.Equal(c.DER, der) {
		t.Fatal("the chunk restored, the CRL does not read back")
	}

	// The list written afresh: the CRL made of the old chunks is gone.
	if _, err := db.e.ExecContext(ctx, `UPDATE crls SET entries_kept = 0 WHERE ca_identifier = 'sub'`); err != nil {
		t.Fatal(err)
	}
	next := readBuild(t, db, "sub")
	clean()
	if c := readBack(); c.DER != nil {
		t.Fatalf("after the list was written afresh, the old CRL still reads back (%d bytes)", len(c.DER))
	}

	// Entries not where SaveCRL is told: stored whole, read back whole.
	whole := append([]byte("another CRL "), next.Entries...)
	save(whole, 0, next)
	if c := readBack(); !bytes.Equal(c.DER, whole) {
		t.Fatal("a CRL stored whole does not read back")
	}
	if err := db.e.QueryRowContext(ctx, `SELECT LENGTH(head) FROM crl_documents WHERE ca_identifier = 'sub'`).Scan(&stored); err != nil || stored != len(whole) {
		t.Fatalf("stored head %d bytes (%v), want the whole %d", stored, err, len(whole))
	}
}

// TestKeptCRLEntriesUnderConcurrentRevocations: two nodes on one
// database revoke a CA's certificates at once, while one of them has
// the CA's list written from the tables for the first time and builds
// read it; every revoked certificate is on the list once.
func TestKeptCRLEntriesUnderConcurrentRevocations(t *testing.T) {
	eachBackend(t, testKeptCRLEntriesUnderConcurrentRevocations)
}

func testKeptCRLEntriesUnderConcurrentRevocations(t *testing.T) {
	url := testURL(t)
	ctx := context.Background()
	var nodes []*DB
	for _, name := range []string{"node-a", "node-b"} {
		db, err := OpenURL(ctx, url, WithAuditChain(name))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		nodes = append(nodes, db)
	}
	const n = 60
	now := crlTestCAs(t, nodes[0], n)
	var want [][]byte
	for i := range 10 { // before the list is kept
		want = append(want, revokeLeaf(t, nodes[i%2], i, now))
	}
	for i := 10; i < n; i++ {
		want = append(want, referenceEntry(t, fmt.Sprintf("%032x", i+1), now, i%11))
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 10; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := nodes[i%2].RevokeIssued(ctx, "a1", leafID(i), i%11, now); err != nil {
				errs <- err
			}
		}()
	}
	for range 3 { // the first keeps the list; all of them read it
		wg.Add(1)
		go func() {
			defer wg.Done()
			unlock, err := nodes[0].LockCRLBuild(ctx, "sub")
			if err != nil {
				errs <- err
				return
			}
			defer unlock()
			if _, err := nodes[0].ReadCRLBuild(ctx, "sub", nil); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := splitEntries(t, readBuild(t, nodes[1], "sub").Entries); len(got) != n || !sameEntries(got, want) {
		t.Fatalf("the list holds %d entries, want the %d revoked, each once", len(got), n)
	}
}

// TestKeptCRLEntriesMigration: a database from before the kept entries,
// with a CRL stored and certificates revoked, opens with its CRL served
// as it was stored; the CA's next build writes its list from the tables
// and later revocations append to it.
func TestKeptCRLEntriesMigration(t *testing.T) { eachBackend(t, testKeptCRLEntriesMigration) }

func testKeptCRLEntriesMigration(t *testing.T) {
	ctx := context.Background()
	url := testURL(t)
	before := -1
	for i, m := range migrations {
		if strings.Contains(m, "CREATE TABLE crl_entries") {
			before = i
		}
	}
	if before < 0 {
		t.Fatal("no migration keeps CRL entries")
	}
	d := sqliteDialect
	var raw *sql.DB
	if backendOf(t) == "postgres" {
		d, raw = postgresDialect, rawPostgres(t, url)
	} else {
		var err error
		if raw, err = sql.Open("sqlite3", "file:"+url+"?_foreign_keys=on"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { raw.Close() })
	}
	old := &DB{d: d}
	if _, err := raw.Exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for v := 1; v <= before; v++ {
		if _, err := raw.Exec(old.migration(v)); err != nil {
			t.Fatalf("migration %d: %v", v, err)
		}
		if _, err := raw.Exec(d.rebind(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, 0)`), v); err != nil {
			t.Fatal(err)
		}
	}
	legacy := []byte("a CRL stored by the binary before")
	for _, stmt := range []string{
		`INSERT INTO accounts (id, name, created_at) VALUES ('a1', 'a1', 0)`,
		`INSERT INTO ca_certificates (identifier, account_id, certificate_type, key_id, algorithm, key_size, status, certificate, serial, subject_dn,
			years, path_len, enable_crl, crl_day, not_before, not_after, created_at) VALUES ('sub', 'a1', 'ROOT', 'k1', 'ECC', 256, 'ISSUE', '\x00', '0a02', 'CN=s', 1, -1, 1, 7, 0, 1, 0)`,
		`INSERT INTO issued_certificates (identifier, account_id, issuer_identifier, serial, certificate_type, status, certificate, subject_dn,
			algorithm, key_size, not_before, not_after, created_at, revoked_at, revoke_reason) VALUES ('c1', 'a1', 'sub', '0a', 'SERVER', 'REVOKE', '\x00', 'CN=c', 'ECC', 256, 0, 1, 0, 5000, 1)`,
		`INSERT INTO issued_certificates (identifier, account_id, issuer_identifier, serial, certificate_type, status, certificate, subject_dn,
			algorithm, key_size, not_before, not_after, created_at) VALUES ('c2', 'a1', 'sub', '0b', 'SERVER', 'ISSUE', '\x00', 'CN=c', 'ECC', 256, 0, 1, 0)`,
	} {
		if _, err := raw.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	if _, err := raw.Exec(d.rebind(`INSERT INTO crls (ca_identifier, crl_number, dirty, der, this_update, next_update, generation) VALUES ('sub', 3, 0, ?, 0, ?, 7)`),
		legacy, time.Now().Add(time.Hour).UnixMilli()); err != nil {
		t.Fatal(err)
	}

	db, err := OpenURL(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c, err := db.GetCRL(ctx, "sub")
	if err != nil || c.Dirty || c.Number != 3 || c.Generation != 7 || !bytes.Equal(c.DER, legacy) {
		t.Fatalf("after migration: %+v (%v), want the stored CRL 3, clean", c, err)
	}
	in := readBuild(t, db, "sub")
	want := [][]byte{referenceEntry(t, "0a", time.UnixMilli(5000), 1)}
	if got := splitEntries(t, in.Entries); !sameEntries(got, want) || in.LastNumber != 3 {
		t.Fatalf("the first build after migration lists %x (CRL %d), want %x after CRL 3", got, in.LastNumber, want)
	}
	if c, err := db.GetCRL(ctx, "sub"); err != nil || !bytes.Equal(c.DER, legacy) {
		t.Fatalf("writing the list lost the stored CRL: %v", err)
	}
	if _, err := db.RevokeIssued(ctx, "a1", "c2", 4, time.UnixMilli(9000)); err != nil {
		t.Fatal(err)
	}
	want = append(want, referenceEntry(t, "0b", time.UnixMilli(9000), 4))
	if got := readBuild(t, db, "sub").Entries; !bytes.Equal(got, bytes.Join(want, nil)) {
		t.Fatalf("after a revocation the list is %x, want %x", got, bytes.Join(want, nil))
	}
}
