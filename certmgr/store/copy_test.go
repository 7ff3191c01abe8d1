package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certcustody/certcustody/pgcluster/pgclustertest"
)

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// populatedSQLite builds an embedded database with rows in every table,
// through the store's own writers, and with the CA hierarchy stored
// children first (as rows land after a delete and re-insert), so that a
// copy in storage order would break the CAs' parent reference.
func populatedSQLite(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "certcustody.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	later := now.Add(24 * time.Hour)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	jctx, j := journalCtx(now)
	j.AddUse("token:generate/CKM_EC_KEY_PAIR_GEN", "kms-1", "OK")
	must(db.Tx(jctx, func(tx *Tx) error {
		for _, a := range []string{"a1", "a2"} {
			if err := tx.InsertAccount(ctx, &Account{ID: a, Name: "name-" + a, CreatedAt: now}); err != nil {
				return err
			}
		}
		if err := tx.InsertAccessKey(ctx, &AccessKey{ID: "AK1", AccountID: "a1", SecretSealed: randomBytes(t, 60), Status: "Active", CreatedAt: now}); err != nil {
			return err
		}
		if err := tx.InsertAccessKey(ctx, &AccessKey{ID: "AK2", AccountID: "a2", SecretSealed: randomBytes(t, 60), Status: "Inactive",
			Policy: `{"Version":"1","Statement":[]}`, CreatedAt: now}); err != nil {
			return err
		}
		// A certificate not yet uploaded (NULL certificate, times) and one uploaded.
		if err := tx.InsertKMSCertificate(ctx, &KMSCertificate{ID: "kms-pending", AccountID: "a1", KeyID: "kms-1", KeySpec: "EC_P256",
			ProtectionLevel: "HSM", Subject: "CN=p", Status: "PENDING", CSR: randomBytes(t, 300), CreatedAt: now, UpdatedAt: now}); err != nil {
			return err
		}
		if err := tx.InsertKMSCertificate(ctx, &KMSCertificate{ID: "kms-active", AccountID: "a1", KeyID: "kms-2", KeySpec: "RSA_2048",
			ProtectionLevel: "HSM", Exportable: true, Subject: "CN=a", SANs: []string{"a.example", "b.example"}, Status: "ACTIVE",
			CSR: randomBytes(t, 300), Certificate: randomBytes(t, 900), Chain: "-----BEGIN CERTIFICATE-----\n", Serial: "01",
			NotBefore: &now, NotAfter: &later, CreatedAt: now, UpdatedAt: now}); err != nil {
			return err
		}
		for _, ca := range []struct{ id, parent, typ string }{{"root", "", "ROOT"}, {"sub", "root", "SUB_ROOT"}, {"subsub", "sub", "SUB_ROOT"}, {"root2", "", "ROOT"}} {
			if err := tx.InsertCACertificate(ctx, &CACertificate{Identifier: ca.id, AccountID: "a1", ParentIdentifier: ca.parent, CertificateType: ca.typ,
				KeyID: "ca-" + ca.id, Algorithm: "ECC_256", KeySize: 256, Status: "ISSUE", Certificate: randomBytes(t, 500), Serial: ca.id,
				SubjectDN: "CN=" + ca.id, Years: 1, PathLen: 1, EnableCRL: true, CRLDay: 7, NotBefore: now, NotAfter: later, CreatedAt: now,
				Tags: `[{"TagKey":"env","TagValue":"test"}]`}); err != nil {
				return err
			}
		}
		for i, blob := range [][]byte{randomBytes(t, 200), nil, {}} { // wrapped key, a CSR's (NULL), and empty
			if err := tx.InsertIssuedCertificate(ctx, &IssuedCertificate{Identifier: fmt.Sprintf("leaf-%d", i), AccountID: "a1", IssuerIdentifier: "subsub",
				Serial: fmt.Sprintf("%032x", i), CertificateType: "SERVER", Status: "ISSUE", Certificate: randomBytes(t, 700), SubjectDN: "CN=leaf",
				Algorithm: "ECC_256", KeySize: 256, NotBefore: now, NotAfter: later, CreatedAt: now, KeyAlgorithm: "EC_P256", KeyBlob: blob}); err != nil {
				return err
			}
		}
		if err := tx.UpsertTags(ctx, "a1", TagResourceKMS, "kms-active", []Tag{{Key: "team", Value: "pki"}}); err != nil {
			return err
		}
		if _, err := tx.InsertPoolKey(ctx, &PoolKey{KeyID: "kms-pooled", Algorithm: "RSA_2048", ProtectionLevel: "HSM", CreatedAt: now}, 8); err != nil {
			return err
		}
		return tx.insertClientToken(ctx, &ClientToken{AccountID: "a1", Token: "ct-1", Action: "CreateRootCACertificate", Fingerprint: "f", Resource: "root", CreatedAt: now}, now.Add(-time.Hour))
	}))
	if _, err := db.RevokeIssued(ctx, "a1", "leaf-0", 1, now); err != nil {
		t.Fatal(err)
	}
	in, err := db.ReadCRLBuild(ctx, "subsub", nil)
	must(err)
	must(db.SaveCRL(ctx, "subsub", &CRL{Number: in.LastNumber + 1, DER: randomBytes(t, 400), ThisUpdate: now, NextUpdate: later}, in))
	if _, err := db.UseNonce(ctx, "AK1", "nonce-1", later, now); err != nil {
		t.Fatal(err)
	}
	must(db.Heartbeat(ctx, "node-1", now))
	seq, head, _, err := db.AuditHead(ctx)
	must(err)
	must(db.InsertAuditCheckpoint(ctx, &AuditCheckpoint{Seq: seq, HeadHash: head, Signature: randomBytes(t, 70), At: now}))
	must(db.Close())

	// Store the hierarchy children first: with foreign keys off (as a
	// plain connection has them), take the parents out and put them back
	// deepest first, so they come after their children in storage order.
	raw := rawSQLite(t, path)
	for _, q := range []string{
		`CREATE TEMP TABLE parents AS SELECT * FROM ca_certificates WHERE identifier IN ('root', 'sub')`,
		`DELETE FROM ca_certificates WHERE identifier IN ('root', 'sub')`,
		`INSERT INTO ca_certificates SELECT * FROM parents WHERE identifier = 'sub'`,
		`INSERT INTO ca_certificates SELECT * FROM parents WHERE identifier = 'root'`,
	} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	var first string
	if err := raw.QueryRow(`SELECT identifier FROM ca_certificates ORDER BY rowid LIMIT 1`).Scan(&first); err != nil || first != "subsub" {
		t.Fatalf("storage order starts with %q (%v), want the deepest CA", first, err)
	}
	return path
}

