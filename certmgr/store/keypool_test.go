package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// openNodes opens the test's database twice, as two nodes of a cluster
// would (on PostgreSQL each with its own audit chain, so their write
// transactions do not take turns on one chain's lock).
func openNodes(t *testing.T) (*DB, *DB) {
	t.Helper()
	url := testURL(t)
	var out [2]*DB
	for i := range out {
		var opts []Option
		if backendOf(t) == "postgres" {
			opts = append(opts, WithAuditChain(fmt.Sprintf("node-%d", i)))
		}
		db, err := OpenURL(context.Background(), url, opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		out[i] = db
	}
	return out[0], out[1]
}

func poolKey(id string, at time.Time) *PoolKey {
	return &PoolKey{KeyID: id, Algorithm: "EC_P256", Exportable: true, ProtectionLevel: "HSM", CreatedAt: at}
}

func insertPoolKey(t *testing.T, db *DB, k *PoolKey, size int) bool {
	t.Helper()
	var added bool
	err := db.Tx(context.Background(), func(tx *Tx) (err error) {
		added, err = tx.InsertPoolKey(context.Background(), k, size)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return added
}

// TestPoolKeyRoundTrip: a pool holds at most its size, keeps its kinds
// apart, lists oldest first, and a key is claimed once; a claim rolled
// back leaves the key in the pool.
func TestPoolKeyRoundTrip(t *testing.T) { eachBackend(t, testPoolKeyRoundTrip) }

func testPoolKeyRoundTrip(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	t0 := time.Now().UTC().Truncate(time.Millisecond)
	for i, id := range []string{"kms-b", "kms-a", "kms-c"} {
		added := insertPoolKey(t, db, poolKey(id, t0.Add(time.Duration(i)*time.Second)), 2)
		if added != (i < 2) {
			t.Fatalf("insert %s into a pool of 2 holding %d: added %v", id, i, added)
		}
	}
	other := poolKey("kms-n", t0)
	other.Exportable = false
	if !insertPoolKey(t, db, other, 1) {
		t.Fatal("the non-exportable pool counted the exportable keys")
	}
	got, err := db.PoolKeys(ctx, "EC_P256", true, 10)
	if err != nil || len(got) != 2 || got[0].KeyID != "kms-b" || got[1].KeyID != "kms-a" || !got[0].CreatedAt.Equal(t0) || !got[0].Exportable || got[0].ProtectionLevel != "HSM" {
		t.Fatalf("pool: %+v %v", got, err)
	}
	if n, err := db.CountPoolKeys(ctx, "EC_P256", false); err != nil || n != 1 {
		t.Fatalf("non-exportable pool: %d %v", n, err)
	}
	boom := errors.New("the certificate row failed")
	err = db.Tx(ctx, func(tx *Tx) error {
		if err := tx.ClaimPoolKey(ctx, "kms-b"); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if n, _ := db.CountPoolKeys(ctx, "EC_P256", true); n != 2 {
		t.Fatalf("a rolled-back claim took the key: %d left", n)
	}
	claim := func(id string) error {
		return db.Tx(ctx, func(tx *Tx) error { return tx.ClaimPoolKey(ctx, id) })
	}
	if err := claim("kms-b"); err != nil {
		t.Fatal(err)
	}
	if err := claim("kms-b"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second claim of one key: %v, want ErrNotFound", err)
	}
	all, err := db.AllPoolKeys(ctx)
	if err != nil || len(all) != 2 {
		t.Fatalf("all pool keys: %+v %v", all, err)
	}
}

// TestKeyRefsNamePoolKeys: the orphan sweep's reference list names an
// unclaimed pool key, and a key that a certificate row also names is the
// certificate's.
func TestKeyRefsNamePoolKeys(t *testing.T) { eachBackend(t, testKeyRefsNamePoolKeys) }

func testKeyRefsNamePoolKeys(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	now := time.Now().UTC()
	insertPoolKey(t, db, poolKey("kms-pooled", now), 5)
	insertPoolKey(t, db, poolKey("kms-both", now), 5)
	err := db.Tx(ctx, func(tx *Tx) error {
		if err := tx.InsertAccount(ctx, &Account{ID: "a", Name: "a", CreatedAt: now}); err != nil {
			return err
		}
		return tx.InsertKMSCertificate(ctx, &KMSCertificate{ID: "c", AccountID: "a", KeyID: "kms-both", KeySpec: "EC_P256", ProtectionLevel: "HSM",
			Subject: "CN=x", Status: "PENDING", CSR: []byte{1}, CreatedAt: now, UpdatedAt: now})
	})
	if err != nil {
		t.Fatal(err)
	}
	refs, err := db.KeyRefs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r := refs["kms-pooled"]; r.Kind != KeyRefKeyPool || r.ID != "EC_P256/exportable" || r.AccountID != "" {
		t.Errorf("pool key ref %+v", r)
	}
	if r := refs["kms-both"]; r.Kind != KeyRefKMSCertificate || r.ID != "c" {
		t.Errorf("key named by a certificate and a pool row: %+v", r)
	}
	// Such a pool row is never claimed; the sweep deletes it.
	if err := db.Tx(ctx, func(tx *Tx) error { return tx.ClaimPoolKey(ctx, "kms-both") }); !errors.Is(err, ErrConflict) {
		t.Fatalf("claim of a key a certificate row names: %v, want ErrConflict", err)
	}
	if err := db.Tx(ctx, func(tx *Tx) error { return tx.DeletePoolKey(ctx, "kms-both") }); err != nil {
		t.Fatal(err)
	}
	if err := db.Tx(ctx, func(tx *Tx) error { return tx.DeletePoolKey(ctx, "kms-both") }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v, want ErrNotFound", err)
	}
}

// TestPoolClaimsAcrossNodes: two nodes, each with eight concurrent
// claimers, race for twenty keys: every key is claimed exactly once.
func TestPoolClaimsAcrossNodes(t *testing.T) { eachBackend(t, testPoolClaimsAcrossNodes) }

func testPoolClaimsAcrossNodes(t *testing.T) {
	a, b := openNodes(t)
	ctx := context.Background()
	const keys = 20
	for i := range keys {
		insertPoolKey(t, a, poolKey(fmt.Sprintf("kms-%02d", i), time.Now()), keys)
	}
	var mu sync.Mutex
	claims := map[string]int{}
	var wg sync.WaitGroup
	for _, db := range []*DB{a, b} {
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					// Every claimer goes for the oldest key, so they collide.
					cands, err := db.PoolKeys(ctx, "EC_P256", true, 1)
					if err != nil {
						t.Error(err)
						return
					}
					if len(cands) == 0 {
						return
					}
					id := cands[0].KeyID
					err = db.Group(ctx, func(tx *Tx) error { return tx.ClaimPoolKey(ctx, id) })
					switch {
					case err == nil:
						mu.Lock()
						claims[id]++
						mu.Unlock()
					case !errors.Is(err, ErrNotFound):
						t.Error(err)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	if len(claims) != keys {
		t.Fatalf("%d keys claimed, want %d", len(claims), keys)
	}
	for id, n := range claims {
		if n != 1 {
			t.Errorf("%s claimed %d times", id, n)
		}
	}
}

// TestPoolRefillNeverOverfills: two nodes insert twenty keys at once into
// a pool of five; it ends with five.
func TestPoolRefillNeverOverfills(t *testing.T) { eachBackend(t, testPoolRefillNeverOverfills) }

func testPoolRefillNeverOverfills(t *testing.T) {
	a, b := openNodes(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	added := 0
	for n, db := range []*DB{a, b} {
		for i := range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var ok bool
				err := db.Tx(ctx, func(tx *Tx) (err error) {
					ok, err = tx.InsertPoolKey(ctx, poolKey(fmt.Sprintf("kms-%d-%d", n, i), time.Now()), 5)
					return err
				})
				if err != nil {
					t.Error(err)
				}
				if ok {
					mu.Lock()
					added++
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	if n, err := a.CountPoolKeys(ctx, "EC_P256", true); err != nil || n != 5 || added != 5 {
		t.Fatalf("pool of 5 holds %d (%v), %d inserts reported", n, err, added)
	}
}

// TestPoolClaimSkipsALockedRow (PostgreSQL): a claim does not wait for a
// key another node's transaction is claiming; it finds nothing and moves
// on, and the key is claimable again once that transaction rolls back.
func TestPoolClaimSkipsALockedRow(t *testing.T) {
	t.Run("postgres", func(t *testing.T) {
		a, b := openNodes(t)
		ctx := context.Background()
		insertPoolKey(t, a, poolKey("kms-x", time.Now()), 1)
		boom := errors.New("abandoned")
		err := a.Tx(ctx, func(tx *Tx) error {
			if err := tx.ClaimPoolKey(ctx, "kms-x"); err != nil {
				return err
			}
			// Node b, while node a's claim is in flight.
			if err := b.Tx(ctx, func(tx *Tx) error { return tx.ClaimPoolKey(ctx, "kms-x") }); !errors.Is(err, ErrNotFound) {
				t.Errorf("claim of a row another claim holds: %v, want ErrNotFound at once", err)
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatal(err)
		}
		if err := b.Tx(ctx, func(tx *Tx) error { return tx.ClaimPoolKey(ctx, "kms-x") }); err != nil {
			t.Fatalf("claim after the other rolled back: %v", err)
		}
	})
}
