package store

import (
	"context"
	"errors"
	"testing"
)

func TestCustomIdentifierTaken(t *testing.T) { eachBackend(t, testCustomIdentifierTaken) }

// testCustomIdentifierTaken: a second certificate with an account's
// CustomIdentifier is ErrCustomIdentifierTaken (not a serial conflict),
// through a transaction and through a group commit whose write is alone in
// its batch (no savepoint there: on PostgreSQL the failed INSERT aborts the
// transaction, so the answer cannot come from a query after it), and the
// failed insert leaves nothing.
func testCustomIdentifierTaken(t *testing.T) {
	ctx := context.Background()
	db, err := OpenURL(ctx, testURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	f := newPagesFixture(t, db, "acc-a")
	first := f.issuedRow("acc-a")
	first.CustomIdentifier = "orders-7"
	if err := db.Tx(ctx, func(tx *Tx) error { return tx.InsertIssuedCertificate(ctx, first) }); err != nil {
		t.Fatal(err)
	}
	for name, run := range map[string]func(func(*Tx) error) error{
		"tx":    func(fn func(*Tx) error) error { return db.Tx(ctx, fn) },
		"group": func(fn func(*Tx) error) error { return db.Group(ctx, fn) },
	} {
		again := f.issuedRow("acc-a")
		again.CustomIdentifier = "orders-7"
		err := run(func(tx *Tx) error { return tx.InsertIssuedCertificate(ctx, again) })
		if !errors.Is(err, ErrCustomIdentifierTaken) {
			t.Errorf("%s: second certificate with the same CustomIdentifier: %v, want ErrCustomIdentifierTaken", name, err)
		}
		if _, err := db.GetIssuedCertificate(ctx, "acc-a", again.Identifier); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: the refused certificate was stored (%v)", name, err)
		}
	}
	// A serial conflict stays a plain conflict.
	dup := f.issuedRow("acc-a")
	dup.Serial = first.Serial
	err = db.Tx(ctx, func(tx *Tx) error { return tx.InsertIssuedCertificate(ctx, dup) })
	if !errors.Is(err, ErrConflict) || errors.Is(err, ErrCustomIdentifierTaken) {
		t.Errorf("a repeated serial: %v, want ErrConflict only", err)
	}
}
