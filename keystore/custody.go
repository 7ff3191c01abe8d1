package keystore

import (
	"context"
	"fmt"

	"github.com/miekg/pkcs11"
)

// Custody is the custody proof of a key, read live from the token: what a
// compliance auditor asks for. For a SOFTWARE key the token flags are all
// false (they would describe the KEK, not the key) and Exportable says what
// the sealed record allows.
type Custody struct {
	KeyID            string
	Algorithm        Algorithm
	ProtectionLevel  ProtectionLevel
	URI              string // RFC 7512 PKCS#11 URI
	Token            bool   // CKA_TOKEN: persistent token object
	Sensitive        bool   // CKA_SENSITIVE
	Extractable      bool   // CKA_EXTRACTABLE
	AlwaysSensitive  bool   // CKA_ALWAYS_SENSITIVE
	NeverExtractable bool   // CKA_NEVER_EXTRACTABLE
	Exportable       bool   // whether Export can ever succeed
}

// Custody reads a key's custody attributes from the token.
func (s *Store) Custody(ctx context.Context, id string) (*Custody, error) {
	var c *Custody
	err := s.withSession(ctx, func(sh pkcs11.SessionHandle, _ bool) error {
		e, err := s.lookup(ctx, sh, id)
		if err != nil {
			return err
		}
		c = &Custody{KeyID: id, Algorithm: e.alg, URI: s.URI(id)}
		if e.soft != nil {
			c.ProtectionLevel, c.Exportable = ProtectionSoftware, e.soft.Exportable
			return nil
		}
		a, err := s.ctx.GetAttributeValue(sh, e.priv, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, nil),
			pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, nil),
			pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, nil),
			pkcs11.NewAttribute(pkcs11.CKA_ALWAYS_SENSITIVE, nil),
			pkcs11.NewAttribute(pkcs11.CKA_NEVER_EXTRACTABLE, nil),
		})
		if err != nil {
			return fmt.Errorf("keystore: read custody attributes of %s: %w", id, err)
		}
		c.ProtectionLevel = ProtectionHSM
		c.Token, c.Sensitive, c.Extractable = attrBool(a[0]), attrBool(a[1]), attrBool(a[2])
		c.AlwaysSensitive, c.NeverExtractable = attrBool(a[3]), attrBool(a[4])
		c.Exportable = c.Extractable
		return nil
	})
	return c, err
}

// Info summarises the open token for `token status`.
type Info struct {
	Label, Manufacturer, Model string
	Slot                       uint
	Mechanisms                 []uint
	KeyCount                   int // private keys and sealed SM2 keys (the audit key included)
	MaxSessions                int
}

// Info reads the token's description and counts application keys.
func (s *Store) Info(ctx context.Context) (*Info, error) {
	ti, err := s.ctx.GetTokenInfo(s.slot)
	if err != nil {
		return nil, fmt.Errorf("keystore: C_GetTokenInfo: %w", err)
	}
	info := &Info{Label: ti.Label, Manufacturer: ti.ManufacturerID, Model: ti.Model, Slot: s.slot, Mechanisms: s.Mechanisms(), MaxSessions: s.cfg.MaxSessions}
	err = s.withSession(ctx, func(sh pkcs11.SessionHandle, _ bool) error {
		release, err := s.objLock.acquire(ctx, lockFind)
		if err != nil {
			return err
		}
		defer release()
		count := 0
		for _, class := range []uint{pkcs11.CKO_PRIVATE_KEY, pkcs11.CKO_DATA} {
			if err := s.ctx.FindObjectsInit(sh, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, class)}); err != nil {
				return err
			}
			for {
				hs, _, err := s.ctx.FindObjects(sh, 256)
				if err != nil {
					_ = s.ctx.FindObjectsFinal(sh)
					return err
				}
				if len(hs) == 0 {
					break
				}
				count += len(hs)
			}
			if err := s.ctx.FindObjectsFinal(sh); err != nil {
				return err
			}
		}
		info.KeyCount = count
		return nil
	})
	return info, err
}
