package certmgr

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certcustody/certcustody/certmgr/store"
	"github.com/certcustody/certcustody/keystore"
	"github.com/certcustody/certcustody/softhsm"
	"github.com/certcustody/certcustody/softhsm/softhsmtest"
	"github.com/google/uuid"
	"github.com/miekg/pkcs11"
)

var (
	ecExportable    = PoolSpec{KeySpec: "EC_P256", Exportable: true}
	ecNonExportable = PoolSpec{KeySpec: "EC_P256", Exportable: false}
)

// poolFixture is a Manager with key pools on a token and SQLite database
// of its own, and what a test needs to start a second Manager on them (a
// restart, or a second node).
type poolFixture struct {
	m    *Manager
	c    Caller
	path string
	tok  *softhsm.Token
	cfg  Config
}

func newPoolFixture(t *testing.T, cfg Config) *poolFixture {
	t.Helper()
	m, c, path, tok := newManagerWith(t, cfg)
	return &poolFixture{m: m, c: c, path: path, tok: tok, cfg: cfg}
}

// another is a second Manager on the fixture's database and token: the
// process after a restart, or another node.
func (f *poolFixture) another(t *testing.T) *Manager {
	t.Helper()
	ctx := context.Background()
	keys, err := keystore.Open(ctx, keystore.Config{Module: f.tok.Module, TokenLabel: f.tok.Label, PIN: f.tok.PIN, AllowSoftwareSM2: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { keys.Close() })
	db, err := store.Open(ctx, f.path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return New(keys, db, f.cfg)
}

func poolKeyIDs(t *testing.T, m *Manager, spec PoolSpec) []string {
	t.Helper()
	keys, err := m.sqlStore().PoolKeys(context.Background(), string(kmsKeySpecs[spec.KeySpec]), spec.Exportable, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range keys {
		out = append(out, k.KeyID)
	}
	return out
}

func refill(t *testing.T, m *Manager, want int) {
	t.Helper()
	if n, err := m.RefillKeyPool(context.Background()); err != nil || n != want {
		t.Fatalf("refill: %d keys, %v; want %d", n, err, want)
	}
}

// createKMS creates a KMS certificate and returns its row.
func createKMS(t *testing.T, ctx context.Context, m *Manager, c Caller, spec PoolSpec) *store.KMSCertificate {
	t.Helper()
	res, err := m.CreateCertificate(ctx, c, CreateCertificateRequest{KeySpec: spec.KeySpec, Subject: "CN=pool,OU=o,O=E,C=CN", ExportablePrivateKey: &spec.Exportable})
	if err != nil {
		t.Fatal(err)
	}
	row, err := m.sqlStore().GetKMSCertificate(context.Background(), c.AccountID, res.CertificateID)
	if err != nil {
		t.Fatal(err)
	}
	return row
}

// TestKeyPoolClaimsEachKeyOnce: sixteen concurrent CreateCertificate calls
// on two Managers of one database and token (two nodes) against a pool of
// four: every call gets a key of its own, each pool key goes to exactly
// one certificate, and the rest are generated on demand.
func TestKeyPoolClaimsEachKeyOnce(t *testing.T) {
	f := newPoolFixture(t, Config{KeyPool: map[PoolSpec]int{ecNonExportable: 4}})
	refill(t, f.m, 4)
	pooled := poolKeyIDs(t, f.m, ecNonExportable)
	nodes := []*Manager{f.m, f.another(t)}
	var mu sync.Mutex
	var rows []*store.KMSCertificate
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			row := createKMS(t, context.Background(), nodes[i%2], f.c, ecNonExportable)
			mu.Lock()
			rows = append(rows, row)
			mu.Unlock()
		}()
	}
	wg.Wait()
	seen := map[string]int{}
	for _, r := range rows {
		seen[r.KeyID]++
		if r.Exportable {
			t.Errorf("%s: exportable row from a non-exportable request", r.ID)
		}
	}
	if len(seen) != 16 {
		t.Fatalf("%d distinct keys for 16 certificates", len(seen))
	}
	for _, id := range pooled {
		if seen[id] != 1 {
			t.Errorf("pool key %s used by %d certificates, want 1", id, seen[id])
		}
	}
	if left := poolKeyIDs(t, f.m, ecNonExportable); len(left) != 0 {
		t.Errorf("pool keys left unclaimed: %v", left)
	}
	var claimed, onDemand uint64
	for _, n := range nodes {
		claimed += n.KeyPoolStats().Claimed
		onDemand += n.KeyPoolStats().OnDemand
	}
	if claimed != 4 || onDemand != 12 {
		t.Errorf("claimed %d, generated on demand %d; want 4 and 12", claimed, onDemand)
	}
}

// TestPooledKeyCustody: a pooled RSA key is what CreateCertificate would
// have generated: the same custody attributes, read live from the token,
// as a key generated on demand; a non-exportable pooled key is refused by
// our export and by the token's own C_WrapKey, and an exportable one
// exports.
func TestPooledKeyCustody(t *testing.T) {
	rsaNon, rsaExp := PoolSpec{KeySpec: "RSA_2048"}, PoolSpec{KeySpec: "RSA_2048", Exportable: true}
	f := newPoolFixture(t, Config{KeyPool: map[PoolSpec]int{rsaNon: 1, rsaExp: 1}})
	refill(t, f.m, 2)
	ctx := context.Background()
	for _, spec := range []PoolSpec{rsaNon, rsaExp} {
		pooledID := poolKeyIDs(t, f.m, spec)[0]
		pooled := createKMS(t, ctx, f.m, f.c, spec)
		fresh := createKMS(t, ctx, f.m, f.c, spec) // the pool is empty now
		if pooled.KeyID != pooledID || fresh.KeyID != "kms-"+fresh.ID {
			t.Fatalf("%s: pooled row key %s (pool had %s), fresh row key %s", spec, pooled.KeyID, pooledID, fresh.KeyID)
		}
		if pooled.KeyID == "kms-"+pooled.ID || pooled.ProtectionLevel != "HSM" || pooled.Exportable != spec.Exportable {
			t.Errorf("%s: pooled row %+v", spec, pooled)
		}
		a, b := custodyOf(t, f.m, pooled.KeyID), custodyOf(t, f.m, fresh.KeyID)
		if a.Label == "" || a.CreatedAt == nil {
			t.Errorf("%s: pooled key label %q, created %v", spec, a.Label, a.CreatedAt)
		}
		a.KeyID, a.Label, a.URI, a.CreatedAt = "", "", "", nil
		b.KeyID, b.Label, b.URI, b.CreatedAt = "", "", "", nil
		if fmt.Sprintf("%+v", *a) != fmt.Sprintf("%+v", *b) {
			t.Errorf("%s: pooled key custody\n %+v\nfresh key custody\n %+v", spec, *a, *b)
		}
		if a.Extractable != spec.Exportable || a.NeverExtractable == spec.Exportable || !a.Sensitive || !a.AlwaysSensitive || !a.Local || a.Modifiable {
			t.Errorf("%s: custody %+v", spec, *a)
		}
		_, err := f.m.keys.Export(ctx, pooled.KeyID)
		werr := rawWrap(t, f.tok, pooled.KeyID)
		if spec.Exportable {
			if err != nil || werr != nil {
				t.Errorf("exportable pooled key: export %v, C_WrapKey %v", err, werr)
			}
			continue
		}
		if !errors.Is(err, keystore.ErrNotExportable) {
			t.Errorf("non-exportable pooled key: export %v, want ErrNotExportable", err)
		}
		var ckr pkcs11.Error
		if !errors.As(werr, &ckr) || ckr != pkcs11.CKR_KEY_UNEXTRACTABLE {
			t.Errorf("non-exportable pooled key: the token's C_WrapKey answered %v, want CKR_KEY_UNEXTRACTABLE", werr)
		}
	}
}

func custodyOf(t *testing.T, m *Manager, keyID string) *keystore.KeyCustody {
	t.Helper()
	k, err := m.keys.Custody(context.Background(), keyID)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// rawWrap asks the token itself, behind the keystore's back, to wrap a
// key's private half under a fresh session AES key.
func rawWrap(t *testing.T, tok *softhsm.Token, keyID string) error {
	t.Helper()
	ctx, sh := softhsmtest.RawSession(t, tok)
	if err := ctx.FindObjectsInit(sh, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY), pkcs11.NewAttribute(pkcs11.CKA_ID, []byte(keyID))}); err != nil {
		t.Fatal(err)
	}
	hs, _, err := ctx.FindObjects(sh, 2)
	_ = ctx.FindObjectsFinal(sh)
	if err != nil || len(hs) != 1 {
		t.Fatalf("find %s: %d objects, %v", keyID, len(hs), err)
	}
	wk, err := ctx.GenerateKey(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_GEN, nil)}, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY), pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 32), pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false), pkcs11.NewAttribute(pkcs11.CKA_WRAP, true)})
	if err != nil {
		t.Fatal(err)
	}
	defer ctx.DestroyObject(sh, wk)
	_, err = ctx.WrapKey(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_WRAP_PAD, nil)}, wk, hs[0])
	return err
}

