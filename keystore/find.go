package keystore

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/asn1"
	"encoding/binary"
	"fmt"
	"math/big"

	"github.com/miekg/pkcs11"
)

// lookup returns the cached entry for id, finding it in the token on a miss.
func (s *Store) lookup(ctx context.Context, sh pkcs11.SessionHandle, id string) (*keyEntry, error) {
	s.mu.RLock()
	e := s.handles[id]
	s.mu.RUnlock()
	if e != nil {
		return e, nil
	}
	e, err := s.findEntry(ctx, sh, id)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.handles[id] = e
	s.mu.Unlock()
	return e, nil
}

// findObjects returns every object of a key, by class: key objects by
// CKA_ID, and the sealed record of a software SM2 key (a data object, which
// has no CKA_ID in PKCS#11) by CKA_APPLICATION and CKA_LABEL.
func (s *Store) findObjects(ctx context.Context, sh pkcs11.SessionHandle, id string) (map[uint]pkcs11.ObjectHandle, error) {
	release, err := s.objLock.acquire(ctx, lockFind)
	if err != nil {
		return nil, err
	}
	defer release()
	out := map[uint]pkcs11.ObjectHandle{}
	byID, err := s.findAll(sh, pkcs11.NewAttribute(pkcs11.CKA_ID, []byte(id)))
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
	data, err := s.findAll(sh, pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_DATA),
		pkcs11.NewAttribute(pkcs11.CKA_APPLICATION, sm2Application), pkcs11.NewAttribute(pkcs11.CKA_LABEL, id))
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
	if err := s.ctx.FindObjectsInit(sh, template); err != nil {
		return nil, err
	}
	hs, _, err := s.ctx.FindObjects(sh, 8)
	if ferr := s.ctx.FindObjectsFinal(sh); err == nil {
		err = ferr
	}
	return hs, err
}

func (s *Store) findEntry(ctx context.Context, sh pkcs11.SessionHandle, id string) (*keyEntry, error) {
	objs, err := s.findObjects(ctx, sh, id)
	if err != nil {
		return nil, err
	}
	e := &keyEntry{id: id}
	if h, ok := objs[pkcs11.CKO_DATA]; ok {
		rec, pub, err := s.readSoftwareRecord(sh, h)
		if err != nil {
			return nil, err
		}
		e.data, e.soft, e.alg, e.public = h, rec, SM2, pub
		return e, nil
	}
	priv, okPriv := objs[pkcs11.CKO_PRIVATE_KEY]
	pub, okPub := objs[pkcs11.CKO_PUBLIC_KEY]
	if !okPriv || !okPub {
		// A session that lost its login sees no private objects and gets
		// no error for it: report the lost login so the caller recovers.
		if !s.pool.loggedIn(sh) {
			return nil, fmt.Errorf("keystore: find %s: %w", id, pkcs11.Error(pkcs11.CKR_USER_NOT_LOGGED_IN))
		}
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	e.priv, e.pub = priv, pub
	if e.public, e.alg, err = s.readPublic(sh, pub); err != nil {
		return nil, fmt.Errorf("keystore: read public key %s: %w", id, err)
	}
	return e, nil
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
