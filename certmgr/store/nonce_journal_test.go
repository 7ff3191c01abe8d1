package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// nonceJournal is journalCtx for a call, requestID, that claims a
// signature nonce.
func nonceJournal(now time.Time, requestID, nonce string) (context.Context, *Journal) {
	ctx, j := journalCtx(now)
	j.base.RequestID = requestID
	j.SetNonce("AK1", nonce, nonceUntil(now))
	j.SetCall("acct", "AK1", "2016-01-20/DescribeCertificate", "acs:kms:*:acct:certificate/*")
	return ctx, j
}

// nonceUntil is the expiry the journals of these tests claim nonces with,
// as the server does for a request signed at now.
func nonceUntil(now time.Time) time.Time { return now.Add(15 * time.Minute) }

// A journal's nonce commits with the call's first record: a call that
// changes nothing records it in its one Flush; a changing call in its
// change's transaction. A second call with the nonce loses at that commit
// with ErrNonceUsed, its change rolls back, and its refusal is still
// recorded, by a Flush that does not try the nonce again.
func TestJournalNonceCommitsWithTheFirstRecord(t *testing.T) {
	eachBackend(t, testJournalNonceCommitsWithTheFirstRecord)
}

func testJournalNonceCommitsWithTheFirstRecord(t *testing.T) {
	for name, run := range map[string]func(db *DB, ctx context.Context, fn func(*Tx) error) error{
		"Tx":    (*DB).Tx,
		"Group": (*DB).Group,
	} {
		t.Run(name, func(t *testing.T) {
			db := openTest(t)
			now := time.Now().UTC().Truncate(time.Millisecond)

			// A read-only call: nothing but its Flush commits.
			ctx, j := nonceJournal(now, "read-1", "n-read")
			if used, err := db.NonceUsed(ctx, "AK1", "n-read", nonceUntil(now)); err != nil || used {
				t.Fatalf("fresh nonce reported used=%v err=%v", used, err)
			}
			if err := db.Flush(ctx, j, "OK"); err != nil {
				t.Fatal(err)
			}
			if used, err := db.NonceUsed(ctx, "AK1", "n-read", nonceUntil(now)); err != nil || !used {
				t.Fatalf("nonce not recorded with the call's record: used=%v err=%v", used, err)
			}
			ctx, j = nonceJournal(now, "read-2", "n-read")
			if err := db.Flush(ctx, j, "OK"); !errors.Is(err, ErrNonceUsed) {
				t.Fatalf("second call with the nonce: %v, want ErrNonceUsed", err)
			}
			if err := db.Flush(ctx, j, "SignatureNonceUsed"); err != nil {
				t.Fatalf("recording the refusal: %v", err)
			}

			// A changing call: the nonce goes with its change.
			ctx, j = nonceJournal(now, "write-1", "n-write")
			insert := func(id string) func(tx *Tx) error {
				return func(tx *Tx) error { return tx.InsertAccount(ctx, &Account{ID: id, Name: id, CreatedAt: now}) }
			}
			if err := run(db, ctx, insert("a")); err != nil {
				t.Fatal(err)
			}
			if used, _ := db.NonceUsed(ctx, "AK1", "n-write", nonceUntil(now)); !used {
				t.Fatal("nonce did not commit with the change")
			}
			if err := db.Flush(ctx, j, "OK"); err != nil {
				t.Fatal(err)
			}
			ctx, j = nonceJournal(now, "write-2", "n-write")
			if err := run(db, ctx, insert("b")); !errors.Is(err, ErrNonceUsed) {
				t.Fatalf("replayed change: %v, want ErrNonceUsed", err)
			}
			if _, err := db.AccountByName(ctx, "b"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("the replay's change committed: %v", err)
			}
			if err := db.Flush(ctx, j, "SignatureNonceUsed"); err != nil {
				t.Fatalf("recording the replay's refusal: %v", err)
			}

			got := map[string]string{}
			for _, r := range auditRows(t, db) {
				got[r.RequestID] += r.Code + " "
			}
			want := map[string]string{"read-1": "OK ", "read-2": "SignatureNonceUsed ", "write-1": "OK ", "write-2": "SignatureNonceUsed "}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("audit records by request: %v, want %v", got, want)
			}
			var n int
			if err := db.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM nonces`).Scan(&n); err != nil || n != 2 {
				t.Fatalf("nonce rows: %d (%v), want 2", n, err)
			}
		})
	}
}

// A failure other than a taken nonce leaves the nonce pending: the next
// commit of the call records it, so a call whose change failed still
// spends its nonce.
func TestJournalNonceSurvivesAFailedCommit(t *testing.T) {
	eachBackend(t, testJournalNonceSurvivesAFailedCommit)
}

func testJournalNonceSurvivesAFailedCommit(t *testing.T) {
	db := openTest(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	ctx, j := nonceJournal(now, "req", "n-1")
	lift := refuseAudit(t, db)
	if err := db.Flush(ctx, j, "OK"); err == nil {
		t.Fatal("flush succeeded while the log refused records")
	}
	if used, _ := db.NonceUsed(ctx, "AK1", "n-1", nonceUntil(now)); used {
		t.Fatal("nonce committed without the call's record")
	}
	lift()
	if err := db.Flush(ctx, j, "InternalError"); err != nil {
		t.Fatal(err)
	}
	if used, _ := db.NonceUsed(ctx, "AK1", "n-1", nonceUntil(now)); !used {
		t.Fatal("nonce lost after a failed commit")
	}
}

// Calls racing with one nonce, each having checked it unused: exactly one
// commits, on both the plain and the grouped path.
func TestJournalNonceRaceHasOneWinner(t *testing.T) { eachBackend(t, testJournalNonceRaceHasOneWinner) }

func testJournalNonceRaceHasOneWinner(t *testing.T) {
	db := openTest(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, j := nonceJournal(now, fmt.Sprint("req-", i), "n-race")
			if i%2 == 0 {
				errs[i] = db.Flush(ctx, j, "OK")
				return
			}
			errs[i] = db.Tx(ctx, func(tx *Tx) error {
				id := fmt.Sprint("acct-", i)
				return tx.InsertAccount(ctx, &Account{ID: id, Name: id, CreatedAt: now})
			})
		}()
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, ErrNonceUsed):
			t.Errorf("call %d: %v, want nil or ErrNonceUsed", i, err)
		}
	}
	if won != 1 {
		t.Fatalf("%d calls committed with one nonce, want 1", won)
	}
	var accounts int
	if err := db.db.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM accounts WHERE id LIKE 'acct-%'`).Scan(&accounts); err != nil {
		t.Fatal(err)
	}
	if accounts > won {
		t.Fatalf("%d changes committed for %d winning calls", accounts, won)
	}
}

// TestAccessKeyAndNonceReadTogether: the key lookup's one statement
// answers the key and whether the nonce is used: used, the same nonce
// under another expiry (a new signed timestamp), unused, used by another
// key; an unknown key is ErrNotFound.
func TestAccessKeyAndNonceReadTogether(t *testing.T) {
	eachBackend(t, testAccessKeyAndNonceReadTogether)
}

func testAccessKeyAndNonceReadTogether(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	if err := db.Tx(ctx, func(tx *Tx) error {
		if err := tx.InsertAccount(ctx, &Account{ID: "a1", Name: "a1", CreatedAt: now}); err != nil {
			return err
		}
		for _, id := range []string{"AK1", "AK2"} {
			if err := tx.InsertAccessKey(ctx, &AccessKey{ID: id, AccountID: "a1", SecretSealed: []byte("sealed-" + id), Status: "Active", CreatedAt: now}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	until := now.Add(time.Minute)
	if fresh, err := db.UseNonce(ctx, "AK1", "n-live", until, now); err != nil || !fresh {
		t.Fatalf("record n-live: %v %v", fresh, err)
	}
	for _, c := range []struct {
		key, nonce string
		until      time.Time
		used       bool
	}{
		{"AK1", "n-live", until, true},
		{"AK1", "n-live", until.Add(time.Second), false}, // the nonce under a new signed timestamp
		{"AK1", "n-new", until, false},
		{"AK2", "n-live", until, false},
	} {
		k, used, err := db.AccessKeyAndNonce(ctx, c.key, c.nonce, c.until)
		if err != nil {
			t.Fatalf("%s %s: %v", c.key, c.nonce, err)
		}
		if k.ID != c.key || k.AccountID != "a1" || string(k.SecretSealed) != "sealed-"+c.key || used != c.used {
			t.Fatalf("%s %s %v: key %s/%s used=%v, want used=%v", c.key, c.nonce, c.until, k.ID, k.AccountID, used, c.used)
		}
	}
	if _, _, err := db.AccessKeyAndNonce(ctx, "AK-missing", "n-live", until); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown key: %v, want ErrNotFound", err)
	}
}