func rawSQLite(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1) // the temp table lives on one connection
	t.Cleanup(func() { db.Close() })
	return db
}

func rawPostgres(t *testing.T, url string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// sqliteTableNames lists the tables a copy must bring over.
func sqliteTableNames(t *testing.T, db *sql.DB) []string {
	t.Helper()
	names, err := queryStrings(context.Background(), db, `SELECT name FROM sqlite_master WHERE type = 'table'
		AND name NOT LIKE 'sqlite\_%' ESCAPE '\' AND name <> 'schema_migrations' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// tableContent is a table's rows as a multiset of their exact values,
// typed as the driver returns them (int64, []byte, string, nil), so that
// a NULL that became an empty blob, or bytes that became text, differ.
func tableContent(t *testing.T, db *sql.DB, table string) map[string]int {
	t.Helper()
	rows, err := db.Query(`SELECT * FROM ` + quoteIdent(table))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	out := map[string]int{}
	for rows.Next() {
		vals, ptrs := make([]any, len(cols)), make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		// Key by column name: the target's columns may come in another
		// order (ALTER TABLE ADD COLUMN runs in migration order on both,
		// but nothing promises it).
		parts := make([]string, len(cols))
		for i, c := range cols {
			parts[i] = fmt.Sprintf("%s=%#v", c, vals[i])
		}
		sort.Strings(parts)
		out[strings.Join(parts, "|")]++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func contentOf(t *testing.T, db *sql.DB, tables []string) map[string]map[string]int {
	t.Helper()
	out := map[string]map[string]int{}
	for _, tb := range tables {
		out[tb] = tableContent(t, db, tb)
	}
	return out
}

func sameContent(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, n := range a {
		if b[k] != n {
			return false
		}
	}
	return true
}

// smallBatches makes every INSERT carry two rows, so that parents and
// children land in different statements (PostgreSQL checks a reference
// at the end of each statement) and partial last batches are exercised.
func smallBatches(t *testing.T) {
	old := copyBatchRows
	copyBatchRows = 2
	t.Cleanup(func() { copyBatchRows = old })
}

// TestCopyMovesEveryRowExactly: every table of a populated embedded
// database arrives in PostgreSQL with the same rows, value for value and
// type for type (blobs as bytes, NULL as NULL, integers as integers),
// parents before children, the CA hierarchy parent first although it is
// stored children first; the check runs inside the copy and sees it all;
// the copy opens as a current store and reads through the store's code.
func TestCopyMovesEveryRowExactly(t *testing.T) {
	smallBatches(t)
	ctx := context.Background()
	src := populatedSQLite(t)
	dst := pgclustertest.Database(t, cluster)
	srcDB := rawSQLite(t, src)
	names := sqliteTableNames(t, srcDB)
	var checked int
	var progressed []string
	rep, err := Copy(ctx, src, dst, CopyOptions{
		Check: func(ctx context.Context, tx *Tx) error {
			return tx.WalkAudit(ctx, func(*AuditRecord) error { checked++; return nil })
		},
		Progress: func(table string, rows int64, done bool) {
			if done {
				progressed = append(progressed, table)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.SchemaVersion != Migrations() {
		t.Errorf("schema version %d, want %d", rep.SchemaVersion, Migrations())
	}
	pos := map[string]int{}
	for i, tb := range rep.Tables {
		pos[tb.Name] = i
	}
	if len(rep.Tables) != len(names) || len(progressed) != len(names) {
		t.Fatalf("copied %v (progress %v), want every table of %v", rep.Tables, progressed, names)
	}
	pg := rawPostgres(t, dst)
	for _, name := range names {
		i, ok := pos[name]
		if !ok {
			t.Fatalf("table %s not copied: %v", name, rep.Tables)
		}
		var want, got int64
		if err := srcDB.QueryRow(`SELECT COUNT(*) FROM ` + quoteIdent(name)).Scan(&want); err != nil {
			t.Fatal(err)
		}
		if err := pg.QueryRow(`SELECT COUNT(*) FROM ` + quoteIdent(name)).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if want == 0 {
			t.Errorf("the fixture leaves %s empty: it proves nothing about that table", name)
		}
		if rep.Tables[i].Rows != want || got != want {
			t.Errorf("%s: reported %d, target holds %d, source has %d", name, rep.Tables[i].Rows, got, want)
		}
		if a, b := tableContent(t, srcDB, name), tableContent(t, pg, name); !sameContent(a, b) {
			t.Errorf("%s differs:\nsource %v\ntarget %v", name, a, b)
		}
		// Every table comes after the tables it references.
		parents, err := queryStrings(ctx, srcDB, `SELECT DISTINCT "table" FROM pragma_foreign_key_list('`+name+`')`)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range parents {
			if p != name && pos[p] > i {
				t.Errorf("%s copied before its parent %s: %v", name, p, rep.Tables)
			}
		}
	}
	var records int
	if err := srcDB.QueryRow(`SELECT COUNT(*) FROM audit_log`).Scan(&records); err != nil {
		t.Fatal(err)
	}
	if checked != records || records == 0 {
		t.Errorf("the check saw %d audit records inside the copy, want %d", checked, records)
	}

	// A node opens the copy without migrating (the schema is current) and
	// reads it through the store.
	db, err := OpenURL(ctx, dst, WithoutMigrations())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ca, err := db.GetCACertificate(ctx, "a1", "subsub")
	if err != nil || ca.ParentIdentifier != "sub" {
		t.Fatalf("copied CA read back as %+v (%v)", ca, err)
	}
	leaf, err := db.GetIssuedCertificate(ctx, "a1", "leaf-1")
	if err != nil || leaf.KeyBlob != nil {
		t.Fatalf("a NULL key blob read back as %v (%v)", leaf, err)
	}
}

// TestCopyRefusesNonEmptyTarget: a target with rows in any table of ours
// is refused and left exactly as it was, whether it is a copied store or
// an unmigrated database with one table of ours (never migrated by the
// refusal).
func TestCopyRefusesNonEmptyTarget(t *testing.T) {
	ctx := context.Background()
	src := populatedSQLite(t)
	names := sqliteTableNames(t, rawSQLite(t, src))

	t.Run("copied", func(t *testing.T) {
		dst := pgclustertest.Database(t, cluster)
		if _, err := Copy(ctx, src, dst, CopyOptions{}); err != nil {
			t.Fatal(err)
		}
		pg := rawPostgres(t, dst)
		before := contentOf(t, pg, append(names, "schema_migrations"))
		_, err := Copy(ctx, src, dst, CopyOptions{})
		if !errors.Is(err, ErrCopyTarget) || !strings.Contains(err.Error(), "not empty") {
			t.Fatalf("second copy: %v, want a refusal naming a non-empty target", err)
		}
		after := contentOf(t, pg, append(names, "schema_migrations"))
		for tb := range before {
			if !sameContent(before[tb], after[tb]) {
				t.Errorf("refused copy changed %s", tb)
			}
		}
	})
	t.Run("unmigrated", func(t *testing.T) {
		dst := pgclustertest.Database(t, cluster)
		pg := rawPostgres(t, dst)
		if _, err := pg.Exec(`CREATE TABLE audit_log (seq BIGINT PRIMARY KEY); INSERT INTO audit_log VALUES (1)`); err != nil {
			t.Fatal(err)
		}
		_, err := Copy(ctx, src, dst, CopyOptions{})
		if !errors.Is(err, ErrCopyTarget) || !strings.Contains(err.Error(), "audit_log has rows") {
			t.Fatalf("copy: %v, want a refusal naming audit_log", err)
		}
		tables, err := queryStrings(ctx, pg, `SELECT tablename FROM pg_tables WHERE schemaname = current_schema()`)
		if err != nil || len(tables) != 1 {
			t.Fatalf("the refusal migrated the target: tables %v (%v)", tables, err)
		}
	})
}

// TestCopyRefusesBadSource: a source behind or ahead of this binary, not
// ours, not SQLite, or missing is refused with a message that says what
// to do, the target stays without a single table, and a missing source is
// not created. A target that is not PostgreSQL is refused too.
func TestCopyRefusesBadSource(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		make func(t *testing.T) string
		want string
	}{
		{"behind", func(t *testing.T) string {
			p := populatedSQLite(t)
			if _, err := rawSQLite(t, p).Exec(`DELETE FROM schema_migrations WHERE version = ?`, Migrations()); err != nil {
				t.Fatal(err)
			}
			return p
		}, fmt.Sprintf("schema version %d, behind this binary's %d: run this binary's `certcustody migrate`", Migrations()-1, Migrations())},
		{"ahead", func(t *testing.T) string {
			p := populatedSQLite(t)
			if _, err := rawSQLite(t, p).Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, 0)`, Migrations()+1); err != nil {
				t.Fatal(err)
			}
			return p
		}, "newer than this binary's"},
		{"not ours", func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "other.db")
			if _, err := rawSQLite(t, p).Exec(`CREATE TABLE things (x INTEGER)`); err != nil {
				t.Fatal(err)
			}
			return p
		}, "not a certcustody database"},
		{"not SQLite", func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "notes.txt")
			if err := os.WriteFile(p, []byte(strings.Repeat("not a database\n", 200)), 0o600); err != nil {
				t.Fatal(err)
			}
			return p
		}, "not a SQLite database"},
		{"missing", func(t *testing.T) string { return filepath.Join(t.TempDir(), "nothing.db") }, "no such file"},
		{"directory", func(t *testing.T) string { return t.TempDir() }, "not a SQLite database file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.make(t)
			dst := pgclustertest.Database(t, cluster)
			_, err := Copy(ctx, src, dst, CopyOptions{})
			if !errors.Is(err, ErrCopySource) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("copy: %v, want a source refusal saying %q", err, tc.want)
			}
			tables, err := queryStrings(ctx, rawPostgres(t, dst), `SELECT tablename FROM pg_tables WHERE schemaname = current_schema()`)
			if err != nil || len(tables) != 0 {
				t.Fatalf("a refused copy touched the target: %v (%v)", tables, err)
			}
			if tc.name == "missing" {
				if _, err := os.Stat(src); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("a missing source was created: %v", err)
				}
			}
		})
	}
	t.Run("SQLite target", func(t *testing.T) {
		to := filepath.Join(t.TempDir(), "target.db")
		_, err := Copy(ctx, populatedSQLite(t), to, CopyOptions{})
		if !errors.Is(err, ErrCopyTarget) || !strings.Contains(err.Error(), "not a PostgreSQL URL") {
			t.Fatalf("copy to a file: %v", err)
		}
		if _, err := os.Stat(to); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("the refused target was created: %v", err)
		}
	})
}

