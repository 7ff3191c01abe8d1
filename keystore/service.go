package keystore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/miekg/pkcs11"
)

// Service keys are token objects created on first start, each with a single
// purpose: the KEK seals secrets at rest (ENCRYPT/DECRYPT only), the wrapping
// key wraps service-generated end-entity keys (WRAP/UNWRAP only).
const (
	wrapKeyID = serviceIDPrefix + "wrap-1"
	// AuditKeyID names the P-256, sign-only key that signs audit checkpoints.
	AuditKeyID = serviceIDPrefix + "audit-1"
)

func kekID(version uint32) string { return fmt.Sprintf("%skek-%d", serviceIDPrefix, version) }

type serviceKeys struct {
	mu         sync.Mutex
	kekVersion uint32 // newest KEK; Seal uses it, Open uses the blob's
}

// ensureServiceKeys finds the newest KEK, the wrapping key and the audit
// key in the index built at open, creating them on a fresh token. A key
// the index lacks is looked for in the token once more before it is
// created (another node may be creating it right now).
func (s *Store) ensureServiceKeys(ctx context.Context) error {
	return s.withSession(ctx, func(sh pkcs11.SessionHandle, _ bool) error {
		absent := func(id string) (bool, error) {
			if s.indexed(id) != nil {
				return false, nil
			}
			objs, err := s.findObjects(ctx, sh, id)
			return len(objs) == 0, err
		}
		var v uint32
		for s.indexed(kekID(v+1)) != nil {
			v++
		}
		if v == 0 {
			none, err := absent(kekID(1))
			if err != nil {
				return err
			}
			if none {
				if err := s.createSecretKey(ctx, sh, kekID(1), true, false, pkcs11.CKM_AES_GCM); err != nil {
					return err
				}
			}
			v = 1
			// A KEK made by another node after our scan may have later
			// versions too.
			for !none {
				if none, err = absent(kekID(v + 1)); err != nil {
					return err
				} else if !none {
					v++
				}
			}
		}
		s.service.kekVersion = v
		none, err := absent(wrapKeyID)
		if err != nil {
			return err
		}
		if none {
			if err := s.createSecretKey(ctx, sh, wrapKeyID, false, true, pkcs11.CKM_AES_KEY_WRAP_PAD); err != nil {
				return err
			}
		}
		if none, err = absent(AuditKeyID); err != nil || !none {
			return err
		}
		pubT, privT, mech, err := keyTemplates(AuditKeyID, objectLabel(AuditKeyID, time.Now()), ECP256, PurposeSign, false)
		if err != nil {
			return err
		}
		if err := s.locked(ctx, lockCreate, func() error {
			_, _, err := s.generateKeyPair(sh, mech, pubT, privT)
			return err
		}); err != nil {
			return fmt.Errorf("keystore: create audit key: %w", err)
		}
		return nil
	})
}

func (s *Store) createSecretKey(ctx context.Context, sh pkcs11.SessionHandle, id string, encrypt, wrap bool, allowed ...uint) error {
	err := s.locked(ctx, lockCreate, func() error {
		_, err := s.ctx.GenerateKey(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_GEN, nil)},
			secretKeyTemplate(id, objectLabel(id, time.Now()), encrypt, wrap, allowed...))
		return err
	})
	if err != nil {
		return fmt.Errorf("keystore: create service key %s: %w", id, err)
	}
	return nil
}

// RotateKEK creates a new KEK version; later Seals use it, and blobs sealed
// under older versions still open.
func (s *Store) RotateKEK(ctx context.Context) (uint32, error) {
	s.service.mu.Lock()
	defer s.service.mu.Unlock()
	next := s.service.kekVersion + 1
	err := s.withSession(ctx, func(sh pkcs11.SessionHandle, retry bool) error {
		if retry {
			if objs, err := s.findObjects(ctx, sh, kekID(next)); err != nil || len(objs) > 0 {
				return err
			}
		}
		return s.createSecretKey(ctx, sh, kekID(next), true, false, pkcs11.CKM_AES_GCM)
	})
	if err != nil {
		return 0, err
	}
	s.service.kekVersion = next
	return next, nil
}

// secretHandle returns the handle of a service secret key, from the index
// (checked as index.go says) or found once.
func (s *Store) secretHandle(ctx context.Context, sh pkcs11.SessionHandle, id string) (pkcs11.ObjectHandle, error) {
	e, err := s.entryOf(ctx, sh, id)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return 0, fmt.Errorf("%w: service key %s", ErrNotFound, id)
		}
		return 0, err
	}
	if !e.secret {
		return 0, fmt.Errorf("%w: service key %s is not a secret key", ErrNotFound, id)
	}
	return e.priv, nil
}

// Rand returns a reader over the token's random number generator.
func (s *Store) Rand(ctx context.Context) io.Reader { return tokenRand{s: s, ctx: ctx} }

type tokenRand struct {
	s   *Store
	ctx context.Context
}

func (r tokenRand) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		chunk := min(len(p)-n, 1024)
		err := r.s.withSession(r.ctx, func(sh pkcs11.SessionHandle, _ bool) error {
			b, err := r.s.ctx.GenerateRandom(sh, chunk)
			if err != nil {
				return fmt.Errorf("keystore: C_GenerateRandom: %w", err)
			}
			copy(p[n:], b)
			return nil
		})
		if err != nil {
			return n, err
		}
		n += chunk
	}
	return n, nil
}
