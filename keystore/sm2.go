package keystore

import (
	"context"
	"crypto/rand"
	"encoding/asn1"
	"fmt"
	"io"
	"math/big"
	"time"

	"github.com/miekg/pkcs11"
	"github.com/tjfoc/gmsm/sm2"
)

// Software SM2 custody: PKCS#11 2.40 has no SM2 mechanism, so on such a
// token the key pair is generated in process from token randomness and the
// private scalar is sealed under the KEK at once. The sealed record lives in
// the token as a private CKO_DATA object labelled with the key ID, so lookup,
// destroy and backup treat it like any other key. Each use unseals the scalar
// into memory; the key reports ProtectionLevel SOFTWARE.

const sm2Application = "certcustody-sm2"

// softwareRecord is the CKA_VALUE of the data object.
type softwareRecord struct {
	Point      []byte // uncompressed public point
	Purpose    int
	Exportable bool
	Sealed     []byte // the 32-byte scalar sealed under the KEK
	// Created is when the key was made (records from before it have none:
	// their age is unknown). The label must stay the key ID, so the time
	// lives here.
	Created time.Time `asn1:"optional,generalized"`
}

func (r *softwareRecord) aad(id string) AAD {
	return AAD{Purpose: fmt.Sprintf("sm2-scalar/%d", r.Purpose), KeyID: id, Exportable: r.Exportable}
}