// TestCopyRollsBackOnAnyFailure: a failing check, or an insert the target
// refuses part-way through, leaves every table empty (nothing
// half-copied), and the migrated, empty target is accepted by the next
// copy.
func TestCopyRollsBackOnAnyFailure(t *testing.T) {
	smallBatches(t)
	ctx := context.Background()
	src := populatedSQLite(t)
	names := sqliteTableNames(t, rawSQLite(t, src))
	empty := func(t *testing.T, pg *sql.DB) {
		t.Helper()
		for _, tb := range names {
			var n int
			if err := pg.QueryRow(`SELECT COUNT(*) FROM ` + quoteIdent(tb)).Scan(&n); err != nil || n != 0 {
				t.Errorf("after a failed copy %s holds %d rows (%v)", tb, n, err)
			}
		}
	}

	t.Run("check", func(t *testing.T) {
		dst := pgclustertest.Database(t, cluster)
		boom := errors.New("audit chain broken")
		if _, err := Copy(ctx, src, dst, CopyOptions{Check: func(context.Context, *Tx) error { return boom }}); !errors.Is(err, boom) {
			t.Fatalf("copy: %v, want the check's error", err)
		}
		pg := rawPostgres(t, dst)
		empty(t, pg)
		if _, err := Copy(ctx, src, dst, CopyOptions{}); err != nil {
			t.Fatalf("the empty, migrated target was refused: %v", err)
		}
	})
	t.Run("insert", func(t *testing.T) {
		dst := pgclustertest.Database(t, cluster)
		db, err := OpenURL(ctx, dst)
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
		pg := rawPostgres(t, dst)
		// The target refuses the second batch of issued certificates,
		// after the tables before it have been written.
		for _, q := range []string{
			`CREATE FUNCTION refuse_leaf() RETURNS trigger AS $$ BEGIN IF NEW.identifier = 'leaf-2' THEN RAISE EXCEPTION 'disk full'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql`,
			`CREATE TRIGGER refuse_leaf BEFORE INSERT ON issued_certificates FOR EACH ROW EXECUTE FUNCTION refuse_leaf()`,
		} {
			if _, err := pg.Exec(q); err != nil {
				t.Fatal(err)
			}
		}
		_, err = Copy(ctx, src, dst, CopyOptions{})
		if err == nil || !strings.Contains(err.Error(), "table issued_certificates") || !strings.Contains(err.Error(), "disk full") {
			t.Fatalf("copy: %v, want a failure naming the table and the cause", err)
		}
		empty(t, pg)
	})
}

