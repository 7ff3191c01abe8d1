package certmgr

import (
	"context"
	"crypto"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"

	"github.com/certcustody/certcustody/certmgr/store"
	"github.com/certcustody/certcustody/csrgen"
	"github.com/certcustody/certcustody/keystore"
)

// KMS certificate statuses.
const (
	StatusPending  = "PENDING"
	StatusActive   = "ACTIVE"
	StatusInactive = "INACTIVE"
	StatusRevoked  = "REVOKED"
)

// kmsKeySpecs maps the KMS KeySpec names to keystore algorithms.
var kmsKeySpecs = map[string]keystore.Algorithm{
	"RSA_2048": keystore.RSA2048,
	"EC_P256":  keystore.ECP256,
	"EC_SM2":   keystore.SM2,
}

// CreateCertificateRequest is KMS CreateCertificate's input.
type CreateCertificateRequest struct {
	KeySpec                 string
	Subject                 string // RFC 2253 DN: CN, C, O, OU required
	SubjectAlternativeNames string // JSON array (or object) of up to 10 DNS names
	ExportablePrivateKey    *bool  // default true
}

// CreateCertificateResult is KMS CreateCertificate's output.
type CreateCertificateResult struct {
	CertificateID string `json:"CertificateId"`
	Arn           string `json:"Arn"`
	Csr           string `json:"Csr"`
}

// Validate checks the request without side effects.
func (r *CreateCertificateRequest) validate() (keystore.Algorithm, csrgen.DN, []string, error) {
	if r.KeySpec == "" {
		return "", nil, nil, MissingParameter("KeySpec")
	}
	var alg keystore.Algorithm
	for name, a := range kmsKeySpecs {
		if strings.EqualFold(name, r.KeySpec) {
			alg = a
		}
	}
	if alg == "" {
		return "", nil, nil, InvalidParameter("KeySpec", "must be one of RSA_2048, EC_P256, EC_SM2")
	}
	if r.Subject == "" {
		return "", nil, nil, MissingParameter("Subject")
	}
	dn, err := csrgen.ParseDN(r.Subject)
	if err != nil {
		return "", nil, nil, InvalidParameter("Subject", "%s", userMessage(err))
	}
	if err := csrgen.ValidateKMSSubject(dn); err != nil {
		return "", nil, nil, InvalidParameter("Subject", "%s", userMessage(err))
	}
	var sans []string
	if strings.TrimSpace(r.SubjectAlternativeNames) != "" {
		if sans, err = csrgen.ParseSANJSON(r.SubjectAlternativeNames); err != nil {
			return "", nil, nil, InvalidParameter("SubjectAlternativeNames", "%s", userMessage(err))
		}
	}
	return alg, dn, sans, nil
}

// userMessage strips a package prefix from a validation error meant for
// the caller.
func userMessage(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, ": "); i > 0 && !strings.Contains(msg[:i], " ") {
		msg = msg[i+2:]
	}
	return msg
}

// CreateCertificate generates a key pair in the token, or claims one from
// the key pool of its kind (keypool.go), and returns a CSR for it. For an
// account of the wrapped custody class (kms_custody.go) the key is kept in
// the row, wrapped, instead of as a token object. The key
// and the row are created together: if the row cannot be written, a
// generated key's token objects are destroyed, and a pool key stays in
// its pool.
func (m *Manager) CreateCertificate(ctx context.Context, c Caller, req CreateCertificateRequest) (*CreateCertificateResult, error) {
	alg, dn, sans, err := req.validate()
	if err != nil {
		return nil, err
	}
	exportable := req.ExportablePrivateKey == nil || *req.ExportablePrivateKey
	id := newID()
	if m.KMSKeyCustodyOf(c.AccountID) == KeyCustodyWrapped {
		return m.createWrapped(ctx, c, id, alg, dn, sans, exportable)
	}
	if err := m.checkKeyQuota(ctx, m.db, c.AccountID); err != nil {
		return nil, err
	}
	if result, served, err := m.createFromPool(ctx, c, id, alg, dn, sans, exportable); served {
		return result, err
	}
	keyID := "kms-" + id
	key, err := m.keys.Generate(ctx, keystore.GenerateRequest{ID: keyID, Algorithm: alg, Purpose: keystore.PurposeKMS, Exportable: exportable, RandomID: true})
	if err != nil {
		if errors.Is(err, keystore.ErrUnsupported) {
			return nil, InvalidParameter("KeySpec", "%s is not available on this token", alg)
		}
		return nil, Internal(err)
	}
	result, err := m.finishCreate(ctx, c, id, keyID, alg, key.ProtectionLevel, dn, sans, exportable, false, nil)
	if err != nil {
		if derr := m.keys.Destroy(context.WithoutCancel(ctx), keyID); derr != nil {
			err = fmt.Errorf("%w (and the new key %s could not be removed: %v)", err, keyID, derr)
		}
		return nil, AsError(err)
	}
	return result, nil
}

