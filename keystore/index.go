package keystore

import (
	"bytes"
	"context"
	"fmt"

	"github.com/miekg/pkcs11"
)

// The ID → handle index. SoftHSM 2.6.1 (file backend) answers a
// C_FindObjects in time linear in its object count (measured: 2.9 ms at
// 200 objects, 31 ms at 2,000, 134 ms at 8,000), so a find on a request
// path makes every request slower as the token fills. The Store therefore
// reads the token's objects once when it opens (one find per object class,
// then CKA_ID of each object) into s.handles, and keeps the index current
// with its own generations and destructions. Requests look keys up there
// and never search the token, with two exceptions that a shared token
// makes necessary:
//
//   - A key another node created is not in the index: the first lookup
//     finds it (one C_FindObjects) and indexes it.
//   - A key another node destroyed leaves a stale handle. The token answers
//     a call on it with CKR_OBJECT_HANDLE_INVALID or CKR_KEY_HANDLE_INVALID;
//     the call's retry then checks the entry (one C_GetAttributeValue:
//     CKA_CLASS and CKA_ID, or for a sealed SM2 record CKA_CLASS,
//     CKA_APPLICATION and CKA_LABEL), drops it and finds the key once more:
//     gone is ErrNotFound, never another key.
//
// An entry is trusted without that check while nothing has proven a
// handle stale since it was last known right (it was read from the token
// by CKA_ID, or made here). Checking before every use cost SoftHSM 80% more
// per ECDSA signature (an attribute read on a token object re-reads its
// file), and the check could not close the window it guards anyway: a
// handle can go stale between the check and the C_SignInit. Any stale
// handle met moves Store.trustEpoch, after which every entry is checked
// once at its next use, so a handle number a token has given to another
// object (SoftHSM never reuses one; some HSMs may) is caught as soon as the
// Store learns that handles went stale. A key is destroyed only after its
// row is gone (certmgr), so no request names it afterwards: the entry of
// a destroyed key is normally never used again at all.
//
// After a lost login (SoftHSM invalidates the handles of private objects
// when the last session closes) the index is rebuilt by the call that
// recovered.

// indexClasses are the object classes the index reads by CKA_ID.
var indexClasses = []uint{pkcs11.CKO_PRIVATE_KEY, pkcs11.CKO_PUBLIC_KEY, pkcs11.CKO_SECRET_KEY}

// findInit is C_FindObjectsInit, counted: Stats.Finds is how tests prove
// that a hot path searched nothing.
func (s *Store) findInit(sh pkcs11.SessionHandle, template []*pkcs11.Attribute) error {
	s.finds.Add(1)
	return s.ctx.FindObjectsInit(sh, template)
}

// findHandles returns every object matching template, under the find lock.
func (s *Store) findHandles(ctx context.Context, sh pkcs11.SessionHandle, template []*pkcs11.Attribute) ([]pkcs11.ObjectHandle, error) {
	release, err := s.objLock.acquire(ctx, lockFind)
	if err != nil {
		return nil, err
	}
	defer release()
	if err := s.findInit(sh, template); err != nil {
		return nil, err
	}
	var all []pkcs11.ObjectHandle
	for {
		hs, _, err := s.ctx.FindObjects(sh, 1024)
		if err != nil {
			_ = s.ctx.FindObjectsFinal(sh)
			return nil, err
		}
		if len(hs) == 0 {
			break
		}
		all = append(all, hs...)
	}
	return all, s.ctx.FindObjectsFinal(sh)
}

// scanIndex reads the key IDs of every token object of ours: key objects
// by CKA_ID, sealed SM2 records by CKA_LABEL. Objects of other
// applications (an ID outside our scheme, a data object of another
// CKA_APPLICATION) are left out. Public keys and sealed records are read
// lazily, at a key's first use.
func (s *Store) scanIndex(ctx context.Context, sh pkcs11.SessionHandle) (map[string]*keyEntry, error) {
	out := map[string]*keyEntry{}
	entry := func(id string) *keyEntry {
		e := out[id]
		if e == nil {
			e = &keyEntry{id: id}
			out[id] = e
		}
		return e
	}
	for _, class := range indexClasses {
		hs, err := s.findHandles(ctx, sh, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, class), pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true)})
		if err != nil {
			return nil, fmt.Errorf("keystore: index token objects: %w", err)
		}
		for _, h := range hs {
			a, err := s.ctx.GetAttributeValue(sh, h, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_ID, nil)})
			if handleStale(err) {
				continue // destroyed by another node since the find
			}
			if err != nil {
				return nil, fmt.Errorf("keystore: index token objects: %w", err)
			}
			id := string(a[0].Value)
			if !ValidKeyID(id) {
				continue
			}
			e := entry(id)
			switch class {
			case pkcs11.CKO_PRIVATE_KEY, pkcs11.CKO_SECRET_KEY:
				if e.priv == 0 {
					e.priv, e.secret = h, class == pkcs11.CKO_SECRET_KEY
				}
			case pkcs11.CKO_PUBLIC_KEY:
				if e.pub == 0 {
					e.pub = h
				}
			}
		}
	}
	hs, err := s.findHandles(ctx, sh, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_DATA),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true), pkcs11.NewAttribute(pkcs11.CKA_APPLICATION, sm2Application)})
	if err != nil {
		return nil, fmt.Errorf("keystore: index token objects: %w", err)
	}
	for _, h := range hs {
		a, err := s.ctx.GetAttributeValue(sh, h, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_LABEL, nil)})
		if handleStale(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("keystore: index token objects: %w", err)
		}
		if id := string(a[0].Value); ValidKeyID(id) {
			if e := entry(id); e.data == 0 {
				e.data = h
			}
		}
	}
	if len(out) == 0 && !s.pool.loggedIn(sh) {
		return nil, fmt.Errorf("keystore: index token objects: %w", pkcs11.Error(pkcs11.CKR_USER_NOT_LOGGED_IN))
	}
	return out, nil
}

