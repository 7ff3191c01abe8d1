package store

import (
	"context"
	"fmt"
)

// KeyRef names the row that references a token key.
type KeyRef struct {
	Kind      string // KeyRefKMSCertificate, KeyRefCACertificate or KeyRefKeyPool
	ID        string // the KMS CertificateId, the CA Identifier, or the pool ("RSA_2048/exportable")
	AccountID string // empty for a pool key: no account holds it yet
}

// The tables whose rows hold token key IDs. Issued end-entity certificates
// keep their keys wrapped in the row (no token object), and the service
// keys (KEK, wrapping key, audit key) are named by the keystore, not by a
// row.
const (
	KeyRefKMSCertificate = "KMSCertificate"
	KeyRefCACertificate  = "CACertificate"
	// KeyRefKeyPool: an unclaimed key of the token key pool.
	KeyRefKeyPool = "KeyPool"
)

// KeyRefs returns every token key ID a row references, by key ID. The
// orphan sweep and `certcustody token keys` use it; it reads all rows, so
// it is for maintenance, not for requests. A key that a certificate row
// and a pool row both name (a pool row the sweep has still to remove) is
// reported as the certificate's.
func (q queries) KeyRefs(ctx context.Context) (map[string]KeyRef, error) {
	rows, err := q.e.QueryContext(ctx, `SELECT key_id, '`+KeyRefKMSCertificate+`', id, account_id FROM kms_certificates
		UNION ALL SELECT key_id, '`+KeyRefCACertificate+`', identifier, account_id FROM ca_certificates
		UNION ALL SELECT key_id, '`+KeyRefKeyPool+`', algorithm || CASE WHEN exportable <> 0 THEN '/exportable' ELSE '/non_exportable' END, '' FROM key_pool`)
	if err != nil {
		return nil, fmt.Errorf("store: read key references: %w", err)
	}
	defer rows.Close()
	out := map[string]KeyRef{}
	for rows.Next() {
		var keyID string
		var r KeyRef
		if err := rows.Scan(&keyID, &r.Kind, &r.ID, &r.AccountID); err != nil {
			return nil, fmt.Errorf("store: read key references: %w", err)
		}
		if prev, ok := out[keyID]; ok && r.Kind == KeyRefKeyPool && prev.Kind != KeyRefKeyPool {
			continue
		}
		out[keyID] = r
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: read key references: %w", err)
	}
	return out, nil
}
