package certmgr

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"

	"github.com/certcustody/certcustody/keystore"
	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// ExportCertificate returns the key, certificate and chain as PKCS#12
// (PBES2/AES-256, SHA-256 MAC) under the caller's password. A key created
// non-exportable is Forbidden.KeyNotExportable (403); the token refuses too.
func (m *Manager) ExportCertificate(ctx context.Context, c Caller, id, password string) (string, error) {
	if password == "" {
		return "", MissingParameter("Password")
	}
	if len(password) < 8 {
		return "", InvalidParameter("Password", "must be at least 8 characters")
	}
	row, err := m.getKMS(ctx, c, id)
	if err != nil {
		return "", err
	}
	if !row.Exportable {
		return "", Forbidden("Forbidden.KeyNotExportable", "The private key of certificate %q was created non-exportable.", id)
	}
	if row.Certificate == nil {
		return "", RuleViolation("CertificateStatus", "The certificate is PENDING; upload it before exporting.")
	}
	if row.KeySpec == "EC_SM2" {
		return "", RuleViolation("KeySpec", "PKCS#12 export of SM2 keys is not supported (PKCS#12 has no SM2 profile that common tools read).")
	}
	der, err := m.kmsExport(ctx, row)
	if errors.Is(err, keystore.ErrNotExportable) {
		return "", Forbidden("Forbidden.KeyNotExportable", "The private key of certificate %q is not exportable.", id)
	}
	if err != nil {
		return "", Internal(err)
	}
	key, err := x509.ParsePKCS8PrivateKey(der)
	clear(der)
	if err != nil {
		return "", Internal(err)
	}
	leaf, err := x509.ParseCertificate(row.Certificate)
	if err != nil {
		return "", Internal(err)
	}
	chain, err := parseCertsPEM(row.Chain)
	if err != nil {
		return "", Internal(err)
	}
	var cas []*x509.Certificate
	for _, ca := range chain {
		if ca.std != nil {
			cas = append(cas, ca.std)
		}
	}
	pfx, err := pkcs12.Modern2023.Encode(key, leaf, cas, password)
	if err != nil {
		return "", Internal(err)
	}
	return base64.StdEncoding.EncodeToString(pfx), nil
}
