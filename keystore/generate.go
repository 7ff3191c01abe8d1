package keystore

import (
	"context"
	"crypto"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/miekg/pkcs11"
)

// GenerateRequest asks for a new key pair.
type GenerateRequest struct {
	ID         string    // our key ID; becomes CKA_ID and CKA_LABEL; must be unused
	Algorithm  Algorithm // RSA_*, EC_P256/384/521 or EC_SM2
	Purpose    Purpose   // fixes the template
	Exportable bool      // CKA_EXTRACTABLE for PurposeKMS; ignored (false) otherwise
	// RandomID says the caller drew ID at random (certmgr's "kms-<uuid>"
	// and "ca-<uuid>": at least 62 random bits beside a timestamp), so no
	// other node can have made a key with it: the first attempt checks the
	// index only, not the token (a find is linear in the token's object
	// count). Without it, and on every retry, a find by CKA_ID proves the
	// ID free (or, on a retry, removes what the failed attempt left).
	RandomID bool
}

// Key describes a generated key.
type Key struct {
	ID              string
	Algorithm       Algorithm
	Public          crypto.PublicKey // *rsa.PublicKey, *ecdsa.PublicKey or *sm2.PublicKey
	ProtectionLevel ProtectionLevel
}

const serviceIDPrefix = "certcustody-"

// Generate creates a key pair in the token with the fixed template for its
// purpose. An ID already present in the token is refused (ErrKeyExists).
func (s *Store) Generate(ctx context.Context, req GenerateRequest) (*Key, error) {
	k, err := s.generate(ctx, req)
	s.used(ctx, OpGenerate, req.ID, generateMechanism(req.Algorithm), err)
	return k, err
}