// TestCopyStreamsInBoundedMemory: a table several times larger than the
// bound copies while the Go heap stays under it, so rows are streamed,
// not loaded.
func TestCopyStreamsInBoundedMemory(t *testing.T) {
	const rows, certSize = 30_000, 4096 // 120 MiB of certificates
	const bound = 64 << 20
	ctx := context.Background()
	src := populatedSQLite(t)
	raw := rawSQLite(t, src)
	if _, err := raw.Exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
		INSERT INTO issued_certificates (identifier, account_id, issuer_identifier, serial, certificate_type, status, certificate,
			subject_dn, algorithm, key_size, not_before, not_after, created_at)
		SELECT printf('bulk-%d', i), 'a1', 'subsub', printf('%032x', i + 1000), 'CLIENT', 'ISSUE', randomblob(?),
			'CN=bulk', 'ECC_256', 256, 0, 1, i FROM n`, rows, certSize); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	dst := pgclustertest.Database(t, cluster)

	runtime.GC()
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak.Load() {
				peak.Store(ms.HeapAlloc)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	rep, err := Copy(ctx, src, dst, CopyOptions{})
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range rep.Tables {
		if tb.Name == "issued_certificates" && tb.Rows != rows+3 {
			t.Fatalf("copied %d issued certificates, want %d", tb.Rows, rows+3)
		}
	}
	if p := peak.Load(); p > bound {
		t.Fatalf("heap peaked at %d MiB copying %d MiB of rows; want under %d MiB", p>>20, rows*certSize>>20, bound>>20)
	} else {
		t.Logf("heap peaked at %d MiB copying %d MiB of rows", p>>20, rows*certSize>>20)
	}
}

// TestFKOrderRefusesCycles: tables that reference each other in a circle
// have no parent-first order; the copy names them instead of guessing.
func TestFKOrderRefusesCycles(t *testing.T) {
	_, err := fkOrder([]copyTable{{name: "a", parents: []string{"b"}}, {name: "b", parents: []string{"a"}}, {name: "c"}})
	if !errors.Is(err, ErrCopySource) || !strings.Contains(err.Error(), "tables a, b reference each other in a cycle") {
		t.Fatalf("cycle: %v", err)
	}
	got, err := fkOrder([]copyTable{{name: "child", parents: []string{"parent", "elsewhere"}}, {name: "grandchild", parents: []string{"child"}},
		{name: "other"}, {name: "parent"}})
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, tb := range got {
		order = append(order, tb.name)
	}
	// The first ready table by name each time; "elsewhere" is not copied,
	// so it orders nothing.
	if strings.Join(order, ",") != "other,parent,child,grandchild" {
		t.Fatalf("order %v", order)
	}
}

// TestRedactURL: a password never reaches a summary or an error, in the
// user part or as a parameter.
func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:secret@h:5432/db?sslmode=disable": "postgres://u:xxxxx@h:5432/db?sslmode=disable",
		"postgres://u@h/db?password=secret":             "postgres://u@h/db?password=xxxxx",
		"postgres://u@h/db":                             "postgres://u@h/db",
	} {
		if got := RedactURL(in); got != want || strings.Contains(got, "secret") {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestCheckpointHeadsNameTheUnnamedChain: a node's checkpoint on a
// database copied from an embedded install names the embedded chain
// (named "") among the other heads, and reads it back as it was signed.
func TestCheckpointHeadsNameTheUnnamedChain(t *testing.T) {
	heads := []ChainHead{{Chain: "", Seq: 28, Hash: []byte{0xfd, 0x67}}, {Chain: "node-0a1b", Seq: 3, Hash: []byte{1}}}
	got, err := decodeHeads(encodeHeads(heads))
	if err != nil || fmt.Sprint(got) != fmt.Sprint(heads) {
		t.Fatalf("round trip: %v (%v), want %v", got, err, heads)
	}
	// As written before the placeholder: a leading empty name.
	got, err = decodeHeads(" 28 fd67\nnode-0a1b 3 01\n")
	if err != nil || fmt.Sprint(got) != fmt.Sprint(heads) {
		t.Fatalf("earlier encoding: %v (%v), want %v", got, err, heads)
	}
}