// TestKeyPoolSurvivesRestart: a new Manager on the same database and token
// (the process restarted) finds the pool full, refills nothing, and claims
// the keys the first one generated, with no handle cached for them.
func TestKeyPoolSurvivesRestart(t *testing.T) {
	f := newPoolFixture(t, Config{KeyPool: map[PoolSpec]int{ecExportable: 2}})
	refill(t, f.m, 2)
	before := poolKeyIDs(t, f.m, ecExportable)
	m2 := f.another(t)
	refill(t, m2, 0)
	ctx := context.Background()
	for range 2 {
		row := createKMS(t, ctx, m2, f.c, ecExportable)
		if !slices.Contains(before, row.KeyID) {
			t.Fatalf("after the restart the certificate got key %s, not one of the pool's %v", row.KeyID, before)
		}
		if _, err := m2.signer(ctx, row.KeyID); err != nil {
			t.Fatal(err)
		}
	}
	if st := m2.KeyPoolStats(); st.Claimed != 2 || st.OnDemand != 0 {
		t.Fatalf("stats after restart %+v", st)
	}
}

// TestKeyPoolOffAndEmpty: with a pool of size 0 nothing is generated ahead
// and every key is generated on demand, as without a pool; a configured
// pool that is empty, or of the other exportability, falls back to
// generation as well, and takes its key once there is one.
func TestKeyPoolOffAndEmpty(t *testing.T) {
	ctx := context.Background()
	off := newPoolFixture(t, Config{KeyPool: map[PoolSpec]int{ecExportable: 0}})
	refill(t, off.m, 0)
	done := make(chan struct{})
	go func() { off.m.RunKeyPool(ctx); close(done) }()
	<-done // returns at once: nothing to fill
	if row := createKMS(t, ctx, off.m, off.c, ecExportable); row.KeyID != "kms-"+row.ID {
		t.Fatalf("pool off: key %s for certificate %s", row.KeyID, row.ID)
	}
	if st := off.m.KeyPoolStats(); st != (KeyPoolStats{}) {
		t.Fatalf("pool off: stats %+v", st)
	}

	f := newPoolFixture(t, Config{KeyPool: map[PoolSpec]int{ecExportable: 1}})
	if row := createKMS(t, ctx, f.m, f.c, ecExportable); row.KeyID != "kms-"+row.ID {
		t.Fatalf("empty pool: key %s for certificate %s", row.KeyID, row.ID)
	}
	refill(t, f.m, 1)
	pooled := poolKeyIDs(t, f.m, ecExportable)[0]
	if row := createKMS(t, ctx, f.m, f.c, ecNonExportable); row.KeyID != "kms-"+row.ID {
		t.Fatalf("non-exportable request got key %s from the exportable pool", row.KeyID)
	}
	if row := createKMS(t, ctx, f.m, f.c, ecExportable); row.KeyID != pooled {
		t.Fatalf("filled pool: key %s, want the pool's %s", row.KeyID, pooled)
	}
	if st := f.m.KeyPoolStats(); st.Claimed != 1 || st.OnDemand != 1 || st.Added != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestKeyPoolQuotaCountsClaimedKeys: unclaimed pool keys belong to no
// account; a claimed one counts towards its account's quota, and a create
// refused by the quota leaves the pool as it was.
func TestKeyPoolQuotaCountsClaimedKeys(t *testing.T) {
	one := 1
	f := newPoolFixture(t, Config{KeyPool: map[PoolSpec]int{ecExportable: 2}, MaxTokenKeysPerAccount: &one})
	refill(t, f.m, 2)
	ctx := context.Background()
	createKMS(t, ctx, f.m, f.c, ecExportable)
	_, err := f.m.CreateCertificate(ctx, f.c, CreateCertificateRequest{KeySpec: "EC_P256", Subject: "CN=pool,OU=o,O=E,C=CN"})
	if !errors.Is(err, ErrQuotaExceeded) {
		t.Fatalf("second key with a quota of one: %v", err)
	}
	left := poolKeyIDs(t, f.m, ecExportable)
	if len(left) != 1 || !tokenHas(t, f.m, left[0]) {
		t.Fatalf("pool after the refused create: %v", left)
	}
}

// TestKeyPoolCrashPoints walks each point where a process can die or a
// step fail, and what the sweep then does:
//   - pool keys, however old, are never swept;
//   - a key generated for the pool whose row never committed is an orphan,
//     swept once old;
//   - a claim abandoned after its CSR was signed (the process died) leaves
//     the key in the pool, and the next process claims it;
//   - a claim whose certificate row fails rolls back: the key stays in the
//     pool and in the token, and no claim record is written;
//   - a pool row whose token key is gone, or whose key a certificate row
//     already names, is skipped by claims and removed by the sweep (the
//     first only once old), never handing the key out.
func TestKeyPoolCrashPoints(t *testing.T) {
	var skew atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	f := newPoolFixture(t, Config{KeyPool: map[PoolSpec]int{ecExportable: 3}, OrphanMaxAge: 10 * time.Minute, Now: now})
	m := f.m
	ctx := context.Background()
	refill(t, m, 3)
	pool := poolKeyIDs(t, m, ecExportable)
	sweep := func(want int) {
		t.Helper()
		if n, err := m.SweepOrphanKeys(ctx); err != nil || n != want {
			t.Fatalf("sweep: %d destroyed, %v; want %d", n, err, want)
		}
	}

	// Generated, then killed before its pool row: an orphan.
	lost := "kms-" + uuid.NewString()
	if _, err := m.keys.Generate(ctx, keystore.GenerateRequest{ID: lost, Algorithm: keystore.ECP256, Purpose: keystore.PurposeKMS, Exportable: true}); err != nil {
		t.Fatal(err)
	}
	sweep(0) // young: its row may still be coming
	skew.Store(int64(time.Hour))
	sweep(1)
	if tokenHas(t, m, lost) {
		t.Fatal("the key whose pool row never committed survived the sweep")
	}
	for _, id := range pool {
		if !tokenHas(t, m, id) {
			t.Fatalf("pool key %s destroyed by the sweep", id)
		}
	}
	if got := poolKeyIDs(t, m, ecExportable); len(got) != 3 {
		t.Fatalf("the sweep removed pool rows: %v", got)
	}
	owners, err := m.TokenKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range owners {
		if slices.Contains(pool, k.KeyID) && (k.Orphan || k.Owner == nil || k.Owner.Kind != store.KeyRefKeyPool || k.Owner.ID != "EC_P256/exportable") {
			t.Errorf("pool key %s listed with owner %+v, orphan %v", k.KeyID, k.Owner, k.Orphan)
		}
	}
	skew.Store(0)

	// A claim that signed its CSR and then died: nothing committed.
	k, err := m.reservePoolKey(ctx, ecExportable, keystore.ECP256)
	if err != nil || k == nil {
		t.Fatalf("reserve: %v %v", k, err)
	}
	if _, err := m.signer(ctx, k.KeyID); err != nil {
		t.Fatal(err)
	}
	restarted := f.another(t)

	// A claim whose certificate row fails rolls back with it.
	raw, err := sql.Open("sqlite3", f.path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`CREATE TRIGGER refuse_kms BEFORE INSERT ON kms_certificates BEGIN SELECT RAISE(ABORT, 'refused'); END`); err != nil {
		t.Fatal(err)
	}
	actx, j := restarted.StartAudit(ctx, "req-failed-claim", "127.0.0.1")
	j.SetCaller(f.c, "2016-01-20/CreateCertificate", "")
	_, err = restarted.CreateCertificate(actx, f.c, CreateCertificateRequest{KeySpec: "EC_P256", Subject: "CN=pool,OU=o,O=E,C=CN"})
	if err == nil {
		t.Fatal("create succeeded with the certificate insert refused")
	}
	if _, err := j.Finish(actx, AsError(err).Code); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`DROP TRIGGER refuse_kms`); err != nil {
		t.Fatal(err)
	}
	if got := poolKeyIDs(t, m, ecExportable); len(got) != 3 {
		t.Fatalf("pool after a failed claim: %v", got)
	}
	for _, id := range pool {
		if !tokenHas(t, m, id) {
			t.Fatalf("pool key %s destroyed by a failed claim", id)
		}
	}
	if recs := auditOf(t, m, "req-failed-claim", "keypool:claim"); len(recs) != 0 {
		t.Fatalf("a rolled-back claim left claim records: %+v", recs)
	}

	// The restarted process claims all three, the abandoned one included.
	var claimed []string
	for range 3 {
		claimed = append(claimed, createKMS(t, ctx, restarted, f.c, ecExportable).KeyID)
	}
	slices.Sort(claimed)
	slices.Sort(pool)
	if !slices.Equal(claimed, pool) {
		t.Fatalf("claimed %v, pool was %v", claimed, pool)
	}

	// Stale pool rows: one names a key the token no longer has, one a key
	// a certificate row already holds.
	gone := &store.PoolKey{KeyID: "kms-" + uuid.NewString(), Algorithm: "EC_P256", Exportable: true, ProtectionLevel: "HSM", CreatedAt: now()}
	taken := &store.PoolKey{KeyID: claimed[0], Algorithm: "EC_P256", Exportable: true, ProtectionLevel: "HSM", CreatedAt: now()}
	for _, pk := range []*store.PoolKey{gone, taken} {
		if err := m.sqlStore().Group(ctx, func(tx *store.Tx) error { _, err := tx.InsertPoolKey(ctx, pk, 3); return err }); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if row := createKMS(t, ctx, m, f.c, ecExportable); row.KeyID == gone.KeyID || row.KeyID == taken.KeyID {
			t.Fatalf("a stale pool row handed out %s", row.KeyID)
		}
	}
	sweep(0)
	if got := poolKeyIDs(t, m, ecExportable); !slices.Equal(got, []string{gone.KeyID}) {
		t.Fatalf("after the sweep the pool is %v; want only the young row of the missing key", got)
	}
	if !tokenHas(t, m, taken.KeyID) {
		t.Fatal("the sweep destroyed the key of a certificate")
	}
	skew.Store(int64(time.Hour))
	sweep(0)
	if got := poolKeyIDs(t, m, ecExportable); len(got) != 0 {
		t.Fatalf("an old pool row of a missing key survived the sweep: %v", got)
	}
	if drops := auditOf(t, m, "", "keypool:drop"); len(drops) != 2 {
		t.Fatalf("keypool:drop records: %+v", drops)
	}
}