func (s *Store) generateSM2(ctx context.Context, req GenerateRequest) (*Key, error) {
	if s.nativeSM2() {
		return nil, fmt.Errorf("%w: native SM2 mechanism 0x%x is listed by the token, but certcustody does not drive vendor SM2 mechanisms yet; unset keystore.sm2 to use sealed software SM2", ErrUnsupported, s.cfg.SM2.KeyGen)
	}
	if !s.cfg.AllowSoftwareSM2 {
		return nil, fmt.Errorf("%w: the token has no SM2 mechanism and software SM2 custody is not allowed (keystore.allow_software_sm2)", ErrUnsupported)
	}
	priv, err := sm2.GenerateKey(s.Rand(ctx))
	if err != nil {
		return nil, fmt.Errorf("keystore: generate SM2 key: %w", err)
	}
	defer wipeInt(priv.D)
	d := priv.D.FillBytes(make([]byte, 32))
	defer clear(d)
	rec := &softwareRecord{
		Point:      sm2Point(&priv.PublicKey),
		Purpose:    int(req.Purpose),
		Exportable: req.Exportable,
		Created:    time.Now().UTC().Truncate(time.Second),
	}
	if rec.Sealed, err = s.Seal(ctx, rec.aad(req.ID), d); err != nil {
		return nil, err
	}
	value, err := asn1.Marshal(*rec)
	if err != nil {
		return nil, fmt.Errorf("keystore: encode SM2 record: %w", err)
	}
	var h pkcs11.ObjectHandle
	err = s.withSession(ctx, func(sh pkcs11.SessionHandle, retry bool) error {
		if err := s.checkAbsent(ctx, sh, req, retry); err != nil {
			return err
		}
		err := s.locked(ctx, lockCreate, func() (err error) {
			h, err = s.ctx.CreateObject(sh, []*pkcs11.Attribute{
				pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_DATA),
				pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
				pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
				pkcs11.NewAttribute(pkcs11.CKA_MODIFIABLE, false),
				pkcs11.NewAttribute(pkcs11.CKA_LABEL, req.ID),
				pkcs11.NewAttribute(pkcs11.CKA_APPLICATION, sm2Application),
				pkcs11.NewAttribute(pkcs11.CKA_VALUE, value),
			})
			return err
		})
		if err != nil {
			return fmt.Errorf("keystore: store sealed SM2 key: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.index(&keyEntry{id: req.ID, alg: SM2, data: h, public: &priv.PublicKey, soft: rec}, s.trustEpoch.Load())
	return &Key{ID: req.ID, Algorithm: SM2, Public: &sm2.PublicKey{Curve: priv.Curve, X: priv.X, Y: priv.Y}, ProtectionLevel: ProtectionSoftware}, nil
}

func (s *Store) nativeSM2() bool { return s.cfg.SM2.KeyGen != 0 && s.mechs[s.cfg.SM2.KeyGen] }

func sm2Point(pub *sm2.PublicKey) []byte {
	out := make([]byte, 65)
	out[0] = 4
	pub.X.FillBytes(out[1:33])
	pub.Y.FillBytes(out[33:])
	return out
}

func (s *Store) readSoftwareRecord(sh pkcs11.SessionHandle, h pkcs11.ObjectHandle) (*softwareRecord, *sm2.PublicKey, error) {
	a, err := s.ctx.GetAttributeValue(sh, h, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_VALUE, nil)})
	if err != nil {
		return nil, nil, fmt.Errorf("keystore: read SM2 record: %w", err)
	}
	var rec softwareRecord
	if rest, err := asn1.Unmarshal(a[0].Value, &rec); err != nil || len(rest) != 0 {
		return nil, nil, fmt.Errorf("keystore: malformed SM2 record")
	}
	pub, err := parseSM2Point(rec.Point)
	if err != nil {
		return nil, nil, err
	}
	return &rec, pub, nil
}

func parseSM2Point(p []byte) (*sm2.PublicKey, error) {
	if len(p) != 65 || p[0] != 4 {
		return nil, fmt.Errorf("keystore: malformed SM2 point")
	}
	c := sm2.P256Sm2()
	x, y := new(big.Int).SetBytes(p[1:33]), new(big.Int).SetBytes(p[33:])
	//lint:ignore SA1019 gmsm exposes the SM2 curve only as an elliptic.Curve
	if !c.IsOnCurve(x, y) {
		return nil, fmt.Errorf("keystore: SM2 point not on curve")
	}
	return &sm2.PublicKey{Curve: c, X: x, Y: y}, nil
}

// unsealSM2 returns the 32-byte scalar of a software SM2 key and its
// public key; the caller must clear(d) when done. allow, when set, sees the
// record first and may refuse before the scalar is unsealed.
func (s *Store) unsealSM2(ctx context.Context, id string, allow func(*softwareRecord) error) (d []byte, pub *sm2.PublicKey, err error) {
	var e *keyEntry
	err = s.withSession(ctx, func(sh pkcs11.SessionHandle, _ bool) (err error) {
		e, err = s.lookup(ctx, sh, id)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	if e.soft == nil {
		return nil, nil, fmt.Errorf("%w: %s is not a software SM2 key", ErrUnsupported, id)
	}
	if allow != nil {
		if err := allow(e.soft); err != nil {
			return nil, nil, err
		}
	}
	// The purpose is part of the blob's AAD: a record whose purpose was
	// changed no longer unseals.
	d, err = s.Open(ctx, e.soft.aad(id), e.soft.Sealed)
	if err != nil {
		return nil, nil, fmt.Errorf("keystore: unseal SM2 key %s: %w", id, err)
	}
	if len(d) != 32 {
		clear(d)
		return nil, nil, fmt.Errorf("keystore: unseal SM2 key %s: %w", id, ErrSealedBlob)
	}
	return d, e.public.(*sm2.PublicKey), nil
}

// SM2 scalar hygiene. The scalar stays a byte slice, which we can zero,
// for as long as possible. gmsm's signing and PKCS#8 encoding need it as
// a big.Int; clearing a big.Int with SetInt64(0) only shortens it and
// leaves the words in memory, so sm2Key builds the big.Int for the one call
// that needs it and wipeInt zeroes its words afterwards. Temporaries that
// big.Int arithmetic allocates inside gmsm cannot be reached, and so not
// cleared: software custody is weaker than a token, which is why such keys
// report ProtectionLevel SOFTWARE.

// sm2Key builds a gmsm private key from a scalar; the caller must
// wipeInt(priv.D) when done.
func sm2Key(pub *sm2.PublicKey, d []byte) *sm2.PrivateKey {
	return &sm2.PrivateKey{PublicKey: *pub, D: new(big.Int).SetBytes(d)}
}

// wipeInt zeroes the words of x (x.Bits aliases them), then sets x to 0.
func wipeInt(xs ...*big.Int) {
	for _, x := range xs {
		if x != nil {
			clear(x.Bits())
			x.SetInt64(0)
		}
	}
}

func (s *Store) sm2Sign(ctx context.Context, id string, rnd io.Reader, msg []byte) ([]byte, error) {
	d, pub, err := s.unsealSM2(ctx, id, nil)
	if err != nil {
		return nil, err
	}
	defer clear(d)
	priv := sm2Key(pub, d)
	defer wipeInt(priv.D)
	if rnd == nil {
		rnd = rand.Reader
	}
	return priv.Sign(rnd, msg, nil) // Z with the default user ID, then SM3
}

func (s *Store) sm2SignDigest(ctx context.Context, id string, rnd io.Reader, e []byte) ([]byte, error) {
	if len(e) != 32 {
		return nil, fmt.Errorf("keystore: SM2 digest must be 32 bytes, got %d", len(e))
	}
	d, pub, err := s.unsealSM2(ctx, id, nil)
	if err != nil {
		return nil, err
	}
	defer clear(d)
	priv := sm2Key(pub, d)
	defer wipeInt(priv.D)
	if rnd == nil {
		rnd = rand.Reader
	}
	return sm2SignE(priv, e, rnd)
}

// sm2SignE is GM/T 0003.2 §6.1 steps A3–A7 over a given e (gmsm only signs
// whole messages).
func sm2SignE(priv *sm2.PrivateKey, e []byte, rnd io.Reader) ([]byte, error) {
	c := priv.Curve
	n := c.Params().N
	ei := new(big.Int).SetBytes(e)
	one := big.NewInt(1)
	d1 := new(big.Int).Add(priv.D, one)
	dInv := new(big.Int).ModInverse(d1, n)
	defer wipeInt(d1, dInv)
	if dInv == nil {
		return nil, fmt.Errorf("keystore: invalid SM2 private key")
	}
	buf := make([]byte, 40)
	for {
		if _, err := io.ReadFull(rnd, buf); err != nil {
			return nil, fmt.Errorf("keystore: SM2 nonce: %w", err)
		}
		k := new(big.Int).SetBytes(buf)
		clear(buf)
		k.Mod(k, new(big.Int).Sub(n, one)).Add(k, one) // k in [1, n-1]
		//lint:ignore SA1019 gmsm exposes the SM2 curve only as an elliptic.Curve
		x1, _ := c.ScalarBaseMult(k.FillBytes(make([]byte, 32)))
		r := new(big.Int).Add(ei, x1)
		r.Mod(r, n)
		if r.Sign() == 0 || new(big.Int).Add(r, k).Cmp(n) == 0 {
			continue
		}
		sv := new(big.Int).Mul(r, priv.D)
		sv.Sub(k, sv).Mul(sv, dInv).Mod(sv, n)
		wipeInt(k) // the nonce reveals the key with the signature
		if sv.Sign() == 0 {
			continue
		}
		return asn1.Marshal(struct{ R, S *big.Int }{r, sv})
	}
}
