package keystore

import (
	"bytes"
	"context"
	"crypto"
	"fmt"

	"github.com/miekg/pkcs11"
)

// Wrapped custody for KMS keys: the second custody class, for fleets too
// large for token objects (SoftHSM keeps a file per object and searches
// them linearly; HSMs cap their objects in the low thousands). The key
// pair is generated in the token as session objects, exactly as a Private
// CA end-entity key (GenerateWrapped), wrapped under the token's wrapping
// key, and destroyed in the token. Unlike an end-entity key it is then
// sealed under the KEK with AAD naming its account, key ID and
// exportability: AES key wrap carries no AAD, and without the seal a blob
// copied to another row would sign for it, or a row's exportable flag
// could be flipped to let a non-exportable key out. Each use opens the
// seal (a KEK decryption) and unwraps the key into a sensitive session
// object whose CKA_EXTRACTABLE is the key's exportability, so the token
// refuses C_WrapKey on a non-exportable key's object; a bounded LRU
// (unwrapCache) keeps recently used objects between uses.
//
// What the class gives up, and KeyCustody says: the key had to be
// extractable once (to be wrapped), so CKA_NEVER_EXTRACTABLE and
// CKA_ALWAYS_SENSITIVE cannot hold for it, and the token cannot prove
// that no other copy was made; non-exportability rests on this code and
// the sealed flag, not on the token's own record.

// ClassWrapped: a KMS key kept outside the token, wrapped under the
// wrapping key and sealed under the KEK; unwrapped into a session object
// for each use. KeyCustody reports the unwrapped object's live attributes.
const ClassWrapped KeyClass = "WRAPPED"

// wrappedKMSPurpose is the AAD purpose of a wrapped-class KMS key's seal.
const wrappedKMSPurpose = "kms-wrapped-key"

// unwrappedLabelPrefix starts the CKA_LABEL of an unwrapped session object;
// '/' is outside our key ID scheme, so ListKeys never takes it for a key.
const unwrappedLabelPrefix = "certcustody-unwrapped/"

// WrappedKMSKey is a KMS key of the wrapped custody class, as the
// database row keeps it.
type WrappedKMSKey struct {
	ID         string           // our key ID ("kms-<uuid>"); never a token object's CKA_ID
	Account    string           // the owning account, bound into the seal
	Algorithm  Algorithm        // RSA_2048, EC_P256, …; not SM2
	Exportable bool             // CKA_EXTRACTABLE of every unwrapped object, bound into the seal
	Public     crypto.PublicKey // the public key (certmgr keeps it in the row's CSR)
	Blob       []byte           // the wrapped key, sealed under the KEK
}

func (k *WrappedKMSKey) aad() AAD {
	return AAD{Purpose: wrappedKMSPurpose, Account: k.Account, KeyID: k.ID, Exportable: k.Exportable}
}

// GenerateWrappedKMS generates a KMS key of the wrapped custody class for
// account: no token object survives the call. req.Purpose must be
// PurposeKMS; SM2 is refused (on a token without an SM2 mechanism its keys
// are software keys, which this class does not hold).
func (s *Store) GenerateWrappedKMS(ctx context.Context, req GenerateRequest, account string) (*WrappedKMSKey, error) {
	k, err := s.generateWrappedKMS(ctx, req, account)
	s.used(ctx, OpGenerateWrapped, req.ID, generateMechanism(req.Algorithm), err)
	return k, err
}

func (s *Store) generateWrappedKMS(ctx context.Context, req GenerateRequest, account string) (*WrappedKMSKey, error) {
	if !ValidKeyID(req.ID) || IsServiceKeyID(req.ID) {
		return nil, fmt.Errorf("keystore: invalid key ID %q", req.ID)
	}
	if req.Purpose != PurposeKMS {
		return nil, fmt.Errorf("%w: wrapped custody is for KMS keys, not %v", ErrUnsupported, req.Purpose)
	}
	if req.Algorithm == SM2 {
		return nil, fmt.Errorf("%w: EC_SM2 keys are not offered in wrapped custody", ErrUnsupported)
	}
	select {
	case s.keygen <- struct{}{}:
		defer func() { <-s.keygen }()
	case <-ctx.Done():
		return nil, fmt.Errorf("keystore: waiting to generate a key: %w", ctx.Err())
	}
	w, err := s.generateWrapped(ctx, req.Algorithm, AAD{})
	if err != nil {
		return nil, err
	}
	defer clear(w.Blob)
	k := &WrappedKMSKey{ID: req.ID, Account: account, Algorithm: req.Algorithm, Exportable: req.Exportable, Public: w.Public}
	if k.Blob, err = s.Seal(ctx, k.aad(), w.Blob); err != nil {
		return nil, err
	}
	return k, nil
}

