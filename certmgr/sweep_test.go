package certmgr

import (
	"context"
	"encoding/asn1"
	"path/filepath"
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

// TestSweepOrphanKeys runs the sweep against a real token: an orphan older
// than the maximum age is destroyed, audited and counted; keys a row
// references survive whatever their age; a young orphan survives until it
// is old; an orphan of unknown age (label without a time) survives every
// automatic sweep and goes only on the operator's explicit sweep; a key
// whose ID certmgr would never give is never swept.
func TestSweepOrphanKeys(t *testing.T) {
	ctx := context.Background()
	tok := softhsmtest.Token(t, tokens)
	keys, err := keystore.Open(ctx, keystore.Config{Module: tok.Module, TokenLabel: tok.Label, PIN: tok.PIN, AllowSoftwareSM2: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { keys.Close() })
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "cm.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	var skew atomic.Int64 // how far the manager's clock runs ahead
	m := New(keys, db, Config{OrphanMaxAge: 10 * time.Minute, Now: func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }})
	ak, err := m.CreateAccessKey(ctx, "acme", "")
	if err != nil {
		t.Fatal(err)
	}
	c := Caller{AccountID: ak.AccountID}

	kms, err := m.CreateCertificate(ctx, c, CreateCertificateRequest{KeySpec: "EC_P256", Subject: "CN=a,OU=b,O=c,C=CN"})
	if err != nil {
		t.Fatal(err)
	}
	ca, err := m.CreateRootCACertificate(ctx, c, CreateCARequest{CommonName: "root", Organization: "o", OrganizationUnit: "ou", Locality: "l", State: "s", CountryCode: "CN", Algorithm: "ECC_256", Years: 1})
	if err != nil {
		t.Fatal(err)
	}
	referenced := []string{"kms-" + kms.CertificateID, "ca-" + ca.Identifier}
	oldOrphan, youngOrphan, unknownAge := "kms-"+uuid.NewString(), "kms-"+uuid.NewString(), "ca-"+uuid.NewString()
	rawKey(t, tok, oldOrphan, oldOrphan+"@"+time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)) // killed an hour ago
	rawKey(t, tok, unknownAge, unknownAge)                                                         // from before creation times were recorded
	for _, id := range []string{youngOrphan, "someone-elses-key"} {
		if _, err := keys.Generate(ctx, keystore.GenerateRequest{ID: id, Algorithm: keystore.ECP256, Purpose: keystore.PurposeKMS}); err != nil {
			t.Fatal(err)
		}
	}
	exists := func(id string) bool {
		ok, err := keys.Exists(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	sweep := func(run func(context.Context) (int, error), want int, gone ...string) {
		t.Helper()
		before, unaudited := m.SweptOrphanKeys(), m.UnauditedKeyUses()
		n, err := run(ctx)
		if err != nil || n != want {
			t.Fatalf("sweep: %d keys, %v; want %d", n, err, want)
		}
		if m.SweptOrphanKeys()-before != uint64(want) {
			t.Fatalf("counter grew by %d, want %d", m.SweptOrphanKeys()-before, want)
		}
		if m.UnauditedKeyUses() != unaudited {
			t.Fatal("the sweep used token keys outside its audit record")
		}
		for _, id := range gone {
			if exists(id) {
				t.Fatalf("%s survived the sweep", id)
			}
		}
	}

	sweep(m.SweepOrphanKeys, 1, oldOrphan)
	for _, id := range append(referenced, youngOrphan, unknownAge, "someone-elses-key", keystore.AuditKeyID) {
		if !exists(id) {
			t.Fatalf("%s destroyed by the first sweep", id)
		}
	}
	assertSweepAudited(t, m, oldOrphan)

	// An hour later the young orphan is old; referenced keys are just as
	// old and survive because rows name them.
	skew.Store(int64(time.Hour))
	sweep(m.SweepOrphanKeys, 1, youngOrphan)
	sweep(m.SweepOrphanKeys, 0)
	for _, id := range append(referenced, unknownAge, "someone-elses-key") {
		if !exists(id) {
			t.Fatalf("%s destroyed by an automatic sweep", id)
		}
	}
	sweep(m.SweepOrphanKeysOfUnknownAge, 1, unknownAge)
	for _, id := range append(referenced, "someone-elses-key") {
		if !exists(id) {
			t.Fatalf("%s destroyed by the operator's sweep", id)
		}
	}

	listed, err := m.TokenKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	owners := map[string]*KeyOwner{}
	for _, k := range listed {
		owners[k.KeyID] = k.Owner
		if k.Orphan != (k.Owner == nil) {
			t.Errorf("%s: Orphan %v with owner %+v", k.KeyID, k.Orphan, k.Owner)
		}
	}
	if o := owners[referenced[0]]; o == nil || o.Kind != store.KeyRefKMSCertificate || o.ID != kms.CertificateID || o.AccountID != c.AccountID {
		t.Errorf("KMS key owner %+v", o)
	}
	if o := owners[referenced[1]]; o == nil || o.Kind != store.KeyRefCACertificate || o.ID != ca.Identifier {
		t.Errorf("CA key owner %+v", o)
	}
	if o := owners[keystore.AuditKeyID]; o == nil || o.Kind != "ServiceKey" {
		t.Errorf("audit key owner %+v", o)
	}
	if o, ok := owners["someone-elses-key"]; !ok || o != nil {
		t.Errorf("unreferenced foreign-ID key: listed %v, owner %+v; want an orphan", ok, o)
	}
}

// assertSweepAudited finds the sweep's audit record and the token:destroy
// record of the key in the same operation.
func assertSweepAudited(t *testing.T, m *Manager, keyID string) {
	t.Helper()
	var sweepReq string
	destroyedIn := map[string]string{}
	err := m.sqlStore().WalkAudit(context.Background(), func(r *store.AuditRecord) error {
		switch r.Action {
		case "internal:SweepOrphanKeys":
			sweepReq = r.RequestID
			if r.Code != "OK" {
				t.Errorf("sweep record code %s", r.Code)
			}
		case "token:destroy":
			destroyedIn[r.Resource] = r.RequestID
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if sweepReq == "" || destroyedIn[keyID] != sweepReq {
		t.Fatalf("audit: sweep record %q, destroy of %s in %q", sweepReq, keyID, destroyedIn[keyID])
	}
}

// rawKey creates an EC token key pair behind the keystore's back, with
// the label given: a key left by a process killed before its row
// committed.
func rawKey(t *testing.T, tok *softhsm.Token, id, label string) {
	t.Helper()
	ctx, sh := softhsmtest.RawSession(t, tok)
	params, _ := asn1.Marshal(asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7})
	common := func(class uint) []*pkcs11.Attribute {
		return []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, class), pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
			pkcs11.NewAttribute(pkcs11.CKA_ID, []byte(id)), pkcs11.NewAttribute(pkcs11.CKA_LABEL, label), pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_EC)}
	}
	pub := append(common(pkcs11.CKO_PUBLIC_KEY), pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, params), pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true))
	priv := append(common(pkcs11.CKO_PRIVATE_KEY), pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true), pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true), pkcs11.NewAttribute(pkcs11.CKA_SIGN, true))
	if _, _, err := ctx.GenerateKeyPair(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_EC_KEY_PAIR_GEN, nil)}, pub, priv); err != nil {
		t.Fatal(err)
	}
}
