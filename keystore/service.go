package keystore

import (
	"context"
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

// ensureServiceKeys finds the newest KEK and the wrapping key, creating them
// on a fresh token.
func (s *Store) ensureServiceKeys(ctx context.Context) error {
	return s.withSession(ctx, func(sh pkcs11.SessionHandle, _ bool) error {
		var v uint32
		for {
			objs, err := s.findObjects(ctx, sh, kekID(v+1))
			if err != nil {
				return err
			}
			if len(objs) == 0 {
				break
			}
			v++
		}
		if v == 0 {
			if err := s.createSecretKey(ctx, sh, kekID(1), true, false, pkcs11.CKM_AES_GCM); err != nil {
				return err
			}
			v = 1
		}
		s.service.kekVersion = v
		objs, err := s.findObjects(ctx, sh, wrapKeyID)
		if err != nil {
			return err
		}
		if len(objs) == 0 {
			if err := s.createSecretKey(ctx, sh, wrapKeyID, false, true, pkcs11.CKM_AES_KEY_WRAP_PAD); err != nil {
				return err
			}
		}
		if objs, err = s.findObjects(ctx, sh, AuditKeyID); err != nil || len(objs) > 0 {
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

// secretHandle returns the (cached) handle of a service secret key.
func (s *Store) secretHandle(ctx context.Context, sh pkcs11.SessionHandle, id string) (pkcs11.ObjectHandle, error) {
	s.mu.RLock()
	e := s.handles[id]
	s.mu.RUnlock()
	if e != nil {
		return e.priv, nil
	}
	objs, err := s.findObjects(ctx, sh, id)
	if err != nil {
		return 0, err
	}
	h, ok := objs[pkcs11.CKO_SECRET_KEY]
	if !ok {
		if !s.pool.loggedIn(sh) {
			return 0, fmt.Errorf("keystore: find %s: %w", id, pkcs11.Error(pkcs11.CKR_USER_NOT_LOGGED_IN))
		}
		return 0, fmt.Errorf("%w: service key %s", ErrNotFound, id)
	}
	s.mu.Lock()
	s.handles[id] = &keyEntry{id: id, priv: h}
	s.mu.Unlock()
	return h, nil
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
