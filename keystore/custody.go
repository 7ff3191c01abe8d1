package keystore

import (
	"context"
	"encoding/asn1"
	"fmt"
	"net/url"
	"sort"
	"time"

	"github.com/miekg/pkcs11"
)

// KeyClass says what holds a key.
type KeyClass string

const (
	// ClassToken: the private (or secret) key is a token object; the token
	// attributes in KeyCustody are the key's own.
	ClassToken KeyClass = "TOKEN"
	// ClassSealed: a software SM2 key whose scalar is sealed under the KEK
	// in a token data object and unsealed into process memory for each use
	// (ProtectionLevel SOFTWARE).
	ClassSealed KeyClass = "SEALED"
)

// KeyCustody is the custody proof of one key, read live from the token:
// what a compliance auditor asks for. It goes as-is into API responses
// (KeyCustody on DescribeCertificate / DescribeCACertificate) and into
// `certcustody token keys`, so its JSON names are part of the contract.
//
// For a TOKEN key the flags are the private (or secret) key object's own
// attributes. For a WRAPPED key (wrapped_kms.go) they are those of the
// session object the key is unwrapped into for use, as the token reports
// them: NeverExtractable and AlwaysSensitive are false, since the key was
// extractable to be wrapped, and Note says so. For a SEALED key no token object holds the key, so the key
// flags (Sensitive, AlwaysSensitive, NeverExtractable, Local, Extractable)
// are false and AllowedMechanisms is empty: the token vouches for none of
// them, and the KEK's attributes are deliberately not reported as the
// key's. Token and Modifiable then describe the data object that holds the
// sealed scalar, SealedUnder names the KEK, and Exportable says whether
// the service will ever export the key.
type KeyCustody struct {
	KeyID           string          `json:"KeyId"`
	Algorithm       Algorithm       `json:"Algorithm"`
	Class           KeyClass        `json:"Class"`
	ProtectionLevel ProtectionLevel `json:"ProtectionLevel"`
	// Objects lists the classes of the token objects with this key ID
	// (CKO_PRIVATE_KEY, CKO_PUBLIC_KEY, CKO_SECRET_KEY, CKO_DATA).
	Objects []string `json:"Objects"`
	Label   string   `json:"Label"`     // CKA_LABEL
	URI     string   `json:"Pkcs11Uri"` // RFC 7512 PKCS#11 URI of the key object

	Token             bool     `json:"Token"`             // CKA_TOKEN: a persistent token object
	Sensitive         bool     `json:"Sensitive"`         // CKA_SENSITIVE
	AlwaysSensitive   bool     `json:"AlwaysSensitive"`   // CKA_ALWAYS_SENSITIVE: sensitive since creation
	Extractable       bool     `json:"Extractable"`       // CKA_EXTRACTABLE
	NeverExtractable  bool     `json:"NeverExtractable"`  // CKA_NEVER_EXTRACTABLE: never extractable since creation
	Local             bool     `json:"Local"`             // CKA_LOCAL: generated inside the token
	Modifiable        bool     `json:"Modifiable"`        // CKA_MODIFIABLE
	AllowedMechanisms []string `json:"AllowedMechanisms"` // CKA_ALLOWED_MECHANISMS, sorted by name

	Exportable  bool   `json:"Exportable"`            // whether Export can ever succeed
	SealedUnder string `json:"SealedUnder,omitempty"` // SEALED and WRAPPED keys: the KEK's key ID
	// WrappedUnder names the wrapping key a WRAPPED key is kept under.
	WrappedUnder string `json:"WrappedUnder,omitempty"`
	// Note says in words what the class cannot prove (WRAPPED keys).
	Note      string     `json:"Note,omitempty"`
	CreatedAt *time.Time `json:"CreatedAt,omitempty"` // when recorded at creation (see objectLabel)
}

// Custody reads a key's custody attributes live from the token.
func (s *Store) Custody(ctx context.Context, id string) (*KeyCustody, error) {
	var c *KeyCustody
	err := s.withSession(ctx, func(sh pkcs11.SessionHandle, _ bool) error {
		objs, err := s.keyObjects(ctx, sh, id)
		if err != nil {
			return err
		}
		c, err = s.custodyOf(sh, id, objs)
		return err
	})
	return c, err
}

// keyObjects returns the token objects of a key, from the index when it
// has them (index.go says when it checks them), else found once and indexed.
func (s *Store) keyObjects(ctx context.Context, sh pkcs11.SessionHandle, id string) (map[uint]pkcs11.ObjectHandle, error) {
	e, err := s.entryOf(ctx, sh, id)
	if err != nil {
		return nil, err
	}
	return e.objects(), nil
}

