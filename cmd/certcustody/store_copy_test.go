package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"database/sql"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/certcustody/certcustody/certmgr"
	"github.com/certcustody/certcustody/certmgr/store"
	"github.com/certcustody/certcustody/pgcluster"
	"github.com/certcustody/certcustody/pgcluster/pgclustertest"
)

// pgCluster is this package's throwaway PostgreSQL, for the tests that
// move an install onto it.
var pgCluster *pgcluster.Cluster

func TestMain(m *testing.M) {
	c, stop := pgclustertest.Start()
	pgCluster = c
	code := m.Run()
	stop()
	os.Exit(code)
}

const (
	kmsAPI = "2016-01-20"
	caAPI  = "2020-06-30"
)

// TestStoreCopyMovesAnEmbeddedInstallToPostgres walks the README's
// "Moving up from SQLite": an embedded install with KMS certificates, a CA
// hierarchy, an issued and a revoked certificate, a CRL, tags and a second
// AccessKey is stopped and copied into PostgreSQL. Every table arrives
// with the source's rows, certificates and sealed blobs byte for byte, and
// the audit chain verifies on the target. A second copy into the filled
// target, a source behind this binary and a source whose audit log was
// edited are refused, changing nothing. Then serve on the same data
// directory and token with database.url at the copy describes what was
// created before the copy, unwraps a key stored before it, and issues
// from a CA made before it; audit verify then checks the grown chain.
func TestStoreCopyMovesAnEmbeddedInstallToPostgres(t *testing.T) {
	bin := buildBinary(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	addr := freeAddr(t)
	stop := startServe(t, bin, dataDir, addr)
	creds := readBootstrap(t, dataDir)
	c := newAPIClient("http://"+addr, creds["AccessKeyId"], creds["AccessKeySecret"])
	ok := func(action, version string, args map[string]string) map[string]any {
		t.Helper()
		out, err := c.doJSON(action, version, args)
		if err != nil {
			t.Fatalf("%s: %v", action, err)
		}
		return out
	}
	subject := func(cn string) map[string]string {
		return map[string]string{"CommonName": cn, "Organization": "Example Corp", "OrganizationUnit": "PKI",
			"Locality": "Hangzhou", "State": "Zhejiang", "CountryCode": "CN", "Algorithm": "ECC_256"}
	}
	with := func(m map[string]string, kv ...string) map[string]string {
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	kmsID := ok("CreateCertificate", kmsAPI, map[string]string{"KeySpec": "EC_P256", "Subject": "CN=before-copy,OU=ops,O=Example,C=CN"})["CertificateId"].(string)
	ok("CreateCertificate", kmsAPI, map[string]string{"KeySpec": "EC_P256", "Subject": "CN=second,OU=ops,O=Example,C=CN", "ExportablePrivateKey": "false"})
	ok("TagResource", kmsAPI, map[string]string{"CertificateId": kmsID, "Tags": `[{"TagKey":"team","TagValue":"ops"}]`})
	root := ok("CreateRootCACertificate", caAPI, with(subject("Copy Root"), "Years", "10"))["Identifier"].(string)
	sub := ok("CreateSubCACertificate", caAPI, with(subject("Copy Issuing"), "ParentIdentifier", root, "Years", "5", "EnableCrl", "true"))["Identifier"].(string)
	leaf := ok("CreateServerCertificate", caAPI, map[string]string{"ParentIdentifier": sub, "Algorithm": "ECC_256",
		"CommonName": "www.example.com", "Domain": "www.example.com,10.0.0.7", "Days": "30"})["Identifier"].(string)
	revoked := ok("CreateServerCertificate", caAPI, map[string]string{"ParentIdentifier": sub, "Algorithm": "ECC_256",
		"CommonName": "old.example.com", "Domain": "old.example.com", "Days": "30"})["Identifier"].(string)
	ok("CreateRevokeClientCertificate", caAPI, map[string]string{"Identifier": revoked})
	ok("TagResources", caAPI, map[string]string{"ResourceType": "ALIYUN::CAS::PCACERTIFICATE", "ResourceId.1": sub, "ResourceId.2": leaf,
		"Tag.1.Key": "owner", "Tag.1.Value": "pki"})
	crlBefore := fetch(t, "http://"+addr+"/crl/"+sub+".crl")
	runCLI(t, bin, "--data-dir", dataDir, "accesskey", "create", "--account", "team-b")
	stop()

	from := filepath.Join(dataDir, dbFileName)
	src := openRaw(t, "sqlite3", from)
	tables := rawStrings(t, src, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' AND name <> 'schema_migrations' ORDER BY name`)
	srcCounts := rowCounts(t, src, tables)
	for _, tb := range []string{"accounts", "access_keys", "kms_certificates", "ca_certificates", "issued_certificates", "crls", "resource_tags", "audit_log", "audit_checkpoints"} {
		if srcCounts[tb] == 0 {
			t.Fatalf("the install left %s empty; the copy would prove nothing about it (%v)", tb, srcCounts)
		}
	}

	to := pgclustertest.Database(t, pgCluster)
	out := runCLI(t, bin, "--data-dir", dataDir, "store", "copy", "--from", from, "--to", to)
	var sum struct {
		From, To      string
		SchemaVersion int
		Tables        []struct {
			Table string
			Rows  int64
		}
		Rows  int64
		Audit struct {
			Verified               bool
			Records, LastSignedSeq int64
			UnsignedTail           int64
			Checkpoints            int
		}
	}
	t.Logf("store copy:\n%s", out)
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatalf("store copy prints no JSON summary: %v\n%s", err, out)
	}
	if sum.From != from || sum.To != to || sum.SchemaVersion != store.Migrations() || len(sum.Tables) != len(tables) {
		t.Fatalf("summary %+v, want %d tables from %s", sum, len(tables), from)
	}
	dst := openRaw(t, "pgx", to)
	dstCounts := rowCounts(t, dst, tables)
	var total int64
	pos := map[string]int{}
	for i, tb := range sum.Tables {
		pos[tb.Table] = i
		if tb.Rows != srcCounts[tb.Table] || dstCounts[tb.Table] != srcCounts[tb.Table] {
			t.Errorf("%s: summary %d rows, target %d, source %d", tb.Table, tb.Rows, dstCounts[tb.Table], srcCounts[tb.Table])
		}
		total += tb.Rows
	}
	if sum.Rows != total {
		t.Errorf("summary Rows %d, tables add up to %d", sum.Rows, total)
	}
	for _, pc := range [][2]string{{"accounts", "access_keys"}, {"accounts", "kms_certificates"}, {"ca_certificates", "issued_certificates"}, {"ca_certificates", "crls"}} {
		if pos[pc[0]] > pos[pc[1]] {
			t.Errorf("%s copied after %s: %v", pc[0], pc[1], sum.Tables)
		}
	}
	if !sum.Audit.Verified || sum.Audit.Records != srcCounts["audit_log"] || sum.Audit.Checkpoints == 0 || sum.Audit.UnsignedTail != 0 {
		t.Errorf("audit summary %+v, want all %d records verified up to a signed head", sum.Audit, srcCounts["audit_log"])
	}

	// Byte for byte: certificates, CSRs, wrapped and sealed blobs, the CRL,
	// and the audit chain's hashes.
	for _, q := range []struct {
		what, query string
		args        []any
	}{
		{"issued certificate DER", `SELECT certificate FROM issued_certificates WHERE identifier = ?`, []any{leaf}},
		{"wrapped leaf key", `SELECT key_blob FROM issued_certificates WHERE identifier = ?`, []any{leaf}},
		{"CA certificate DER", `SELECT certificate FROM ca_certificates WHERE identifier = ?`, []any{sub}},
		{"KMS CSR", `SELECT csr FROM kms_certificates WHERE id = ?`, []any{kmsID}},
		{"CRL head", `SELECT head FROM crl_documents WHERE ca_identifier = ?`, []any{sub}},
		{"CRL tail", `SELECT tail FROM crl_documents WHERE ca_identifier = ?`, []any{sub}},
		{"CRL entries", `SELECT der FROM crl_entries WHERE ca_identifier = ? AND seq = 1`, []any{sub}},
		{"audit hashes", `SELECT hash FROM audit_log WHERE seq = (SELECT MAX(seq) FROM audit_log)`, nil},
		{"checkpoint signature", `SELECT signature FROM audit_checkpoints WHERE seq = (SELECT MAX(seq) FROM audit_checkpoints)`, nil},
	} {
		a := rawBytes(t, src, q.query, q.args...)
		b := rawBytes(t, dst, strings.ReplaceAll(q.query, "?", "$1"), q.args...)
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Errorf("%s: source %d bytes, target %d bytes, equal %v", q.what, len(a), len(b), bytes.Equal(a, b))
		}
	}

	for _, id := range rawStrings(t, src, `SELECT id FROM access_keys`) {
		a, b := rawBytes(t, src, `SELECT secret_sealed FROM access_keys WHERE id = ?`, id), rawBytes(t, dst, `SELECT secret_sealed FROM access_keys WHERE id = $1`, id)
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Errorf("sealed secret of AccessKey %s: source %x, target %x", id, a, b)
		}
	}

	// The chain verifies on the target by the same check `audit verify`
	// runs, opened as a node opens it (no migrations: the schema is current).
	pub, err := readPublicKey(filepath.Join(dataDir, auditKeyFileName))
	if err != nil {
		t.Fatal(err)
	}
	target, err := store.OpenURL(context.Background(), to, store.WithoutMigrations())
	if err != nil {
		t.Fatal(err)
	}
	rep, err := certmgr.VerifyAuditLog(context.Background(), target, pub)
	target.Close()
	if err != nil || rep.Records != srcCounts["audit_log"] {
		t.Fatalf("audit on the target: %+v %v, want %d records", rep, err, srcCounts["audit_log"])
	}

	// A second copy into the filled target is refused and changes nothing.
	stdout, stderr, err := runCLIFail(bin, "--data-dir", dataDir, "store", "copy", "--from", from, "--to", to)
	if err == nil || !strings.Contains(stderr, "is not empty") || stdout != "" {
		t.Fatalf("second copy: %v, stdout %q, stderr %q; want a refusal naming the non-empty target", err, stdout, stderr)
	}
	if after := rowCounts(t, dst, tables); fmt.Sprint(after) != fmt.Sprint(dstCounts) {
		t.Fatalf("refused copy changed the target: %v, was %v", after, dstCounts)
	}

	// A source behind this binary is refused, the fresh target untouched.
	behind := copyFile(t, from)
	execRaw(t, "sqlite3", behind, `DELETE FROM schema_migrations WHERE version = (SELECT MAX(version) FROM schema_migrations)`)
	fresh := pgclustertest.Database(t, pgCluster)
	_, stderr, err = runCLIFail(bin, "--data-dir", dataDir, "store", "copy", "--from", behind, "--to", fresh)
	if err == nil || !strings.Contains(stderr, "behind this binary") || !strings.Contains(stderr, "certcustody migrate") {
		t.Fatalf("copy of a source behind: %v, %q", err, stderr)
	}
	if n := rawStrings(t, openRaw(t, "pgx", fresh), `SELECT tablename FROM pg_tables WHERE schemaname = current_schema()`); len(n) != 0 {
		t.Fatalf("the refused copy created tables %v", n)
	}

	// A source whose audit log was edited copies every row, fails the
	// check inside the transaction, and leaves no row behind.
	edited := copyFile(t, from)
	execRaw(t, "sqlite3", edited, `UPDATE audit_log SET resource = resource || '-edited' WHERE seq = 3`)
	_, stderr, err = runCLIFail(bin, "--data-dir", dataDir, "store", "copy", "--from", edited, "--to", fresh)
	if err == nil || !strings.Contains(stderr, "audit log does not verify on the target") || !strings.Contains(stderr, "record 3") {
		t.Fatalf("copy of an edited log: %v, %q", err, stderr)
	}
	for tb, n := range rowCounts(t, openRaw(t, "pgx", fresh), tables) {
		if n != 0 {
			t.Errorf("after the failed copy %s holds %d rows", tb, n)
		}
	}

	// serve on the same data directory (same token) with database.url at
	// the copy: what was created before the copy is there, and its keys work.
	addr = freeAddr(t)
	stop = startServeEnv(t, bin, dataDir, addr, "CERTCUSTODY_DATABASE_URL="+to)
	c = newAPIClient("http://"+addr, creds["AccessKeyId"], creds["AccessKeySecret"])
	d := ok("DescribeCertificate", kmsAPI, map[string]string{"CertificateId": kmsID})
	if d["Subject"] != "CN=before-copy,OU=ops,O=Example,C=CN" || d["Status"] != "PENDING" || fmt.Sprint(d["Tags"]) != "map[team:ops]" {
		t.Errorf("KMS certificate after the copy: %v", d)
	}
	cert := ok("DescribeClientCertificate", caAPI, map[string]string{"Identifier": leaf})["Certificate"].(map[string]any)
	blk, _ := pem.Decode([]byte(cert["X509Certificate"].(string)))
	if blk == nil || !bytes.Equal(blk.Bytes, rawBytes(t, src, `SELECT certificate FROM issued_certificates WHERE identifier = ?`, leaf)) {
		t.Errorf("issued certificate after the copy: %v", cert)
	}
	if st := ok("DescribeClientCertificateStatus", caAPI, map[string]string{"Identifier": revoked}); !strings.Contains(fmt.Sprint(st), "revoked") {
		t.Errorf("revoked certificate after the copy: %v", st)
	}
	if k := ok("DescribeCertificatePrivateKey", caAPI, map[string]string{"Identifier": leaf, "EncryptedCode": "after-the-copy"}); k["EncryptedData"] == "" {
		t.Errorf("the key wrapped before the copy does not unwrap: %v", k)
	}
	ok("CreateServerCertificate", caAPI, map[string]string{"ParentIdentifier": sub, "Algorithm": "ECC_256",
		"CommonName": "after.example.com", "Domain": "after.example.com", "Days": "30"})
	if crl := fetch(t, "http://"+addr+"/crl/"+sub+".crl"); !bytes.Equal(crl, crlBefore) {
		t.Errorf("the CRL saved before the copy is not the one served after it")
	}
	stop()
	// The copied (embedded) chain and the node's new one both verify; the
	// node's checkpoints name the copied chain's head.
	var verified struct {
		Verified bool
		Records  int64
		Chains   []struct {
			Chain   string
			Records int64
		}
	}
	out = runCLIEnv(t, bin, append(os.Environ(), "CERTCUSTODY_DATABASE_URL="+to), "--data-dir", dataDir, "audit", "verify")
	if err := json.Unmarshal([]byte(out), &verified); err != nil || !verified.Verified || len(verified.Chains) != 2 ||
		verified.Chains[0].Chain != "" || verified.Chains[0].Records != srcCounts["audit_log"] || verified.Records <= srcCounts["audit_log"] {
		t.Fatalf("audit verify on PostgreSQL after serving: %v\n%s", err, out)
	}
}

