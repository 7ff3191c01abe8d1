package keystore

import (
	"context"
	"crypto"
	"fmt"
	"strings"

	"github.com/miekg/pkcs11"
)

// GenerateRequest asks for a new key pair.
type GenerateRequest struct {
	ID         string    // our key ID; becomes CKA_ID and CKA_LABEL; must be unused
	Algorithm  Algorithm // RSA_*, EC_P256/384/521 or EC_SM2
	Purpose    Purpose   // fixes the template
	Exportable bool      // CKA_EXTRACTABLE for PurposeKMS; ignored (false) otherwise
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
	if req.ID == "" || len(req.ID) > 128 || strings.HasPrefix(req.ID, serviceIDPrefix) {
		return nil, fmt.Errorf("keystore: invalid key ID %q", req.ID)
	}
	if req.Purpose != PurposeKMS && req.Purpose != PurposeCA && req.Purpose != PurposeSign {
		return nil, fmt.Errorf("%w: purpose %v", ErrUnsupported, req.Purpose)
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
	pubT, privT, mech, err := keyTemplates(req.ID, req.Algorithm, req.Purpose, req.Exportable)
	if err != nil {
		return nil, err
	}
	var entry *keyEntry
	err = s.withSession(ctx, func(sh pkcs11.SessionHandle, retry bool) error {
		existing, err := s.findObjects(sh, req.ID)
		if err != nil {
			return err
		}
		if len(existing) > 0 {
			if !retry {
				return fmt.Errorf("%w: %s", ErrKeyExists, req.ID)
			}
			// The first attempt lost its session; whatever it left behind
			// is removed so the retry cannot create duplicate IDs.
			for _, h := range existing {
				if err := s.ctx.DestroyObject(sh, h); err != nil {
					return fmt.Errorf("keystore: remove partial key %s: %w", req.ID, err)
				}
			}
		}
		pubH, privH, err := s.ctx.GenerateKeyPair(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(mech, nil)}, pubT, privT)
		if err != nil {
			return fmt.Errorf("keystore: generate %s key: %w", req.Algorithm, err)
		}
		pub, _, err := s.readPublic(sh, pubH)
		if err != nil {
			_ = s.ctx.DestroyObject(sh, privH)
			_ = s.ctx.DestroyObject(sh, pubH)
			return fmt.Errorf("keystore: read new public key: %w", err)
		}
		entry = &keyEntry{id: req.ID, alg: req.Algorithm, priv: privH, pub: pubH, public: pub}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.handles[req.ID] = entry
	s.mu.Unlock()
	return &Key{ID: req.ID, Algorithm: req.Algorithm, Public: entry.public, ProtectionLevel: ProtectionHSM}, nil
}

// Destroy removes every token object of a key. A missing key is ErrNotFound.
func (s *Store) Destroy(ctx context.Context, id string) error {
	err := s.destroy(ctx, id)
	s.used(ctx, OpDestroy, id, "", err)
	return err
}

func (s *Store) destroy(ctx context.Context, id string) error {
	err := s.withSession(ctx, func(sh pkcs11.SessionHandle, _ bool) error {
		objs, err := s.findObjects(sh, id)
		if err != nil {
			return err
		}
		if len(objs) == 0 {
			return fmt.Errorf("%w: %s", ErrNotFound, id)
		}
		for _, h := range objs {
			if err := s.ctx.DestroyObject(sh, h); err != nil {
				return fmt.Errorf("keystore: destroy %s: %w", id, err)
			}
		}
		return nil
	})
	s.mu.Lock()
	delete(s.handles, id)
	s.mu.Unlock()
	return err
}

// Exists reports whether the token holds a key with this ID.
func (s *Store) Exists(ctx context.Context, id string) (bool, error) {
	var found bool
	err := s.withSession(ctx, func(sh pkcs11.SessionHandle, _ bool) error {
		objs, err := s.findObjects(sh, id)
		found = len(objs) > 0
		return err
	})
	return found, err
}