// WrappedSigner returns a signer (and decrypter) for a wrapped-class key.
// ctx bounds each token call made through it.
func (s *Store) WrappedSigner(ctx context.Context, k *WrappedKMSKey) (*Signer, error) {
	if k.Algorithm == SM2 || k.Public == nil {
		return nil, fmt.Errorf("%w: wrapped %s key without its public key", ErrUnsupported, k.Algorithm)
	}
	return &Signer{s: s, ctx: ctx, id: k.ID, alg: k.Algorithm, pub: k.Public, wrapped: k}, nil
}

// ExportWrappedKMS returns the PKCS#8 form of an exportable wrapped-class
// key, as Export does for a token key: through C_WrapKey of its unwrapped
// object, which the token refuses for a key created non-exportable
// (ErrNotExportable).
func (s *Store) ExportWrappedKMS(ctx context.Context, k *WrappedKMSKey) ([]byte, error) {
	var wrapped, kek []byte
	err := s.withUnwrapped(ctx, k, func(sh pkcs11.SessionHandle, h pkcs11.ObjectHandle) (err error) {
		wrapped, kek, err = s.exportObject(sh, k.ID, h)
		return err
	})
	s.used(ctx, OpExport, k.ID, mechAESWrapPad, err)
	if err != nil {
		return nil, err
	}
	return exportedDER(k.ID, wrapped, kek)
}

// WrappedCustody reports a wrapped-class key's custody: the live
// attributes of its unwrapped session object, with Class WRAPPED. The
// token reports CKA_NEVER_EXTRACTABLE and CKA_ALWAYS_SENSITIVE false for
// it, and they are reported as the token says.
func (s *Store) WrappedCustody(ctx context.Context, k *WrappedKMSKey) (*KeyCustody, error) {
	var c *KeyCustody
	err := s.withUnwrapped(ctx, k, func(sh pkcs11.SessionHandle, h pkcs11.ObjectHandle) (err error) {
		c, err = s.custodyOf(sh, k.ID, map[uint]pkcs11.ObjectHandle{pkcs11.CKO_PRIVATE_KEY: h})
		return err
	})
	if err != nil {
		return nil, err
	}
	c.Class, c.ProtectionLevel, c.Objects, c.URI, c.CreatedAt = ClassWrapped, ProtectionHSM, []string{}, "", nil
	c.WrappedUnder, c.SealedUnder = wrapKeyID, kekOf(k.Blob)
	c.Exportable = k.Exportable && c.Extractable
	c.Note = "wrapped custody: generated in the token, kept outside it only wrapped under " + wrapKeyID +
		" and sealed under " + c.SealedUnder + ", unwrapped into a sensitive session object for each use; " +
		"the key was extractable to be wrapped, so CKA_NEVER_EXTRACTABLE and CKA_ALWAYS_SENSITIVE cannot hold for it"
	return c, nil
}

// ForgetWrapped destroys the unwrapped object of a wrapped-class key, if
// this Store holds one: for a deleted key. Other nodes' objects of it
// leave their caches in time; certmgr refuses every use of a deleted key.
func (s *Store) ForgetWrapped(ctx context.Context, id string) {
	if h, ok := s.unwrapped.drop(id, nil); ok {
		s.destroySessionObjects(ctx, h)
	}
}

// withUnwrapped runs fn with the unwrapped session object of k, from the
// cache or unwrapped now. An object the token no longer knows (its session
// was lost), or whose handle names another object, is dropped and the key
// unwrapped again, once.
func (s *Store) withUnwrapped(ctx context.Context, k *WrappedKMSKey, fn func(sh pkcs11.SessionHandle, h pkcs11.ObjectHandle) error) error {
	for attempt := 0; ; attempt++ {
		u, err := s.unwrap(ctx, k)
		if err != nil {
			return err
		}
		stale := false
		err = s.withSession(ctx, func(sh pkcs11.SessionHandle, _ bool) error {
			ok, err := s.verifyUnwrapped(sh, u)
			if err != nil {
				return err
			}
			if stale = !ok; stale {
				return nil
			}
			err = fn(sh, u.h)
			stale = handleStale(err)
			return err
		})
		if s.unwrapped.release(u) {
			s.destroySessionObjects(ctx, u.h)
		}
		if !stale || attempt > 0 {
			if stale && err == nil {
				err = fmt.Errorf("keystore: the unwrapped object of %s vanished twice", k.ID)
			}
			return err
		}
		s.unwrapped.drop(k.ID, u) // dead: nothing to destroy
	}
}

