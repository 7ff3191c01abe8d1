package keystore

import (
	"context"
	"fmt"

	"github.com/miekg/pkcs11"
	gmx509 "github.com/tjfoc/gmsm/x509"
)

// Export returns the PKCS#8 PrivateKeyInfo of an exportable key, for the
// caller to encrypt under its user's password at once. The token does the
// export through C_WrapKey under a one-time AES transport key (a session
// object that exists only for this call); CKA_VALUE of the private key is
// never read. A key created non-exportable gets ErrNotExportable, and the
// token itself refuses to wrap it (CKR_KEY_UNEXTRACTABLE).
func (s *Store) Export(ctx context.Context, id string) ([]byte, error) {
	der, err := s.export(ctx, id)
	s.used(ctx, OpExport, id, mechAESWrapPad, err)
	return der, err
}

func (s *Store) export(ctx context.Context, id string) ([]byte, error) {
	var (
		wrapped, kek []byte
		soft         *softwareRecord
	)
	err := s.withSession(ctx, func(sh pkcs11.SessionHandle, _ bool) error {
		e, err := s.lookup(ctx, sh, id)
		if err != nil {
			return err
		}
		if e.soft != nil {
			soft = e.soft
			return nil
		}
		wrapped, kek, err = s.exportObject(sh, id, e.priv)
		return err
	})
	if err != nil {
		return nil, err
	}
	if soft != nil {
		return s.exportSoftwareSM2(ctx, id, soft)
	}
	return exportedDER(id, wrapped, kek)
}

// exportObject wraps private key object h of key id under a transport key
// if the token says the object is extractable; the token itself refuses
// an unextractable one too (wrapUnderTransportKey).
func (s *Store) exportObject(sh pkcs11.SessionHandle, id string, h pkcs11.ObjectHandle) (wrapped, kek []byte, err error) {
	a, err := s.ctx.GetAttributeValue(sh, h, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, nil)})
	if err != nil {
		return nil, nil, fmt.Errorf("keystore: read CKA_EXTRACTABLE of %s: %w", id, err)
	}
	if !attrBool(a[0]) {
		return nil, nil, fmt.Errorf("%w: %s", ErrNotExportable, id)
	}
	return s.wrapUnderTransportKey(sh, h)
}

// exportedDER undoes the transport wrap of an exported key and clears the
// transport key.
func exportedDER(id string, wrapped, kek []byte) ([]byte, error) {
	defer clear(kek)
	der, err := aesKeyUnwrapPad(kek, wrapped)
	if err != nil {
		return nil, fmt.Errorf("keystore: unwrap exported key %s: %w", id, err)
	}
	return der, nil
}

// wrapUnderTransportKey wraps a private key under a fresh extractable AES
// session key and returns the wrapped bytes and the transport key's value.
func (s *Store) wrapUnderTransportKey(sh pkcs11.SessionHandle, priv pkcs11.ObjectHandle) (wrapped, key []byte, err error) {
	tk, err := s.ctx.GenerateKey(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_GEN, nil)}, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 32),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, false),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, true),
		pkcs11.NewAttribute(pkcs11.CKA_WRAP, true),
		pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, false),
		pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, false),
		pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, false),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN, false),
		pkcs11.NewAttribute(pkcs11.CKA_VERIFY, false),
		pkcs11.NewAttribute(pkcs11.CKA_DERIVE, false),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("keystore: transport key: %w", err)
	}
	defer func() { _ = s.ctx.DestroyObject(sh, tk) }()
	wrapped, err = s.ctx.WrapKey(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_WRAP_PAD, nil)}, tk, priv)
	if err != nil {
		if isCKR(err, pkcs11.CKR_KEY_UNEXTRACTABLE) {
			return nil, nil, fmt.Errorf("%w: the token refused to wrap the key: %v", ErrNotExportable, err)
		}
		return nil, nil, fmt.Errorf("keystore: C_WrapKey: %w", err)
	}
	a, err := s.ctx.GetAttributeValue(sh, tk, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_VALUE, nil)})
	if err != nil {
		return nil, nil, fmt.Errorf("keystore: read transport key: %w", err)
	}
	return wrapped, a[0].Value, nil
}

func (s *Store) exportSoftwareSM2(ctx context.Context, id string, rec *softwareRecord) ([]byte, error) {
	if !rec.Exportable {
		return nil, fmt.Errorf("%w: %s", ErrNotExportable, id)
	}
	d, pub, err := s.unsealSM2(ctx, id, nil)
	if err != nil {
		return nil, err
	}
	defer clear(d)
	priv := sm2Key(pub, d)
	defer wipeInt(priv.D)
	der, err := gmx509.MarshalSm2UnecryptedPrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("keystore: encode SM2 key: %w", err)
	}
	return der, nil
}

func attrBool(a *pkcs11.Attribute) bool { return len(a.Value) == 1 && a.Value[0] != 0 }