// ListKeys enumerates every token object whose key ID follows our scheme
// (ValidKeyID; service keys included, see IsServiceKeyID), one entry per
// key ID with the same live attributes as Custody. It makes one find over
// all objects and then reads attributes, so it is an operator's tool, not
// a request path. Objects destroyed while it runs are left out.
func (s *Store) ListKeys(ctx context.Context) ([]KeyCustody, error) {
	var out []KeyCustody
	err := s.withSession(ctx, func(sh pkcs11.SessionHandle, _ bool) error {
		out = nil
		handles, err := s.findEvery(ctx, sh)
		if err != nil {
			return err
		}
		byID := map[string]map[uint]pkcs11.ObjectHandle{}
		for _, h := range handles {
			id, class, ok, err := s.objectKeyID(sh, h)
			if handleStale(err) {
				continue
			}
			if err != nil {
				return err
			}
			if !ok || !ValidKeyID(id) {
				continue
			}
			if byID[id] == nil {
				byID[id] = map[uint]pkcs11.ObjectHandle{}
			}
			byID[id][class] = h
		}
		ids := make([]string, 0, len(byID))
		for id := range byID {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			c, err := s.custodyOf(sh, id, byID[id])
			if handleStale(err) {
				continue
			}
			if err != nil {
				return err
			}
			out = append(out, *c)
		}
		return nil
	})
	return out, err
}

// findEvery returns the handles of every object the session can see.
func (s *Store) findEvery(ctx context.Context, sh pkcs11.SessionHandle) ([]pkcs11.ObjectHandle, error) {
	release, err := s.objLock.acquire(ctx, lockFind)
	if err != nil {
		return nil, err
	}
	defer release()
	if err := s.findInit(sh, nil); err != nil {
		return nil, fmt.Errorf("keystore: list token objects: %w", err)
	}
	var all []pkcs11.ObjectHandle
	for {
		hs, _, err := s.ctx.FindObjects(sh, 256)
		if err != nil {
			_ = s.ctx.FindObjectsFinal(sh)
			return nil, fmt.Errorf("keystore: list token objects: %w", err)
		}
		if len(hs) == 0 {
			break
		}
		all = append(all, hs...)
	}
	if err := s.ctx.FindObjectsFinal(sh); err != nil {
		return nil, fmt.Errorf("keystore: list token objects: %w", err)
	}
	if len(all) == 0 && !s.pool.loggedIn(sh) {
		return nil, fmt.Errorf("keystore: list token objects: %w", pkcs11.Error(pkcs11.CKR_USER_NOT_LOGGED_IN))
	}
	return all, nil
}

// objectKeyID returns the key ID an object belongs to: CKA_ID for key
// objects, the label of a sealed SM2 record. ok is false for objects that
// are neither.
func (s *Store) objectKeyID(sh pkcs11.SessionHandle, h pkcs11.ObjectHandle) (id string, class uint, ok bool, err error) {
	a, err := s.ctx.GetAttributeValue(sh, h, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, nil)})
	if err != nil {
		return "", 0, false, err
	}
	class = uint(bytesToUint(a[0].Value))
	switch class {
	case pkcs11.CKO_PRIVATE_KEY, pkcs11.CKO_PUBLIC_KEY, pkcs11.CKO_SECRET_KEY:
		a, err = s.ctx.GetAttributeValue(sh, h, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_ID, nil)})
		if err != nil {
			return "", 0, false, err
		}
		return string(a[0].Value), class, true, nil
	case pkcs11.CKO_DATA:
		a, err = s.ctx.GetAttributeValue(sh, h, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_APPLICATION, nil), pkcs11.NewAttribute(pkcs11.CKA_LABEL, nil)})
		if err != nil {
			return "", 0, false, err
		}
		return string(a[1].Value), class, string(a[0].Value) == sm2Application, nil
	}
	return "", class, false, nil
}

var objectClassNames = map[uint]string{
	pkcs11.CKO_PRIVATE_KEY: "CKO_PRIVATE_KEY", pkcs11.CKO_PUBLIC_KEY: "CKO_PUBLIC_KEY",
	pkcs11.CKO_SECRET_KEY: "CKO_SECRET_KEY", pkcs11.CKO_DATA: "CKO_DATA",
}