// unwrap returns k's cached session object, held, or opens k's seal and
// unwraps it into a new one. The unwrap is a use of the wrapping key and
// the seal's opening one of the KEK: both are reported to the observers.
func (s *Store) unwrap(ctx context.Context, k *WrappedKMSKey) (*unwrapped, error) {
	if u := s.unwrapped.get(k.ID); u != nil {
		return u, nil
	}
	wrapped, err := s.Open(ctx, k.aad(), k.Blob)
	if err != nil {
		return nil, err
	}
	defer clear(wrapped)
	template, err := unwrapTemplate(k)
	if err != nil {
		return nil, err
	}
	var h pkcs11.ObjectHandle
	err = s.withSession(ctx, func(sh pkcs11.SessionHandle, _ bool) error {
		wk, err := s.secretHandle(ctx, sh, wrapKeyID)
		if err != nil {
			return err
		}
		if h, err = s.unwrapPrivate(sh, wk, wrapped, template); err != nil {
			return err
		}
		h, err = s.freeze(sh, h)
		return err
	})
	s.used(ctx, OpUnwrap, k.ID, mechAESWrapPad, err)
	if err != nil {
		return nil, err
	}
	s.unwrapped.unwraps.Add(1)
	u, destroy := s.unwrapped.put(k.ID, h)
	s.destroySessionObjects(ctx, destroy...)
	return u, nil
}

// freeze replaces the unwrapped object h with a copy whose CKA_MODIFIABLE
// is false, so no session can change its usage flags or label for as long
// as it lives. The unwrap template cannot say so itself (SoftHSM 2.6.1
// refuses CKA_MODIFIABLE there, CKR_ATTRIBUTE_READ_ONLY); PKCS#11 lets a
// copy turn it off. It costs one copy per unwrap, not per use (the cache
// keeps the copy). The copy keeps every other attribute, CKA_SENSITIVE and
// CKA_EXTRACTABLE included. A token that will not make such a copy (the
// function unsupported, CKA_COPYABLE off by its policy, or the attribute
// refused in a copy template) keeps h as it is, and the key's custody
// report says Modifiable, as the token does.
func (s *Store) freeze(sh pkcs11.SessionHandle, h pkcs11.ObjectHandle) (pkcs11.ObjectHandle, error) {
	cp, err := s.ctx.CopyObject(sh, h, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_MODIFIABLE, false)})
	if isCKR(err, pkcs11.CKR_FUNCTION_NOT_SUPPORTED, pkcs11.CKR_ACTION_PROHIBITED, pkcs11.CKR_ATTRIBUTE_READ_ONLY,
		pkcs11.CKR_TEMPLATE_INCONSISTENT, pkcs11.CKR_ATTRIBUTE_TYPE_INVALID, pkcs11.CKR_ATTRIBUTE_VALUE_INVALID) {
		return h, nil
	}
	_ = s.ctx.DestroyObject(sh, h)
	if err != nil {
		return 0, fmt.Errorf("keystore: make the unwrapped key unmodifiable: %w", err)
	}
	return cp, nil
}

// unwrapTemplate is the KMS private-key template of k (keyTemplates: every
// usage attribute explicit, the allowed mechanisms) as a session object:
// sensitive, extractable only when k is exportable, labelled for
// verifyUnwrapped, without CKA_ID (it is no token key of that ID) and
// without CKA_MODIFIABLE (SoftHSM 2.6.1 refuses it in an unwrap template;
// freeze turns it off on a copy).
func unwrapTemplate(k *WrappedKMSKey) ([]*pkcs11.Attribute, error) {
	_, privT, _, err := keyTemplates(k.ID, "", k.Algorithm, PurposeKMS, k.Exportable)
	if err != nil {
		return nil, err
	}
	out := []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_LABEL, unwrappedLabelPrefix+k.ID)}
	for _, a := range sessionTemplate(privT) {
		if a.Type != pkcs11.CKA_MODIFIABLE {
			out = append(out, a)
		}
	}
	return out, nil
}

// verifyUnwrapped reports whether u's handle still names u's object: a
// private key labelled for its key ID.
func (s *Store) verifyUnwrapped(sh pkcs11.SessionHandle, u *unwrapped) (bool, error) {
	a, err := s.ctx.GetAttributeValue(sh, u.h, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, nil), pkcs11.NewAttribute(pkcs11.CKA_LABEL, nil)})
	if handleStale(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("keystore: verify unwrapped object of %s: %w", u.id, err)
	}
	return bytesToUint(a[0].Value) == pkcs11.CKO_PRIVATE_KEY && bytes.Equal(a[1].Value, []byte(unwrappedLabelPrefix+u.id)), nil
}

// destroySessionObjects destroys session objects; they need no objectLock
// (SoftHSM keeps them in memory, not in object files). A failure only
// leaves an object until its session closes.
func (s *Store) destroySessionObjects(ctx context.Context, hs ...pkcs11.ObjectHandle) {
	if len(hs) == 0 {
		return
	}
	_ = s.withSession(context.WithoutCancel(ctx), func(sh pkcs11.SessionHandle, _ bool) error {
		for _, h := range hs {
			_ = s.ctx.DestroyObject(sh, h)
		}
		return nil
	})
}
