package keystore

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/asn1"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"

	"github.com/miekg/pkcs11"
)

// lookup returns the entry of key id, ready for use (its public key or
// sealed record read): from the index with its handle verified, or found
// in the token once and indexed (entryOf). A key the token no longer holds
// is ErrNotFound.
func (s *Store) lookup(ctx context.Context, sh pkcs11.SessionHandle, id string) (*keyEntry, error) {
	e, err := s.entryOf(ctx, sh, id)
	if err != nil || e.public != nil {
		return e, err
	}
	full, err := s.complete(sh, e)
	if err == nil {
		return full, nil
	}
	if handleStale(err) || errors.Is(err, ErrNotFound) {
		// Half a key: another node is destroying it, or a failed
		// generation left it. Nothing of it can be used.
		s.unindex(id, e)
		return nil, fmt.Errorf("%w: %s (incomplete in the token)", ErrNotFound, id)
	}
	return nil, err
}

// entryOf returns the index entry of id: as it is while trusted, else with
// its handle checked first (index.go). When the index has no entry, or a
// stale one, it finds the key in the token (one C_FindObjects) and indexes
// what it found.
func (s *Store) entryOf(ctx context.Context, sh pkcs11.SessionHandle, id string) (*keyEntry, error) {
	epoch := s.trustEpoch.Load()
	if e, trusted := s.indexedTrusted(id); e != nil {
		if trusted {
			return e, nil
		}
		ok, err := s.verify(sh, e)
		if err != nil {
			return nil, err
		}
		if ok {
			s.trust(e, epoch)
			return e, nil
		}
		// Gone, or the handle names another object now: find it again.
		s.unindex(id, e)
		s.staleHandles.Add(1)
	}
	objs, err := s.findObjects(ctx, sh, id)
	if err != nil {
		return nil, err
	}
	if len(objs) == 0 {
		// A session that lost its login sees no private objects and gets
		// no error for it: report the lost login so the caller recovers.
		if !s.pool.loggedIn(sh) {
			return nil, fmt.Errorf("keystore: find %s: %w", id, pkcs11.Error(pkcs11.CKR_USER_NOT_LOGGED_IN))
		}
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	e := &keyEntry{id: id, data: objs[pkcs11.CKO_DATA], priv: objs[pkcs11.CKO_PRIVATE_KEY], pub: objs[pkcs11.CKO_PUBLIC_KEY]}
	if h, ok := objs[pkcs11.CKO_SECRET_KEY]; ok && e.priv == 0 {
		e.priv, e.secret = h, true
	}
	s.index(e, epoch)
	return e, nil
}

// objects returns the token objects of an entry by class.
func (e *keyEntry) objects() map[uint]pkcs11.ObjectHandle {
	out := map[uint]pkcs11.ObjectHandle{}
	for class, h := range map[uint]pkcs11.ObjectHandle{pkcs11.CKO_DATA: e.data, pkcs11.CKO_PUBLIC_KEY: e.pub} {
		if h != 0 {
			out[class] = h
		}
	}
	if e.priv != 0 {
		if e.secret {
			out[pkcs11.CKO_SECRET_KEY] = e.priv
		} else {
			out[pkcs11.CKO_PRIVATE_KEY] = e.priv
		}
	}
	return out
}

// complete reads what an index entry lacks (the public key, or the sealed
// record) and indexes the completed entry in its place. A key without a
// private and a public object (or a sealed record) is ErrNotFound.
func (s *Store) complete(sh pkcs11.SessionHandle, e *keyEntry) (*keyEntry, error) {
	full := *e
	switch {
	case e.secret:
		return e, nil
	case e.data != 0:
		rec, pub, err := s.readSoftwareRecord(sh, e.data)
		if err != nil {
			return nil, err
		}
		full.soft, full.alg, full.public = rec, SM2, pub
	case e.priv != 0 && e.pub != 0:
		pub, alg, err := s.readPublic(sh, e.pub)
		if err != nil {
			if handleStale(err) {
				return nil, err
			}
			return nil, fmt.Errorf("keystore: read public key %s: %w", e.id, err)
		}
		full.public, full.alg = pub, alg
	default:
		return nil, ErrNotFound
	}
	s.mu.Lock()
	if s.handles[e.id] == e {
		full.epoch = e.epoch
		s.handles[e.id] = &full
	}
	s.mu.Unlock()
	return &full, nil
}

// findObjects returns every token object of a key, by class: key objects
// by CKA_ID, or else the sealed record of a software SM2 key (a data
// object, which has no CKA_ID in PKCS#11) by CKA_APPLICATION and
// CKA_LABEL.
func (s *Store) findObjects(ctx context.Context, sh pkcs11.SessionHandle, id string) (map[uint]pkcs11.ObjectHandle, error) {
	release, err := s.objLock.acquire(ctx, lockFind)
	if err != nil {
		return nil, err
	}
	defer release()
	out := map[uint]pkcs11.ObjectHandle{}
	byID, err := s.findAll(sh, pkcs11.NewAttribute(pkcs11.CKA_ID, []byte(id)), pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true))
	if err != nil {
		return nil, fmt.Errorf("keystore: find %s: %w", id, err)
	}
	for _, h := range byID {
		attrs, err := s.ctx.GetAttributeValue(sh, h, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, nil)})
		if err != nil {
			return nil, fmt.Errorf("keystore: read class of %s: %w", id, err)
		}
		out[uint(bytesToUint(attrs[0].Value))] = h
	}
	if len(out) > 0 {
		return out, nil // a key's ID is either key objects or a sealed record
	}
	data, err := s.findAll(sh, pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_DATA),
		pkcs11.NewAttribute(pkcs11.CKA_APPLICATION, sm2Application), pkcs11.NewAttribute(pkcs11.CKA_LABEL, id),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true))
	if err != nil {
		return nil, fmt.Errorf("keystore: find %s: %w", id, err)
	}
	if len(data) > 0 {
		out[pkcs11.CKO_DATA] = data[0]
	}
	return out, nil
}

