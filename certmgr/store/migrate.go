package store

import (
	"context"
	"fmt"
)

// migrations are applied in order, each once, each in its own transaction.
// Never edit a released migration; append a new one.
var migrations = []string{
	// 1: accounts, access keys, nonces, KMS certificates.
	`CREATE TABLE accounts (
		id         TEXT PRIMARY KEY,
		name       TEXT NOT NULL UNIQUE,
		created_at INTEGER NOT NULL
	);
	CREATE TABLE access_keys (
		id            TEXT PRIMARY KEY,
		account_id    TEXT NOT NULL REFERENCES accounts(id),
		secret_sealed BLOB NOT NULL,
		status        TEXT NOT NULL CHECK (status IN ('Active','Inactive')),
		policy        TEXT NOT NULL DEFAULT '',
		created_at    INTEGER NOT NULL
	);
	CREATE INDEX access_keys_account ON access_keys(account_id);
	CREATE TABLE nonces (
		access_key_id TEXT NOT NULL,
		nonce         TEXT NOT NULL,
		expires_at    INTEGER NOT NULL,
		PRIMARY KEY (access_key_id, nonce)
	) WITHOUT ROWID;
	CREATE INDEX nonces_expiry ON nonces(expires_at);
	CREATE TABLE kms_certificates (
		id               TEXT PRIMARY KEY,
		account_id       TEXT NOT NULL REFERENCES accounts(id),
		key_id           TEXT NOT NULL UNIQUE,
		key_spec         TEXT NOT NULL,
		protection_level TEXT NOT NULL,
		exportable       INTEGER NOT NULL,
		subject          TEXT NOT NULL,
		sans             TEXT NOT NULL DEFAULT '',
		status           TEXT NOT NULL CHECK (status IN ('PENDING','ACTIVE','INACTIVE','REVOKED')),
		csr              BLOB NOT NULL,
		certificate      BLOB,
		chain            TEXT NOT NULL DEFAULT '',
		serial           TEXT NOT NULL DEFAULT '',
		issuer           TEXT NOT NULL DEFAULT '',
		signature_algorithm TEXT NOT NULL DEFAULT '',
		not_before       INTEGER,
		not_after        INTEGER,
		created_at       INTEGER NOT NULL,
		updated_at       INTEGER NOT NULL
	);
	CREATE INDEX kms_certificates_account ON kms_certificates(account_id, created_at);`,
}

func (s *DB) migrate(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL DEFAULT (unixepoch()))`); err != nil {
		return fmt.Errorf("store: migrations table: %w", err)
	}
	var current int
	if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("store: read schema version: %w", err)
	}
	if current > len(migrations) {
		return fmt.Errorf("store: database schema version %d is newer than this binary (%d)", current, len(migrations))
	}
	for v := current + 1; v <= len(migrations); v++ {
		err := s.Tx(ctx, func(tx *Tx) error {
			if _, err := tx.tx.ExecContext(ctx, migrations[v-1]); err != nil {
				return err
			}
			_, err := tx.tx.ExecContext(ctx, `INSERT INTO schema_migrations(version) VALUES (?)`, v)
			return err
		})
		if err != nil {
			return fmt.Errorf("store: migration %d: %w", v, err)
		}
	}
	return nil
}

// SchemaVersion returns the applied schema version.
func (s *DB) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v)
	return v, err
}
