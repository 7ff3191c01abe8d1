package certmgr

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"testing"

	"github.com/certcustody/certcustody/certmgr/store"
	"github.com/certcustody/certcustody/keystore"
)

// refuseAuditAt makes every audit append in the database at path fail, as
// a full disk or a broken log would: the transaction that carries the
// record fails at its commit, after its own statements ran. The returned
// func lifts it.
func refuseAuditAt(t *testing.T, path string) func() {
	t.Helper()
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	if _, err := raw.Exec(`CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'audit refused'); END`); err != nil {
		t.Fatal(err)
	}
	return func() {
		if _, err := raw.Exec(`DROP TRIGGER refuse_audit`); err != nil {
			t.Fatal(err)
		}
	}
}

// auditedCall is ctx carrying the journal of an API call by c, so that
// its changes carry a record, as through the server.
func auditedCall(m *Manager, c Caller, action string) (context.Context, *Journal) {
	ctx, j := m.StartAudit(context.Background(), "test-"+action, "127.0.0.1")
	j.SetCaller(c, action, "*")
	return ctx, j
}

func tokenHas(t *testing.T, m *Manager, keyID string) bool {
	t.Helper()
	ok, err := m.keys.(*keystore.Store).Exists(context.Background(), keyID)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func newKMSCertificate(t *testing.T, m *Manager, c Caller) (id, keyID string) {
	t.Helper()
	res, err := m.CreateCertificate(context.Background(), c, CreateCertificateRequest{KeySpec: "EC_P256", Subject: "CN=del,OU=ou,O=o,C=CN"})
	if err != nil {
		t.Fatal(err)
	}
	row, err := m.sqlStore().GetKMSCertificate(context.Background(), c.AccountID, res.CertificateID)
	if err != nil {
		t.Fatal(err)
	}
	return res.CertificateID, row.KeyID
}

// TestDeleteCertificateSurvivesAFailedCommit: the deletion's transaction
// fails at its commit. The row and its key must both survive (a row whose
// key is gone could never be deleted), and once the database accepts
// writes again a second delete removes both.
func TestDeleteCertificateSurvivesAFailedCommit(t *testing.T) {
	m, c, path := newManagerAt(t)
	id, keyID := newKMSCertificate(t, m, c)

	ctx, j := auditedCall(m, c, "2016-01-20/DeleteCertificate")
	lift := refuseAuditAt(t, path)
	if err := m.DeleteCertificate(ctx, c, id); err == nil {
		t.Fatal("delete succeeded while its transaction could not commit")
	}
	_, rowErr := m.sqlStore().GetKMSCertificate(context.Background(), c.AccountID, id)
	if rowErr != nil || !tokenHas(t, m, keyID) {
		t.Fatalf("after a failed commit: row lookup %v, key in token %v; want both to survive", rowErr, tokenHas(t, m, keyID))
	}

	lift()
	if err := m.DeleteCertificate(ctx, c, id); err != nil {
		t.Fatalf("delete once the database accepts writes: %v", err)
	}
	if _, err := j.Finish(ctx, "OK"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.sqlStore().GetKMSCertificate(context.Background(), c.AccountID, id); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("row after delete: %v", err)
	}
	if tokenHas(t, m, keyID) {
		t.Fatal("the deleted certificate's key is still in the token")
	}
}

// TestDeleteCertificateWhoseKeyIsGone: a key already missing (destroyed
// by a delete that crashed after destroying it, or by hand) does not make
// the row undeletable.
func TestDeleteCertificateWhoseKeyIsGone(t *testing.T) {
	m, c := newManager(t)
	id, keyID := newKMSCertificate(t, m, c)
	if err := m.keys.Destroy(context.Background(), keyID); err != nil {
		t.Fatal(err)
	}
	if err := m.DeleteCertificate(context.Background(), c, id); err != nil {
		t.Fatalf("delete of a row whose key is already gone: %v", err)
	}
	if _, err := m.sqlStore().GetKMSCertificate(context.Background(), c.AccountID, id); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("row after delete: %v", err)
	}
	if err := m.DeleteCertificate(context.Background(), c, id); !errors.Is(err, &Error{Code: "Forbidden.ResourceNotFound"}) {
		t.Fatalf("second delete: %v, want Forbidden.ResourceNotFound", err)
	}
}

// generatedKeys records the IDs of the token keys generated from now on.
func generatedKeys(m *Manager) func() []string {
	var mu sync.Mutex
	var ids []string
	m.keys.Observe(func(_ context.Context, u keystore.KeyUse) {
		if u.Op == keystore.OpGenerate && u.Err == nil {
			mu.Lock()
			ids = append(ids, u.KeyID)
			mu.Unlock()
		}
	})
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), ids...)
	}
}

// TestCreateCAUndoesOnlyWhatDidNotCommit: a root or sub CA whose row
// cannot commit leaves no row and no key; a CA whose row committed keeps
// its key.
func TestCreateCAUndoesOnlyWhatDidNotCommit(t *testing.T) {
	m, c, path := newManagerAt(t)
	keys := generatedKeys(m)
	base := CreateCARequest{CommonName: "Undo Root", Organization: "o", OrganizationUnit: "ou", Locality: "l", State: "s", CountryCode: "CN", Algorithm: "ECC_256", Years: 5}
	root, err := m.CreateRootCACertificate(context.Background(), c, base)
	if err != nil {
		t.Fatal(err)
	}
	sub := base
	sub.CommonName, sub.ParentIdentifier, sub.Years = "Undo Sub", root.Identifier, 2

	lift := refuseAuditAt(t, path)
	for name, create := range map[string]func(context.Context) error{
		"root": func(ctx context.Context) error { _, err := m.CreateRootCACertificate(ctx, c, base); return err },
		"sub":  func(ctx context.Context) error { _, err := m.CreateSubCACertificate(ctx, c, sub); return err },
	} {
		ctx, _ := auditedCall(m, c, "2020-06-30/Create"+name)
		if err := create(ctx); err == nil {
			t.Fatalf("%s CA created while its row could not commit", name)
		}
	}
	lift()
	cas, _, err := m.sqlStore().CountIssued(context.Background())
	if err != nil || cas != 1 {
		t.Fatalf("%d CA rows (%v), want only the first root", cas, err)
	}
	ids := keys()
	if len(ids) != 3 {
		t.Fatalf("generated keys %v, want the root's and two refused CAs'", ids)
	}
	if !tokenHas(t, m, ids[0]) {
		t.Fatal("the committed root lost its key")
	}
	for _, id := range ids[1:] {
		if tokenHas(t, m, id) {
			t.Fatalf("the key %s of a CA whose row did not commit is left in the token", id)
		}
	}
}