// findAll returns up to 8 objects matching the template; a key has at most
// three.
func (s *Store) findAll(sh pkcs11.SessionHandle, template ...*pkcs11.Attribute) ([]pkcs11.ObjectHandle, error) {
	if err := s.findInit(sh, template); err != nil {
		return nil, err
	}
	hs, _, err := s.ctx.FindObjects(sh, 8)
	if ferr := s.ctx.FindObjectsFinal(sh); err == nil {
		err = ferr
	}
	return hs, err
}

// readPublic turns a token public-key object into a Go public key.
func (s *Store) readPublic(sh pkcs11.SessionHandle, h pkcs11.ObjectHandle) (crypto.PublicKey, Algorithm, error) {
	kt, err := s.ctx.GetAttributeValue(sh, h, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, nil)})
	if err != nil {
		return nil, "", err
	}
	switch bytesToUint(kt[0].Value) {
	case pkcs11.CKK_RSA:
		a, err := s.ctx.GetAttributeValue(sh, h, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_MODULUS, nil), pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, nil)})
		if err != nil {
			return nil, "", err
		}
		n := new(big.Int).SetBytes(a[0].Value)
		e := new(big.Int).SetBytes(a[1].Value)
		if !e.IsInt64() || e.Int64() > 1<<31 {
			return nil, "", fmt.Errorf("keystore: RSA exponent out of range")
		}
		pub := &rsa.PublicKey{N: n, E: int(e.Int64())}
		alg, err := rsaAlgorithm(n.BitLen())
		return pub, alg, err
	case pkcs11.CKK_EC:
		a, err := s.ctx.GetAttributeValue(sh, h, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, nil), pkcs11.NewAttribute(pkcs11.CKA_EC_POINT, nil)})
		if err != nil {
			return nil, "", err
		}
		var oid asn1.ObjectIdentifier
		if _, err := asn1.Unmarshal(a[0].Value, &oid); err != nil {
			return nil, "", fmt.Errorf("keystore: EC params: %w", err)
		}
		alg, curve, ok := curveForOID(oid)
		if !ok {
			return nil, "", fmt.Errorf("%w: curve %v", ErrUnsupported, oid)
		}
		pt := a[1].Value
		var inner []byte // SoftHSM returns the point DER-wrapped, as PKCS#11 2.40 says
		if rest, err := asn1.Unmarshal(pt, &inner); err == nil && len(rest) == 0 {
			pt = inner
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(curve, pt)
		if err != nil {
			return nil, "", fmt.Errorf("keystore: EC point: %w", err)
		}
		return pub, alg, nil
	}
	return nil, "", fmt.Errorf("%w: key type %d", ErrUnsupported, bytesToUint(kt[0].Value))
}

func rsaAlgorithm(bits int) (Algorithm, error) {
	for _, a := range []Algorithm{RSA1024, RSA2048, RSA3072, RSA4096} {
		if a.rsaBits() == bits {
			return a, nil
		}
	}
	return "", fmt.Errorf("%w: RSA-%d", ErrUnsupported, bits)
}

var (
	oidP256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}
	oidP384 = asn1.ObjectIdentifier{1, 3, 132, 0, 34}
	oidP521 = asn1.ObjectIdentifier{1, 3, 132, 0, 35}
)

func curveForOID(oid asn1.ObjectIdentifier) (Algorithm, elliptic.Curve, bool) {
	switch {
	case oid.Equal(oidP256):
		return ECP256, elliptic.P256(), true
	case oid.Equal(oidP384):
		return ECP384, elliptic.P384(), true
	case oid.Equal(oidP521):
		return ECP521, elliptic.P521(), true
	}
	return "", nil, false
}

func curveOID(a Algorithm) (asn1.ObjectIdentifier, bool) {
	switch a {
	case ECP256:
		return oidP256, true
	case ECP384:
		return oidP384, true
	case ECP521:
		return oidP521, true
	}
	return nil, false
}

// bytesToUint decodes a CK_ULONG attribute value (native byte order).
func bytesToUint(b []byte) uint64 {
	switch len(b) {
	case 8:
		return binary.NativeEndian.Uint64(b)
	case 4:
		return uint64(binary.NativeEndian.Uint32(b))
	}
	return 0
}

// Public returns the public key of a key.
func (s *Store) Public(ctx context.Context, id string) (crypto.PublicKey, error) {
	var pub crypto.PublicKey
	err := s.withSession(ctx, func(sh pkcs11.SessionHandle, _ bool) error {
		e, err := s.lookup(ctx, sh, id)
		if err == nil {
			pub = e.public
		}
		return err
	})
	return pub, err
}