// buildIndex replaces the index with a fresh scan of the token. Entries
// this process added or dropped while the scan ran win over what the scan
// saw.
func (s *Store) buildIndex(ctx context.Context) error {
	s.buildMu.Lock()
	defer s.buildMu.Unlock()
	s.mu.Lock()
	s.indexEpoch++
	epoch := s.indexEpoch
	s.droppedDuring = map[string]bool{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.droppedDuring = nil
		s.mu.Unlock()
	}()
	var scanned map[string]*keyEntry
	trust := s.trustEpoch.Load()
	err := s.withSessionNoReindex(ctx, func(sh pkcs11.SessionHandle, _ bool) (err error) {
		scanned, err = s.scanIndex(ctx, sh)
		return err
	})
	if err != nil {
		return err
	}
	for _, e := range scanned {
		e.trusted = trust // read by CKA_ID just now; not yet shared
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, e := range s.handles {
		if e.epoch == epoch {
			scanned[id] = e // indexed during the scan: newer than what it saw
		}
	}
	for id := range s.droppedDuring {
		if e := scanned[id]; e != nil && e.epoch != epoch {
			delete(scanned, id)
		}
	}
	s.handles = scanned
	s.indexBuilds.Add(1)
	return nil
}

// indexed returns the index entry of id, or nil.
func (s *Store) indexed(id string) *keyEntry {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.handles[id]
}

// index records e as the entry of its key, known right as of trust (the
// trustEpoch read before its handles were read from the token).
func (s *Store) index(e *keyEntry, trust uint64) {
	s.mu.Lock()
	e.epoch, e.trusted = s.indexEpoch, trust
	s.handles[e.id] = e
	s.mu.Unlock()
}

// indexedTrusted returns the index entry of id, or nil, and whether it is
// trusted without a check (index.go).
func (s *Store) indexedTrusted(id string) (*keyEntry, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e := s.handles[id]
	return e, e != nil && e.trusted == s.trustEpoch.Load()
}

// trust marks e known right as of epoch. Entries are never changed once
// indexed (readers copy them without the lock): a trusted copy replaces
// e, if e is still the key's entry.
func (s *Store) trust(e *keyEntry, epoch uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.handles[e.id] == e {
		c := *e
		c.trusted = epoch
		s.handles[e.id] = &c
	}
}

// unindex drops the entry of id; with only set, only if it is still that
// entry (a concurrent lookup may have indexed a fresh one).
func (s *Store) unindex(id string, only *keyEntry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if only != nil && s.handles[id] != only {
		return
	}
	delete(s.handles, id)
	if s.droppedDuring != nil { // a scan is running: it may have seen id
		s.droppedDuring[id] = true
	}
}

// verify reports whether the handles of e still name key e.id: the main
// object (private or secret key, or sealed record) must have the class and
// the ID it had. A handle the token calls invalid is not an error here: it
// reports false. The public key handle is checked when it is read.
func (s *Store) verify(sh pkcs11.SessionHandle, e *keyEntry) (bool, error) {
	var (
		h    pkcs11.ObjectHandle
		want []*pkcs11.Attribute
	)
	switch {
	case e.data != 0:
		h = e.data
		want = []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_DATA),
			pkcs11.NewAttribute(pkcs11.CKA_APPLICATION, sm2Application), pkcs11.NewAttribute(pkcs11.CKA_LABEL, e.id)}
	case e.priv != 0:
		h = e.priv
		class := uint(pkcs11.CKO_PRIVATE_KEY)
		if e.secret {
			class = pkcs11.CKO_SECRET_KEY
		}
		want = []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, class), pkcs11.NewAttribute(pkcs11.CKA_ID, []byte(e.id))}
	default:
		return false, nil // a partial key (a public key alone): find it
	}
	read := make([]*pkcs11.Attribute, len(want))
	for i, a := range want {
		read[i] = pkcs11.NewAttribute(a.Type, nil)
	}
	got, err := s.ctx.GetAttributeValue(sh, h, read)
	if handleStale(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("keystore: verify handle of %s: %w", e.id, err)
	}
	for i := range want {
		if !bytes.Equal(got[i].Value, want[i].Value) {
			return false, nil
		}
	}
	return true, nil
}

// indexedKeys returns how many key IDs the index holds (service keys
// included).
func (s *Store) indexedKeys() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.handles)
}
