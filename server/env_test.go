package server

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certcustody/certcustody/certmgr"
	"github.com/certcustody/certcustody/certmgr/store"
	"github.com/certcustody/certcustody/keystore"
	"github.com/certcustody/certcustody/softhsm"
	"github.com/certcustody/certcustody/softhsm/softhsmtest"
)

var tokens *softhsm.Dir

func TestMain(m *testing.M) {
	d, cleanup := softhsmtest.Open("server")
	tokens = d
	// The SDKs honour proxy variables; every request here goes to 127.0.0.1.
	for _, v := range []string{"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"} {
		os.Unsetenv(v)
	}
	code := m.Run()
	cleanup()
	os.Exit(code)
}

// env is a whole certcustody stack on a token of its own, served on
// 127.0.0.1: keystore, SQLite, certmgr and this package's server.
type env struct {
	URL  string // http://127.0.0.1:port
	Host string // 127.0.0.1:port
	Keys *keystore.Store
	DB   *store.DB
	// DBPath is the SQLite file, for tests that reach past the store.
	DBPath string
	Mgr    *certmgr.Manager
	AK     *certmgr.NewAccessKey
	Logs   *lockedWriter
	// Handler is the server's handler, for tests that serve it on a
	// listener of their own (TLS).
	Handler http.Handler
}

// newEnv builds the stack; tests that do not test throttling get a limit
// high enough never to interfere.
func newEnv(t testing.TB, opts ...func(*Config)) *env {
	t.Helper()
	dbPath := filepath.Join(t.TempDir(), "certcustody.db")
	db, err := store.Open(context.Background(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := newEnvOn(t, db, opts...)
	e.DBPath = dbPath
	return e
}

// newEnvOn builds the stack on a store the caller opened (PostgreSQL for
// the benchmarks that need it).
func newEnvOn(t testing.TB, db *store.DB, opts ...func(*Config)) *env {
	t.Helper()
	ctx := context.Background()
	tok := softhsmtest.Token(t, tokens)
	keys, err := keystore.Open(ctx, keystore.Config{Module: tok.Module, TokenLabel: tok.Label, PIN: tok.PIN, AllowSoftwareSM2: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { keys.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mgr := certmgr.New(keys, db, certmgr.Config{Region: "cn-hangzhou", PublicURL: "http://" + ln.Addr().String()})
	ak, err := mgr.CreateAccessKey(ctx, "acme", "")
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedWriter{b: &strings.Builder{}}
	cfg := Config{
		KMS: mgr, PrivateCA: mgr, Principals: mgr, Nonces: mgr, Custody: "development", AllowV1: true, Region: "cn-hangzhou",
		Logger:       slog.New(slog.NewJSONHandler(logs, nil)),
		Ready:        func(ctx context.Context) error { return db.Ping(ctx) },
		Throttle:     &Throttle{Rate: 1e6, Burst: 1e6},
		TokenStats:   keys.Stats,
		GroupCommits: db.GroupStats,
		Auditor:      mgr,
		ClientTokens: mgr,
	}
	for _, o := range opts {
		o(&cfg)
	}
	srv := New(cfg)
	ts := httptest.NewUnstartedServer(srv.Handler())
	ts.Listener.Close()
	ts.Listener = ln
	ts.Start()
	t.Cleanup(ts.Close)
	return &env{URL: ts.URL, Host: ln.Addr().String(), Keys: keys, DB: db, Mgr: mgr, AK: ak, Logs: logs, Handler: srv.Handler()}
}

// counts returns the number of KMS rows and application keys in the
// token, to prove that a failed request left nothing behind.
func (e *env) counts(t testing.TB) (rows, keys int) {
	t.Helper()
	rows, err := e.DB.CountKMSCertificates(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	info, err := e.Keys.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rows, info.KeyCount
}