// auditOf returns the records of one request (any, for "") with action.
func auditOf(t *testing.T, m *Manager, requestID, action string) []*store.AuditRecord {
	t.Helper()
	var out []*store.AuditRecord
	err := m.sqlStore().WalkAudit(context.Background(), func(r *store.AuditRecord) error {
		if r.Action == action && (requestID == "" || r.RequestID == requestID) {
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestKeyPoolAudit: each key the refill generates is an internal operation
// whose token:generate and keypool:add records commit with its pool row;
// a claim is a keypool:claim record of the caller's CreateCertificate,
// under the caller's account, naming the key.
func TestKeyPoolAudit(t *testing.T) {
	f := newPoolFixture(t, Config{KeyPool: map[PoolSpec]int{ecExportable: 1}})
	refill(t, f.m, 1)
	keyID := poolKeyIDs(t, f.m, ecExportable)[0]
	adds := auditOf(t, f.m, "", "keypool:add")
	if len(adds) != 1 || adds[0].Resource != keyID {
		t.Fatalf("keypool:add records %+v", adds)
	}
	req := adds[0].RequestID
	if gen := auditOf(t, f.m, req, "token:generate/CKM_EC_KEY_PAIR_GEN"); len(gen) != 1 || gen[0].Resource != keyID || gen[0].Code != "OK" {
		t.Fatalf("generation records of the refill: %+v", gen)
	}
	if call := auditOf(t, f.m, req, "internal:RefillKeyPool"); len(call) != 1 || call[0].Resource != "keypool/EC_P256/exportable" || call[0].Code != "OK" {
		t.Fatalf("refill operation records: %+v", call)
	}

	ctx, j := f.m.StartAudit(context.Background(), "req-claim", "127.0.0.1")
	j.SetCaller(f.c, "2016-01-20/CreateCertificate", "")
	res, err := f.m.CreateCertificate(ctx, f.c, CreateCertificateRequest{KeySpec: "EC_P256", Subject: "CN=pool,OU=o,O=E,C=CN"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := j.Finish(ctx, "OK"); err != nil {
		t.Fatal(err)
	}
	claims := auditOf(t, f.m, "req-claim", "keypool:claim")
	if len(claims) != 1 || claims[0].Resource != keyID || claims[0].AccountID != f.c.AccountID || claims[0].Code != "OK" {
		t.Fatalf("claim records %+v", claims)
	}
	if call := auditOf(t, f.m, "req-claim", "2016-01-20/CreateCertificate"); len(call) != 1 || call[0].Resource != f.m.kmsArn(f.c, res.CertificateID) {
		t.Fatalf("call records %+v", call)
	}
	pub, err := f.m.AuditPublicKey(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.VerifyAudit(context.Background(), pub); err != nil {
		t.Fatal(err)
	}
}

// TestRunKeyPoolFillsAndStops: the worker fills the pool at start, refills
// after a claim, and returns when its context ends.
func TestRunKeyPoolFillsAndStops(t *testing.T) {
	f := newPoolFixture(t, Config{KeyPool: map[PoolSpec]int{ecExportable: 2}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.m.RunKeyPool(ctx); close(done) }()
	waitPool := func(n int) {
		t.Helper()
		for len(poolKeyIDs(t, f.m, ecExportable)) != n {
			select {
			case <-done:
				t.Fatal("the worker stopped")
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	waitPool(2)
	createKMS(t, context.Background(), f.m, f.c, ecExportable)
	waitPool(2) // refilled after the claim, long before the periodic check
	cancel()
	<-done
	if st := f.m.KeyPoolStats(); st.Claimed != 1 || st.Added != 3 {
		t.Fatalf("stats %+v", st)
	}
}

// TestCheckKeyPool: sizes from 0 to MaxPoolSize of RSA_2048 and EC_P256
// pass; EC_SM2, other KeySpecs and sizes out of range are refused.
func TestCheckKeyPool(t *testing.T) {
	if err := CheckKeyPool(map[PoolSpec]int{{KeySpec: "RSA_2048", Exportable: true}: 8, ecNonExportable: 0, ecExportable: MaxPoolSize}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []map[PoolSpec]int{{{KeySpec: "EC_SM2"}: 1}, {{KeySpec: "RSA_4096"}: 1}, {ecExportable: -1}, {ecExportable: MaxPoolSize + 1}} {
		if err := CheckKeyPool(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	p := newKeyPool(map[PoolSpec]int{{KeySpec: "EC_SM2"}: 1, ecExportable: 2, ecNonExportable: 0})
	if len(p.sizes) != 1 || p.sizes[ecExportable] != 2 {
		t.Errorf("pools applied: %v", p.sizes)
	}
}

// TestKeyPoolRefillYieldsToCreates: while this node keeps serving
// CreateCertificate, the worker's refill fills a pool only up to its
// low-water mark (a quarter) and then waits for a quiet moment; once the
// node is quiet it fills the pool.
func TestKeyPoolRefillYieldsToCreates(t *testing.T) {
	f := newPoolFixture(t, Config{KeyPool: map[PoolSpec]int{ecExportable: 8}})
	f.m.pool.lastCreate.Store(math.MaxInt64) // a create "now", forever
	ctx, cancel := context.WithCancel(context.Background())
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := f.m.refillKeyPool(ctx, true)
		done <- result{n, err}
	}()
	for len(poolKeyIDs(t, f.m, ecExportable)) < lowWater(8) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel() // it is waiting for a quiet moment that never comes
	if r := <-done; r.n != 2 || !errors.Is(r.err, context.Canceled) {
		t.Fatalf("busy refill: %d keys, %v; want 2 and the wait cancelled", r.n, r.err)
	}
	if n := len(poolKeyIDs(t, f.m, ecExportable)); n != 2 {
		t.Fatalf("busy refill left %d keys, want the low-water mark 2", n)
	}
	f.m.pool.lastCreate.Store(-int64(keyPoolQuiet)) // quiet
	if n, err := f.m.refillKeyPool(context.Background(), true); err != nil || n != 6 {
		t.Fatalf("quiet refill: %d keys, %v; want 6", n, err)
	}
}
