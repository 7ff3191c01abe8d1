package keystore

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"fmt"
	"io"
	"math/big"

	"github.com/miekg/pkcs11"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Signer is a crypto.Signer over a token key. For RSA and ECDSA keys Sign
// takes a digest, as crypto.Signer says. For SM2 keys Sign follows gmsm's
// *sm2.PrivateKey: it takes the whole message and computes Z (default user
// ID) and SM3 itself, so gmsm's x509 can use it unchanged; SignDigest signs a
// precomputed e = SM3(Z‖M).
type Signer struct {
	s   *Store
	ctx context.Context
	id  string
	alg Algorithm
	pub crypto.PublicKey
	// wrapped is set for a wrapped-class key: each token call runs on its
	// unwrapped session object instead of a token object.
	wrapped *WrappedKMSKey
}

var (
	_ crypto.Signer    = (*Signer)(nil)
	_ crypto.Decrypter = (*Signer)(nil)
)

// Signer returns a signer (and decrypter) for a key. ctx bounds each token
// call made through it.
func (s *Store) Signer(ctx context.Context, id string) (*Signer, error) {
	var e *keyEntry
	err := s.withSession(ctx, func(sh pkcs11.SessionHandle, _ bool) (err error) {
		e, err = s.lookup(ctx, sh, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &Signer{s: s, ctx: ctx, id: id, alg: e.alg, pub: e.public}, nil
}

// Public returns the key's public half.
func (k *Signer) Public() crypto.PublicKey { return k.pub }

// Algorithm returns the key's algorithm.
func (k *Signer) Algorithm() Algorithm { return k.alg }

// ID returns our key ID.
func (k *Signer) ID() string { return k.id }

// Sign signs digest (msg for SM2) with the token key.
func (k *Signer) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) (sig []byte, err error) {
	defer func() { k.s.used(k.ctx, OpSign, k.id, signMechanism(k.alg, opts), err) }()
	switch pub := k.pub.(type) {
	case *rsa.PublicKey:
		mech, input, err := rsaSignMechanism(pub, digest, opts)
		if err != nil {
			return nil, err
		}
		return k.tokenSign(mech, input)
	case *ecdsa.PublicKey:
		raw, err := k.tokenSign(pkcs11.NewMechanism(pkcs11.CKM_ECDSA, nil), digest)
		if err != nil {
			return nil, err
		}
		return ecdsaRawToDER(raw)
	}
	if k.alg == SM2 {
		return k.s.sm2Sign(k.ctx, k.id, rand, digest)
	}
	return nil, fmt.Errorf("%w: signing with %s", ErrUnsupported, k.alg)
}

// SignDigest signs e = SM3(Z‖M) with an SM2 key (KMS MessageType=DIGEST).
func (k *Signer) SignDigest(rand io.Reader, e []byte) (sig []byte, err error) {
	defer func() { k.s.used(k.ctx, OpSign, k.id, mechSM2Software, err) }()
	if k.alg != SM2 {
		return nil, fmt.Errorf("%w: SignDigest on %s", ErrUnsupported, k.alg)
	}
	return k.s.sm2SignDigest(k.ctx, k.id, rand, e)
}

// withKey runs fn with the private key object: the token key's indexed
// handle, or a wrapped-class key's unwrapped session object.
func (k *Signer) withKey(fn func(sh pkcs11.SessionHandle, priv pkcs11.ObjectHandle) error) error {
	if k.wrapped != nil {
		return k.s.withUnwrapped(k.ctx, k.wrapped, fn)
	}
	return k.s.withSession(k.ctx, func(sh pkcs11.SessionHandle, _ bool) error {
		e, err := k.s.lookup(k.ctx, sh, k.id)
		if err != nil {
			return err
		}
		return fn(sh, e.priv)
	})
}

func (k *Signer) tokenSign(mech *pkcs11.Mechanism, input []byte) ([]byte, error) {
	var sig []byte
	err := k.withKey(func(sh pkcs11.SessionHandle, priv pkcs11.ObjectHandle) error {
		if err := k.s.ctx.SignInit(sh, []*pkcs11.Mechanism{mech}, priv); err != nil {
			return fmt.Errorf("keystore: sign with %s: %w", k.id, err)
		}
		var err error
		sig, err = k.s.ctx.Sign(sh, input)
		if err != nil {
			return fmt.Errorf("keystore: sign with %s: %w", k.id, err)
		}
		return nil
	})
	return sig, err
}

// digestInfoPrefix is the DER DigestInfo header CKM_RSA_PKCS expects in
// front of the hash (RFC 8017 §9.2 note 1).
var digestInfoPrefix = map[crypto.Hash][]byte{
	crypto.SHA1:   {0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14},
	crypto.SHA224: {0x30, 0x2d, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x04, 0x05, 0x00, 0x04, 0x1c},
	crypto.SHA256: {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20},
	crypto.SHA384: {0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30},
	crypto.SHA512: {0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40},
}

var pssHash = map[crypto.Hash][2]uint{
	crypto.SHA1:   {pkcs11.CKM_SHA_1, pkcs11.CKG_MGF1_SHA1},
	crypto.SHA224: {pkcs11.CKM_SHA224, pkcs11.CKG_MGF1_SHA224},
	crypto.SHA256: {pkcs11.CKM_SHA256, pkcs11.CKG_MGF1_SHA256},
	crypto.SHA384: {pkcs11.CKM_SHA384, pkcs11.CKG_MGF1_SHA384},
	crypto.SHA512: {pkcs11.CKM_SHA512, pkcs11.CKG_MGF1_SHA512},
}

func rsaSignMechanism(pub *rsa.PublicKey, digest []byte, opts crypto.SignerOpts) (*pkcs11.Mechanism, []byte, error) {
	h := opts.HashFunc()
	if h != 0 && len(digest) != h.Size() {
		return nil, nil, fmt.Errorf("keystore: digest is %d bytes, %v needs %d", len(digest), h, h.Size())
	}
	if pss, ok := opts.(*rsa.PSSOptions); ok {
		hm, ok := pssHash[h]
		if !ok {
			return nil, nil, fmt.Errorf("%w: PSS with %v", ErrUnsupported, h)
		}
		salt := pss.SaltLength
		switch salt {
		case rsa.PSSSaltLengthEqualsHash, rsa.PSSSaltLengthAuto:
			salt = h.Size() // a 32-byte salt for SHA-256, as DESIGN.md fixes
		}
		if salt < 0 || salt > (pub.N.BitLen()-1+7)/8-h.Size()-2 {
			return nil, nil, fmt.Errorf("keystore: PSS salt length %d out of range", pss.SaltLength)
		}
		return pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS_PSS, pkcs11.NewPSSParams(hm[0], hm[1], uint(salt))), digest, nil
	}
	if h == 0 { // TLS 1.1 MD5+SHA1: the caller hands over the raw value
		return pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS, nil), digest, nil
	}
	prefix, ok := digestInfoPrefix[h]
	if !ok {
		return nil, nil, fmt.Errorf("%w: PKCS#1 v1.5 with %v", ErrUnsupported, h)
	}
	return pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS, nil), append(append([]byte{}, prefix...), digest...), nil
}

// ecdsaRawToDER converts CKM_ECDSA's r‖s into the ASN.1 form Go and X.509 use.
func ecdsaRawToDER(raw []byte) ([]byte, error) {
	if len(raw) == 0 || len(raw)%2 != 0 {
		return nil, fmt.Errorf("keystore: malformed ECDSA signature from token (%d bytes)", len(raw))
	}
	r := new(big.Int).SetBytes(raw[:len(raw)/2])
	s := new(big.Int).SetBytes(raw[len(raw)/2:])
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1BigInt(r)
		b.AddASN1BigInt(s)
	})
	return b.Bytes()
}
