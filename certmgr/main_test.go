package certmgr

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/certcustody/certcustody/certmgr/store"
	"github.com/certcustody/certcustody/keystore"
	"github.com/certcustody/certcustody/softhsm"
	"github.com/certcustody/certcustody/softhsm/softhsmtest"
)

var tokens *softhsm.Dir

func TestMain(m *testing.M) {
	d, cleanup := softhsmtest.Open("certmgr")
	tokens = d
	code := m.Run()
	cleanup()
	os.Exit(code)
}

// newManager is a Manager on a token and database of its own, with one
// account; most behaviour is tested end to end in package server.
func newManager(t testing.TB) (*Manager, Caller) {
	m, c, _ := newManagerAt(t)
	return m, c
}

// newManagerAt also returns the database path, for tests that tamper with it.
func newManagerAt(t testing.TB) (*Manager, Caller, string) {
	t.Helper()
	m, c, path, _ := newManagerWith(t, Config{Region: "cn-hangzhou", PublicURL: "http://127.0.0.1:8080"})
	return m, c, path
}

// newManagerWith is a Manager with cfg, also returning its database path
// and token (for tests that look at the token with outside tools).
func newManagerWith(t testing.TB, cfg Config) (*Manager, Caller, string, *softhsm.Token) {
	t.Helper()
	ctx := context.Background()
	tok := softhsmtest.Token(t, tokens)
	keys, err := keystore.Open(ctx, keystore.Config{Module: tok.Module, TokenLabel: tok.Label, PIN: tok.PIN, AllowSoftwareSM2: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { keys.Close() })
	path := filepath.Join(t.TempDir(), "cm.db")
	db, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	m := New(keys, db, cfg)
	ak, err := m.CreateAccessKey(ctx, "acme", "")
	if err != nil {
		t.Fatal(err)
	}
	return m, Caller{AccountID: ak.AccountID, AccessKeyID: ak.AccessKeyID}, path, tok
}

// sqlStore is the Manager's store as the concrete type tests open, for
// the inspection and set-up methods certmgr itself never calls.
func (m *Manager) sqlStore() *store.DB { return m.db.(*store.DB) }