// custodyOf reads the custody report of a key from its objects.
func (s *Store) custodyOf(sh pkcs11.SessionHandle, id string, objs map[uint]pkcs11.ObjectHandle) (*KeyCustody, error) {
	c := &KeyCustody{KeyID: id, Objects: []string{}, AllowedMechanisms: []string{}}
	for _, class := range []uint{pkcs11.CKO_PRIVATE_KEY, pkcs11.CKO_PUBLIC_KEY, pkcs11.CKO_SECRET_KEY, pkcs11.CKO_DATA} {
		if _, ok := objs[class]; ok {
			c.Objects = append(c.Objects, objectClassNames[class])
		}
	}
	if h, ok := objs[pkcs11.CKO_DATA]; ok {
		return c, s.sealedCustody(sh, c, h)
	}
	c.Class, c.ProtectionLevel = ClassToken, ProtectionHSM
	h, typ := objs[pkcs11.CKO_PRIVATE_KEY], "private"
	if h == 0 {
		if sk, ok := objs[pkcs11.CKO_SECRET_KEY]; ok {
			h, typ = sk, "secret-key"
		}
	}
	if h == 0 {
		// Only a public key is left (a partly created or partly destroyed
		// key): report it; every key flag stays false.
		pub := objs[pkcs11.CKO_PUBLIC_KEY]
		a, err := s.ctx.GetAttributeValue(sh, pub, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, nil), pkcs11.NewAttribute(pkcs11.CKA_LABEL, nil), pkcs11.NewAttribute(pkcs11.CKA_MODIFIABLE, nil)})
		if err != nil {
			return nil, fmt.Errorf("keystore: read public key of %s: %w", id, err)
		}
		c.Token, c.Label, c.Modifiable = attrBool(a[0]), string(a[1].Value), attrBool(a[2])
		if _, alg, err := s.readPublic(sh, pub); err == nil {
			c.Algorithm = alg
		}
		c.URI = s.objectURI(id, c.Label, "public")
		c.setCreated(labelTime(id, c.Label))
		return c, nil
	}
	a, err := s.ctx.GetAttributeValue(sh, h, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, nil),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, nil),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, nil),
		pkcs11.NewAttribute(pkcs11.CKA_ALWAYS_SENSITIVE, nil),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, nil),
		pkcs11.NewAttribute(pkcs11.CKA_NEVER_EXTRACTABLE, nil),
		pkcs11.NewAttribute(pkcs11.CKA_LOCAL, nil),
		pkcs11.NewAttribute(pkcs11.CKA_MODIFIABLE, nil),
		pkcs11.NewAttribute(pkcs11.CKA_ALLOWED_MECHANISMS, nil),
	})
	if err != nil {
		return nil, fmt.Errorf("keystore: read custody attributes of %s: %w", id, err)
	}
	c.Token, c.Label = attrBool(a[0]), string(a[1].Value)
	c.Sensitive, c.AlwaysSensitive = attrBool(a[2]), attrBool(a[3])
	c.Extractable, c.NeverExtractable = attrBool(a[4]), attrBool(a[5])
	c.Local, c.Modifiable = attrBool(a[6]), attrBool(a[7])
	for _, m := range decodeMechanisms(a[8].Value) {
		c.AllowedMechanisms = append(c.AllowedMechanisms, MechanismName(m))
	}
	sort.Strings(c.AllowedMechanisms) // tokens keep them in no defined order
	c.Exportable = c.Extractable
	c.URI = s.objectURI(id, c.Label, typ)
	c.setCreated(labelTime(id, c.Label))
	if c.Algorithm, err = s.keyAlgorithm(sh, h, objs); err != nil {
		return nil, fmt.Errorf("keystore: read algorithm of %s: %w", id, err)
	}
	return c, nil
}

// sealedCustody fills the report of a software SM2 key from its data
// object: nothing of the KEK is reported as the key's.
func (s *Store) sealedCustody(sh pkcs11.SessionHandle, c *KeyCustody, h pkcs11.ObjectHandle) error {
	a, err := s.ctx.GetAttributeValue(sh, h, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, nil), pkcs11.NewAttribute(pkcs11.CKA_LABEL, nil), pkcs11.NewAttribute(pkcs11.CKA_MODIFIABLE, nil)})
	if err != nil {
		return fmt.Errorf("keystore: read sealed record of %s: %w", c.KeyID, err)
	}
	rec, _, err := s.readSoftwareRecord(sh, h)
	if err != nil {
		return err
	}
	c.Algorithm, c.Class, c.ProtectionLevel = SM2, ClassSealed, ProtectionSoftware
	c.Token, c.Label, c.Modifiable = attrBool(a[0]), string(a[1].Value), attrBool(a[2])
	c.Exportable, c.SealedUnder = rec.Exportable, kekOf(rec.Sealed)
	c.URI = s.objectURI("", c.Label, "data")
	c.setCreated(rec.Created, !rec.Created.IsZero())
	return nil
}

func (c *KeyCustody) setCreated(t time.Time, ok bool) {
	if ok {
		t = t.UTC()
		c.CreatedAt = &t
	}
}