func (s *Store) generate(ctx context.Context, req GenerateRequest) (*Key, error) {
	// Service IDs are ours alone; the one service key made on demand is
	// the TLS key, and it has exactly one ID and one purpose.
	tlsKey := req.ID == TLSKeyID && req.Purpose == PurposeTLS
	if !ValidKeyID(req.ID) || (strings.HasPrefix(req.ID, serviceIDPrefix) && !tlsKey) {
		return nil, fmt.Errorf("keystore: invalid key ID %q", req.ID)
	}
	if req.Purpose != PurposeKMS && req.Purpose != PurposeCA && req.Purpose != PurposeSign && !tlsKey {
		return nil, fmt.Errorf("%w: purpose %v", ErrUnsupported, req.Purpose)
	}
	if tlsKey && !slices.Contains(TLSAlgorithms, req.Algorithm) {
		return nil, fmt.Errorf("%w: TLS key algorithm %q (have %v)", ErrUnsupported, req.Algorithm, TLSAlgorithms)
	}
	if req.Purpose != PurposeKMS {
		req.Exportable = false
	}
	select {
	case s.keygen <- struct{}{}:
		defer func() { <-s.keygen }()
	case <-ctx.Done():
		return nil, fmt.Errorf("keystore: waiting to generate a key: %w", ctx.Err())
	}
	if req.Algorithm == SM2 {
		return s.generateSM2(ctx, req)
	}
	pubT, privT, mech, err := keyTemplates(req.ID, objectLabel(req.ID, time.Now()), req.Algorithm, req.Purpose, req.Exportable)
	if err != nil {
		return nil, err
	}
	var entry *keyEntry
	err = s.withSession(ctx, func(sh pkcs11.SessionHandle, retry bool) error {
		// A retry after a lost session removes what the first attempt may
		// have left, so the retry cannot create a duplicate ID.
		if err := s.checkAbsent(ctx, sh, req, retry); err != nil {
			return err
		}
		var pubH, privH pkcs11.ObjectHandle
		generate := func() error {
			return s.locked(ctx, lockCreate, func() (err error) {
				pubH, privH, err = s.generateKeyPair(sh, mech, pubT, privT)
				return err
			})
		}
		err := generate()
		if err != nil && !sessionLost(err) && isCKR(err, pkcs11.CKR_GENERAL_ERROR, pkcs11.CKR_FUNCTION_FAILED) {
			// A token fault in the middle of creating objects: try once
			// more, but only after a find by CKA_ID shows nothing left.
			if ferr := s.ensureAbsent(ctx, sh, req.ID, true); ferr != nil {
				return fmt.Errorf("keystore: generate %s key: %w (then: %v)", req.Algorithm, err, ferr)
			}
			s.keygenRetries.Add(1)
			err = generate()
		}
		if err != nil {
			return fmt.Errorf("keystore: generate %s key: %w", req.Algorithm, err)
		}
		pub, _, err := s.readPublic(sh, pubH)
		if err != nil {
			_ = s.locked(ctx, lockDestroy, func() error {
				_ = s.ctx.DestroyObject(sh, privH)
				_ = s.ctx.DestroyObject(sh, pubH)
				return nil
			})
			return fmt.Errorf("keystore: read new public key: %w", err)
		}
		entry = &keyEntry{id: req.ID, alg: req.Algorithm, priv: privH, pub: pubH, public: pub}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.index(entry, s.trustEpoch.Load()) // made just now: right whatever went stale before
	return &Key{ID: req.ID, Algorithm: req.Algorithm, Public: entry.public, ProtectionLevel: ProtectionHSM}, nil
}

// generateKeyPair is C_GenerateKeyPair, through the test's fault injector
// when one is set.
func (s *Store) generateKeyPair(sh pkcs11.SessionHandle, mech uint, pubT, privT []*pkcs11.Attribute) (pkcs11.ObjectHandle, pkcs11.ObjectHandle, error) {
	call := func() (pkcs11.ObjectHandle, pkcs11.ObjectHandle, error) {
		return s.ctx.GenerateKeyPair(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(mech, nil)}, pubT, privT)
	}
	if s.keygenFault != nil {
		return s.keygenFault(call)
	}
	return call()
}

// Destroy removes every token object of a key. A missing key is ErrNotFound.
func (s *Store) Destroy(ctx context.Context, id string) error {
	err := s.destroy(ctx, id)
	s.used(ctx, OpDestroy, id, "", err)
	return err
}

func (s *Store) destroy(ctx context.Context, id string) error {
	return s.withSession(ctx, func(sh pkcs11.SessionHandle, _ bool) error {
		objs, err := s.keyObjects(ctx, sh, id)
		if err != nil {
			return err
		}
		s.unindex(id, nil)
		return s.destroyObjects(ctx, sh, id, objs)
	})
}

// destroyObjects destroys token objects of one key under the destroy lock.
func (s *Store) destroyObjects(ctx context.Context, sh pkcs11.SessionHandle, id string, objs map[uint]pkcs11.ObjectHandle) error {
	return s.locked(ctx, lockDestroy, func() error {
		for _, h := range objs {
			if err := s.ctx.DestroyObject(sh, h); err != nil {
				return fmt.Errorf("keystore: destroy %s: %w", id, err)
			}
		}
		return nil
	})
}

// checkAbsent is the check before a generation: for a random ID on a first
// attempt the index alone (see GenerateRequest.RandomID), otherwise
// ensureAbsent.
func (s *Store) checkAbsent(ctx context.Context, sh pkcs11.SessionHandle, req GenerateRequest, retry bool) error {
	if req.RandomID && !retry {
		if s.indexed(req.ID) != nil {
			return fmt.Errorf("%w: %s", ErrKeyExists, req.ID)
		}
		return nil
	}
	return s.ensureAbsent(ctx, sh, req.ID, retry)
}

// ensureAbsent checks that the token holds no object of id. With cleanup,
// objects found are what a failed attempt of ours left behind (the ID was
// free when we started): they are destroyed and the find repeated, which
// must then show nothing. Without cleanup, a found object is ErrKeyExists.
func (s *Store) ensureAbsent(ctx context.Context, sh pkcs11.SessionHandle, id string, cleanup bool) error {
	existing, err := s.findObjects(ctx, sh, id)
	if err != nil || len(existing) == 0 {
		return err
	}
	if !cleanup {
		return fmt.Errorf("%w: %s", ErrKeyExists, id)
	}
	if err := s.destroyObjects(ctx, sh, id, existing); err != nil {
		return fmt.Errorf("keystore: remove partial key %s: %w", id, err)
	}
	if left, err := s.findObjects(ctx, sh, id); err != nil || len(left) > 0 {
		if err == nil {
			err = fmt.Errorf("keystore: %d objects of %s remain after removal", len(left), id)
		}
		return err
	}
	return nil
}

// Exists reports whether the token holds a key with this ID. It asks the
// token (a find), not the index: it is for checks and tests, not requests.
func (s *Store) Exists(ctx context.Context, id string) (bool, error) {
	var found bool
	err := s.withSession(ctx, func(sh pkcs11.SessionHandle, _ bool) error {
		objs, err := s.findObjects(ctx, sh, id)
		found = len(objs) > 0
		return err
	})
	return found, err
}