// startServeEnv is startServe with extra environment.
func startServeEnv(t *testing.T, bin, dataDir, addr string, env ...string) (stop func()) {
	t.Helper()
	cmd := exec.Command(bin, "--data-dir", dataDir, "serve", "--listen", addr)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	waitReadyOr(t, "http://"+addr, exited, &stderr)
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		_ = cmd.Process.Signal(syscall.SIGTERM)
		if err := <-exited; err != nil {
			t.Errorf("serve did not exit cleanly: %v\n%s", err, stderr.String())
		}
	}
	t.Cleanup(stop)
	return stop
}

// waitReadyOr waits for /readyz, failing at once with serve's stderr if
// serve exits first.
func waitReadyOr(t *testing.T, base string, exited chan error, stderr *bytes.Buffer) {
	t.Helper()
	for range 300 {
		select {
		case err := <-exited:
			t.Fatalf("serve exited before it was ready: %v\n%s", err, stderr.String())
		default:
		}
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("server never became ready\n%s", stderr.String())
}

// runCLIFail runs the binary expecting it may fail; it returns stdout,
// stderr and the exit error.
func runCLIFail(bin string, args ...string) (string, string, error) {
	cmd := exec.Command(bin, args...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

func openRaw(t *testing.T, driver, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func execRaw(t *testing.T, driver, dsn, q string) {
	t.Helper()
	db := openRaw(t, driver, dsn)
	if _, err := db.Exec(q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	db.Close()
}

func rawStrings(t *testing.T, db *sql.DB, q string) []string {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func rawBytes(t *testing.T, db *sql.DB, q string, args ...any) []byte {
	t.Helper()
	var b []byte
	if err := db.QueryRow(q, args...).Scan(&b); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return b
}

func rowCounts(t *testing.T, db *sql.DB, tables []string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, tb := range tables {
		var n int64
		if err := db.QueryRow(`SELECT COUNT(*) FROM "` + tb + `"`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		out[tb] = n
	}
	return out
}

// copyFile copies a stopped install's database file (no WAL left: the
// server checkpointed it on close) to a temp path.
func copyFile(t *testing.T, path string) string {
	t.Helper()
	if _, err := os.Stat(path + "-wal"); err == nil {
		if fi, _ := os.Stat(path + "-wal"); fi.Size() > 0 {
			t.Fatalf("%s-wal is not empty: the server did not close the database", path)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(out, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestStoreCopyRefusesBadArguments: without --to, with a --to that is not
// PostgreSQL, or without the pinned audit public key, store copy fails
// naming the fix and the target is not touched.
func TestStoreCopyRefusesBadArguments(t *testing.T) {
	dataDir := t.TempDir()
	fresh := pgclustertest.Database(t, pgCluster)
	sqliteTarget := filepath.Join(t.TempDir(), "target.db")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no target", []string{"store", "copy"}, `required flag(s) "to" not set`},
		{"SQLite target", []string{"store", "copy", "--public-key", writeTestPublicKey(t), "--to", sqliteTarget}, "not a PostgreSQL URL"},
		{"no public key", []string{"store", "copy", "--to", fresh}, "pass --public-key"},
		{"no source", []string{"store", "copy", "--public-key", writeTestPublicKey(t), "--to", fresh}, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := newRootCmd()
			root.SetArgs(append([]string{"--data-dir", dataDir}, tc.args...))
			root.SetOut(io.Discard)
			err := root.Execute()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v: %v, want an error saying %q", tc.args, err, tc.want)
			}
		})
	}
	if _, err := os.Stat(sqliteTarget); !os.IsNotExist(err) {
		t.Errorf("a refused SQLite target was created: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dataDir, dbFileName)); !os.IsNotExist(err) {
		t.Errorf("a refused copy created the source: %v", err)
	}
	if n := rawStrings(t, openRaw(t, "pgx", fresh), `SELECT tablename FROM pg_tables WHERE schemaname = current_schema()`); len(n) != 0 {
		t.Errorf("a refused copy created tables %v", n)
	}
}

// writeTestPublicKey writes a P-256 public key as audit verify reads it.
func writeTestPublicKey(t *testing.T) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "audit.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
