package keystore

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/certcustody/certcustody/softhsm"
	"github.com/google/uuid"
	"github.com/miekg/pkcs11"
)

// openOn opens a second Store on an existing token: another node on the
// same token, as far as the index is concerned.
func openOn(t *testing.T, tok *softhsm.Token) *Store {
	t.Helper()
	s, err := Open(context.Background(), Config{Module: tok.Module, TokenLabel: tok.Label, PIN: tok.PIN, AllowSoftwareSM2: true})
	if err != nil {
		t.Fatalf("open a second store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func randomKMSID() string { return "kms-" + uuid.NewString() }

// TestIndexBuiltAtOpen: a Store opened on a token that holds keys has them
// all in its index, and its hot paths (Signer, Sign, Decrypt, Export,
// Custody, and generating a random-ID key) make no C_FindObjects at all.
func TestIndexBuiltAtOpen(t *testing.T) {
	a, tok := newStore(t)
	ctx := context.Background()
	ec, rsaID, sm2ID := randomKMSID(), randomKMSID(), randomKMSID()
	for _, req := range []GenerateRequest{
		{ID: ec, Algorithm: ECP256, Purpose: PurposeKMS},
		{ID: rsaID, Algorithm: RSA2048, Purpose: PurposeKMS, Exportable: true},
		{ID: sm2ID, Algorithm: SM2, Purpose: PurposeKMS},
	} {
		if _, err := a.Generate(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	b := openOn(t, tok)
	st := b.Stats()
	// The three keys and the service keys (two KEK-type keys, the audit key).
	if st.IndexedKeys != 6 || st.IndexBuilds != 1 {
		t.Fatalf("index at open: %d keys, %d builds; want 6 keys, 1 build", st.IndexedKeys, st.IndexBuilds)
	}
	finds := st.Finds
	digest := sha256.Sum256([]byte("m"))
	for _, id := range []string{ec, rsaID, sm2ID} {
		signer, err := b.Signer(ctx, id)
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		var sig []byte
		if signer.Algorithm() == SM2 {
			sig, err = signer.Sign(rand.Reader, []byte("m"), nil)
		} else {
			sig, err = signer.Sign(rand.Reader, digest[:], crypto.SHA256)
		}
		if err != nil || len(sig) == 0 {
			t.Fatalf("sign with %s: %v", id, err)
		}
		if _, err := b.Custody(ctx, id); err != nil {
			t.Fatalf("custody of %s: %v", id, err)
		}
	}
	rsaSigner, _ := b.Signer(ctx, rsaID)
	ct, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, rsaSigner.Public().(*rsa.PublicKey), []byte("secret"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := rsaSigner.Decrypt(rand.Reader, ct, &rsa.OAEPOptions{Hash: crypto.SHA256}); err != nil || string(pt) != "secret" {
		t.Fatalf("decrypt: %q, %v", pt, err)
	}
	if _, err := b.Export(ctx, rsaID); err != nil {
		t.Fatalf("export: %v", err)
	}
	fresh := randomKMSID()
	if _, err := b.Generate(ctx, GenerateRequest{ID: fresh, Algorithm: ECP256, Purpose: PurposeKMS, RandomID: true}); err != nil {
		t.Fatal(err)
	}
	if s, err := b.Signer(ctx, fresh); err != nil {
		t.Fatal(err)
	} else if _, err := s.Sign(rand.Reader, digest[:], crypto.SHA256); err != nil {
		t.Fatal(err)
	}
	if got := b.Stats().Finds; got != finds {
		t.Fatalf("the hot paths made %d finds, want 0", got-finds)
	}
	// A random-ID generation with an ID the index holds is still refused.
	if _, err := b.Generate(ctx, GenerateRequest{ID: ec, Algorithm: ECP256, Purpose: PurposeKMS, RandomID: true}); !errors.Is(err, ErrKeyExists) {
		t.Fatalf("generate over an indexed ID: %v, want ErrKeyExists", err)
	}
	// Without RandomID the token is asked, as before.
	if _, err := b.Generate(ctx, GenerateRequest{ID: ec, Algorithm: ECP256, Purpose: PurposeKMS}); !errors.Is(err, ErrKeyExists) {
		t.Fatalf("generate over an existing ID: %v, want ErrKeyExists", err)
	}
}

// TestIndexAcrossNodes: two Stores on one token stand in for two nodes. A
// key created on A is found once by B and then signs from B's index; a key
// destroyed on B answers ErrNotFound on A, which had it indexed, both for
// a new Signer and for a Signer taken before the destroy.
func TestIndexAcrossNodes(t *testing.T) {
	a, tok := newStore(t)
	b := openOn(t, tok)
	ctx := context.Background()
	id := randomKMSID()
	key, err := a.Generate(ctx, GenerateRequest{ID: id, Algorithm: ECP256, Purpose: PurposeKMS, RandomID: true})
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte("across"))
	sign := func(s *Store) ([]byte, error) {
		signer, err := s.Signer(ctx, id)
		if err != nil {
			return nil, err
		}
		return signer.Sign(rand.Reader, digest[:], crypto.SHA256)
	}
	finds := b.Stats().Finds
	for round := range 2 {
		sig, err := sign(b)
		if err != nil || !ecdsa.VerifyASN1(key.Public.(*ecdsa.PublicKey), digest[:], sig) {
			t.Fatalf("round %d: sign on B with A's key: %v", round, err)
		}
	}
	if n := b.Stats().Finds - finds; n != 1 {
		t.Fatalf("B made %d finds for a key A created, want exactly 1 (then indexed)", n)
	}
	if _, err := sign(a); err != nil {
		t.Fatal(err)
	}
	early, err := a.Signer(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Destroy(ctx, id); err != nil {
		t.Fatalf("destroy on B: %v", err)
	}
	if _, err := sign(a); !errors.Is(err, ErrNotFound) {
		t.Fatalf("sign on A after B destroyed the key: %v, want ErrNotFound", err)
	}
	if _, err := early.Sign(rand.Reader, digest[:], crypto.SHA256); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a Signer from before the destroy: %v, want ErrNotFound", err)
	}
	if err := a.Destroy(ctx, id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("destroy again on A: %v, want ErrNotFound", err)
	}
	if a.Stats().StaleHandles == 0 {
		t.Fatal("A never counted its stale handle")
	}
}

// TestIndexRefusesReusedHandle: entries are trusted until a token call
// meets a stale handle; from then on each is checked once before its next
// use. A handle that names another object now (what a real HSM may do
// with a destroyed object's handle number; SoftHSM never reuses handles,
// so the test plants one) is then never used: the lookup sees another
// CKA_ID, drops the entry and finds the right key, whose signature
// verifies. The key whose handle went stale is ErrNotFound.
func TestIndexRefusesReusedHandle(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	mine, other, gone := randomKMSID(), randomKMSID(), randomKMSID()
	key, err := s.Generate(ctx, GenerateRequest{ID: mine, Algorithm: ECP256, Purpose: PurposeKMS, RandomID: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{other, gone} {
		if _, err := s.Generate(ctx, GenerateRequest{ID: id, Algorithm: ECP256, Purpose: PurposeKMS, RandomID: true}); err != nil {
			t.Fatal(err)
		}
	}
	e, o := s.indexed(mine), s.indexed(other)
	s.index(&keyEntry{id: mine, alg: ECP256, priv: o.priv, pub: o.pub, public: e.public}, s.trustEpoch.Load())
	digest := sha256.Sum256([]byte("reuse"))

	// Another node destroys gone behind this Store's back: its handle is
	// stale, and the first call on it says so.
	g := s.indexed(gone)
	if err := s.withSession(ctx, func(sh pkcs11.SessionHandle, _ bool) error {
		if err := s.ctx.DestroyObject(sh, g.priv); err != nil {
			return err
		}
		return s.ctx.DestroyObject(sh, g.pub)
	}); err != nil {
		t.Fatal(err)
	}
	gs, err := s.Signer(ctx, gone)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gs.Sign(rand.Reader, digest[:], crypto.SHA256); !errors.Is(err, ErrNotFound) {
		t.Fatalf("sign with a key destroyed elsewhere: %v, want ErrNotFound", err)
	}

	signer, err := s.Signer(ctx, mine)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := signer.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if !ecdsa.VerifyASN1(key.Public.(*ecdsa.PublicKey), digest[:], sig) {
		t.Fatal("signed with the object the planted handle names, not with the key")
	}
	if s.indexed(mine).priv == o.priv {
		t.Fatal("the planted handle is still indexed")
	}
	if n := s.Stats().StaleHandles; n != 2 {
		t.Fatalf("stale handles %d, want 2 (the destroyed key's and the planted one)", n)
	}
	// Checked once, trusted again: the next signatures read no attributes
	// first, and search nothing.
	finds := s.Stats().Finds
	for range 3 {
		if _, err := signer.Sign(rand.Reader, digest[:], crypto.SHA256); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.Stats().Finds; got != finds {
		t.Fatalf("%d finds on the hot path", got-finds)
	}
}

// TestIndexRebuiltAfterLoginLoss: SoftHSM drops the handles of private
// objects when the last session closes; the Store that recovers rebuilds
// its index, and every key still signs.
func TestIndexRebuiltAfterLoginLoss(t *testing.T) {
	s, tok := newStore(t)
	ctx := context.Background()
	var ids []string
	for range 3 {
		id := randomKMSID()
		if _, err := s.Generate(ctx, GenerateRequest{ID: id, Algorithm: ECP256, Purpose: PurposeKMS, RandomID: true}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	raw := openRaw(t, tok)
	if err := raw.ctx.CloseAllSessions(tok.Slot); err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte("x"))
	builds := s.Stats().IndexBuilds
	for _, id := range ids {
		signer, err := s.Signer(ctx, id)
		if err != nil {
			t.Fatalf("%s after the login loss: %v", id, err)
		}
		if _, err := signer.Sign(rand.Reader, digest[:], crypto.SHA256); err != nil {
			t.Fatalf("%s after the login loss: %v", id, err)
		}
	}
	if got := s.Stats().IndexBuilds; got != builds+1 {
		t.Fatalf("index builds %d → %d, want one rebuild", builds, got)
	}
}

// TestIndexIgnoresOtherApplications: objects whose CKA_ID is outside our
// scheme, and session objects, stay out of the index.
func TestIndexIgnoresOtherApplications(t *testing.T) {
	_, tok := newStore(t)
	raw := openRaw(t, tok)
	for _, token := range []bool{true, false} {
		if _, err := raw.ctx.GenerateKey(raw.sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_GEN, nil)}, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY), pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
			pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 16), pkcs11.NewAttribute(pkcs11.CKA_TOKEN, token),
			pkcs11.NewAttribute(pkcs11.CKA_ID, []byte("not ours: spaces and /")),
		}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := raw.ctx.GenerateKey(raw.sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_GEN, nil)}, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY), pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 16), pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
		pkcs11.NewAttribute(pkcs11.CKA_ID, []byte("session-key")),
	}); err != nil {
		t.Fatal(err)
	}
	b := openOn(t, tok)
	if got := b.Stats().IndexedKeys; got != 3 {
		t.Fatalf("the index holds %d keys, want the 3 service keys only: other applications' objects were indexed", got)
	}
	if b.indexed("session-key") != nil {
		t.Fatal("a session object was indexed")
	}
}