// finishCreate signs the CSR with the key and writes the row. For a pool
// key (pooled) the same transaction claims the key from its pool;
// errPoolKeyTaken says another request claimed it first, and
// errPoolKeyUnusable that it cannot serve. A wrapped-class key (wrapped
// set) goes into the row, and the token-key quota does not count it.
func (m *Manager) finishCreate(ctx context.Context, c Caller, id, keyID string, alg keystore.Algorithm, level keystore.ProtectionLevel, dn csrgen.DN, sans []string, exportable, pooled bool, wrapped *keystore.WrappedKMSKey) (*CreateCertificateResult, error) {
	var signer crypto.Signer
	var err error
	if wrapped != nil {
		var s *keystore.Signer
		if s, err = m.keys.WrappedSigner(ctx, wrapped); err == nil {
			signer = m.hooked(keyID, s)
		}
	} else {
		signer, err = m.signer(ctx, keyID)
	}
	if pooled && errors.Is(err, keystore.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s is not in the token", errPoolKeyUnusable, keyID)
	}
	if err != nil {
		return nil, Internal(err)
	}
	csr, err := csrgen.CreateCSR(rand.Reader, csrgen.Request{Subject: dn, DNSNames: sans}, signer)
	if err != nil {
		return nil, Internal(err)
	}
	now := m.now()
	row := &store.KMSCertificate{
		ID: id, AccountID: c.AccountID, KeyID: keyID, KeySpec: kmsSpecName(alg),
		ProtectionLevel: string(level), Exportable: exportable,
		Subject: dn.String(), SANs: sans, Status: StatusPending, CSR: csr, CreatedAt: now, UpdatedAt: now,
	}
	if wrapped != nil {
		row.KeyBlob = wrapped.Blob
	}
	auditResource(ctx, m.kmsArn(c, id))
	err = m.db.Group(ctx, func(tx *store.Tx) error {
		if wrapped == nil {
			if err := m.checkKeyQuota(ctx, tx, c.AccountID); err != nil {
				return err
			}
		}
		if !pooled {
			return tx.InsertKMSCertificate(ctx, row)
		}
		switch err := tx.ClaimPoolKey(ctx, keyID); {
		case errors.Is(err, store.ErrNotFound):
			return fmt.Errorf("%w: %s", errPoolKeyTaken, keyID)
		case errors.Is(err, store.ErrConflict):
			// A certificate row names the key already: its pool row is
			// stale (the sweep removes it), and the key is not ours to give.
			return fmt.Errorf("%w: %v", errPoolKeyUnusable, err)
		case err != nil:
			return err
		}
		if err := tx.InsertKMSCertificate(ctx, row); err != nil {
			return err
		}
		store.JournalFrom(ctx).AddChange("keypool:claim", keyID, "OK")
		return nil
	})
	if errors.Is(err, errPoolKeyTaken) || errors.Is(err, errPoolKeyUnusable) {
		return nil, err
	}
	if err != nil {
		return nil, AsError(err)
	}
	return &CreateCertificateResult{CertificateID: id, Arn: m.kmsArn(c, id), Csr: csrgen.EncodeCSRPEM(csr)}, nil
}

func kmsSpecName(a keystore.Algorithm) string {
	for name, x := range kmsKeySpecs {
		if x == a {
			return name
		}
	}
	return string(a)
}

// kmsNotFound is the answer for a missing certificate and for another
// account's certificate alike.
func kmsNotFound(id string) *Error {
	return NotFound("Forbidden.ResourceNotFound", "The certificate %q is not found.", id)
}

// getKMS loads the caller's certificate.
func (m *Manager) getKMS(ctx context.Context, c Caller, id string) (*store.KMSCertificate, error) {
	if id == "" {
		return nil, MissingParameter("CertificateId")
	}
	row, err := m.db.GetKMSCertificate(ctx, c.AccountID, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, kmsNotFound(id)
	}
	if err != nil {
		return nil, Internal(err)
	}
	return row, nil
}