// keyAlgorithm names the algorithm of a key object, from its public key
// when there is one.
func (s *Store) keyAlgorithm(sh pkcs11.SessionHandle, h pkcs11.ObjectHandle, objs map[uint]pkcs11.ObjectHandle) (Algorithm, error) {
	if pub, ok := objs[pkcs11.CKO_PUBLIC_KEY]; ok {
		_, alg, err := s.readPublic(sh, pub)
		return alg, err
	}
	a, err := s.ctx.GetAttributeValue(sh, h, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, nil)})
	if err != nil {
		return "", err
	}
	switch bytesToUint(a[0].Value) {
	case pkcs11.CKK_AES:
		v, err := s.ctx.GetAttributeValue(sh, h, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, nil)})
		if err != nil {
			return "", err
		}
		return Algorithm(fmt.Sprintf("AES_%d", 8*bytesToUint(v[0].Value))), nil
	case pkcs11.CKK_RSA:
		v, err := s.ctx.GetAttributeValue(sh, h, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_MODULUS, nil)})
		if err != nil {
			return "", err
		}
		return rsaAlgorithm(8 * len(trimZeros(v[0].Value)))
	case pkcs11.CKK_EC:
		v, err := s.ctx.GetAttributeValue(sh, h, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, nil)})
		if err != nil {
			return "", err
		}
		var oid asn1.ObjectIdentifier
		if _, err := asn1.Unmarshal(v[0].Value, &oid); err != nil {
			return "", err
		}
		if alg, _, ok := curveForOID(oid); ok {
			return alg, nil
		}
		return "", fmt.Errorf("%w: curve %v", ErrUnsupported, oid)
	}
	return "", fmt.Errorf("%w: key type %d", ErrUnsupported, bytesToUint(a[0].Value))
}

func trimZeros(b []byte) []byte {
	for len(b) > 0 && b[0] == 0 {
		b = b[1:]
	}
	return b
}

// decodeMechanisms decodes CKA_ALLOWED_MECHANISMS (an array of CK_ULONG in
// host byte order).
func decodeMechanisms(b []byte) []uint {
	var out []uint
	for len(b) >= 8 {
		out = append(out, uint(bytesToUint(b[:8])))
		b = b[8:]
	}
	return out
}

// URI returns an RFC 7512 PKCS#11 URI naming a key by token and CKA_ID:
// what the database may keep instead of a handle. KeyCustody's URI also
// names the object's label and type.
func (s *Store) URI(id string) string {
	return "pkcs11:token=" + url.PathEscape(s.cfg.TokenLabel) + ";id=" + pctAll(id)
}

func (s *Store) objectURI(id, label, typ string) string {
	u := "pkcs11:token=" + url.PathEscape(s.cfg.TokenLabel)
	if id != "" {
		u += ";id=" + pctAll(id)
	}
	return u + ";object=" + url.PathEscape(label) + ";type=" + typ
}

// Info summarises the open token for `token status`.
type Info struct {
	Label, Manufacturer, Model string
	Slot                       uint
	Mechanisms                 []Mechanism // sorted by name
	KeyCount                   int         // private keys and sealed SM2 keys (the audit key included)
	MaxSessions                int
}

// Info reads the token's description and mechanisms and counts
// application keys. It walks the token's objects: an operator's command,
// not a probe (readiness probes use Ping).
func (s *Store) Info(ctx context.Context) (*Info, error) {
	ti, err := s.ctx.GetTokenInfo(s.slot)
	if err != nil {
		return nil, fmt.Errorf("keystore: C_GetTokenInfo: %w", err)
	}
	info := &Info{Label: ti.Label, Manufacturer: ti.ManufacturerID, Model: ti.Model, Slot: s.slot, MaxSessions: s.cfg.MaxSessions}
	for _, code := range s.Mechanisms() {
		m := Mechanism{Code: code, Name: MechanismName(code), Flags: []string{}}
		if mi, err := s.ctx.GetMechanismInfo(s.slot, []*pkcs11.Mechanism{pkcs11.NewMechanism(code, nil)}); err == nil {
			m.MinKeySize, m.MaxKeySize, m.Flags = mi.MinKeySize, mi.MaxKeySize, MechanismFlagNames(mi.Flags)
		}
		info.Mechanisms = append(info.Mechanisms, m)
	}
	sort.Slice(info.Mechanisms, func(i, j int) bool { return info.Mechanisms[i].Name < info.Mechanisms[j].Name })
	err = s.withSession(ctx, func(sh pkcs11.SessionHandle, _ bool) error {
		release, err := s.objLock.acquire(ctx, lockFind)
		if err != nil {
			return err
		}
		defer release()
		count := 0
		for _, class := range []uint{pkcs11.CKO_PRIVATE_KEY, pkcs11.CKO_DATA} {
			// Token objects only: unwrapped wrapped-class keys are session
			// objects.
			if err := s.findInit(sh, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, class), pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true)}); err != nil {
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
