package store

import (
	"context"
	"errors"
	"fmt"
	"time"
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
	// 2: Private CA: CA certificates and the certificates they issue.
	`CREATE TABLE ca_certificates (
		identifier        TEXT PRIMARY KEY,
		account_id        TEXT NOT NULL REFERENCES accounts(id),
		parent_identifier TEXT REFERENCES ca_certificates(identifier),
		certificate_type  TEXT NOT NULL CHECK (certificate_type IN ('ROOT','SUB_ROOT')),
		key_id            TEXT NOT NULL UNIQUE,
		algorithm         TEXT NOT NULL,
		key_size          INTEGER NOT NULL,
		status            TEXT NOT NULL CHECK (status IN ('ISSUE','REVOKE')),
		certificate       BLOB NOT NULL,
		serial            TEXT NOT NULL,
		subject_dn        TEXT NOT NULL,
		years             INTEGER NOT NULL,
		path_len          INTEGER NOT NULL,
		enable_crl        INTEGER NOT NULL,
		crl_day           INTEGER NOT NULL,
		not_before        INTEGER NOT NULL,
		not_after         INTEGER NOT NULL,
		created_at        INTEGER NOT NULL
	);
	CREATE INDEX ca_certificates_account ON ca_certificates(account_id, created_at);
	CREATE TABLE issued_certificates (
		identifier        TEXT PRIMARY KEY,
		account_id        TEXT NOT NULL REFERENCES accounts(id),
		issuer_identifier TEXT NOT NULL REFERENCES ca_certificates(identifier),
		serial            TEXT NOT NULL,
		certificate_type  TEXT NOT NULL CHECK (certificate_type IN ('SERVER','CLIENT')),
		status            TEXT NOT NULL CHECK (status IN ('ISSUE','REVOKE')),
		certificate       BLOB NOT NULL,
		subject_dn        TEXT NOT NULL,
		algorithm         TEXT NOT NULL,
		key_size          INTEGER NOT NULL,
		not_before        INTEGER NOT NULL,
		not_after         INTEGER NOT NULL,
		revoked_at        INTEGER,
		created_at        INTEGER NOT NULL,
		UNIQUE (issuer_identifier, serial)
	);
	CREATE INDEX issued_certificates_account ON issued_certificates(account_id, created_at);`,
	// 3: revocation reasons, revoked CAs, and per-CA CRL state.
	`ALTER TABLE issued_certificates ADD COLUMN revoke_reason INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE ca_certificates ADD COLUMN revoked_at INTEGER;
	CREATE INDEX issued_revoked ON issued_certificates(issuer_identifier, status);
	CREATE TABLE crls (
		ca_identifier TEXT PRIMARY KEY REFERENCES ca_certificates(identifier),
		crl_number    INTEGER NOT NULL,
		dirty         INTEGER NOT NULL,
		der           BLOB,
		this_update   INTEGER,
		next_update   INTEGER
	);`,
	// 4: service-generated end-entity keys, kept wrapped under the token's
	// wrapping key (SM2: sealed under the KEK).
	`ALTER TABLE issued_certificates ADD COLUMN key_algorithm TEXT NOT NULL DEFAULT '';
	ALTER TABLE issued_certificates ADD COLUMN key_blob BLOB;`,
	// 5: a deleted certificate is hidden but kept, so that it stays on its
	// CA's CRL until it expires.
	`ALTER TABLE issued_certificates ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;`,
	// 6: tags and resource groups on CAs and issued certificates.
	`ALTER TABLE ca_certificates ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
	ALTER TABLE ca_certificates ADD COLUMN resource_group_id TEXT NOT NULL DEFAULT '';
	ALTER TABLE issued_certificates ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
	ALTER TABLE issued_certificates ADD COLUMN resource_group_id TEXT NOT NULL DEFAULT '';`,
	// 7: the hash-chained audit log and its signed checkpoints.
	`CREATE TABLE audit_log (
		seq           INTEGER PRIMARY KEY,
		at            INTEGER NOT NULL,
		request_id    TEXT NOT NULL,
		account_id    TEXT NOT NULL,
		access_key_id TEXT NOT NULL,
		action        TEXT NOT NULL,
		resource      TEXT NOT NULL,
		code          TEXT NOT NULL,
		source_ip     TEXT NOT NULL,
		prev_hash     BLOB NOT NULL,
		hash          BLOB NOT NULL
	);
	CREATE TABLE audit_checkpoints (
		seq       INTEGER PRIMARY KEY,
		head_hash BLOB NOT NULL,
		signature BLOB NOT NULL,
		at        INTEGER NOT NULL
	);`,
	// 8: the tag
	// store for CAs, issued certificates and KMS certificates (existing
	// Tags copied in; the tags columns stay as a mirror the tag writers
	// keep current), alias names, custom identifiers (unique per account
	// where set), external CAs (issuer_type; such a row holds no token
	// key), and the indexes that keep serial search, keyset listings and
	// a CA's audit history bounded.
	`CREATE TABLE resource_tags (
		account_id    TEXT NOT NULL,
		resource_type TEXT NOT NULL CHECK (resource_type IN ('pca','kms')),
		resource_id   TEXT NOT NULL,
		tag_key       TEXT NOT NULL,
		tag_value     TEXT NOT NULL,
		PRIMARY KEY (account_id, resource_type, resource_id, tag_key)
	) WITHOUT ROWID;
	INSERT OR IGNORE INTO resource_tags (account_id, resource_type, resource_id, tag_key, tag_value)
		SELECT c.account_id, 'pca', c.identifier, json_extract(j.value, '$.TagKey'), COALESCE(json_extract(j.value, '$.TagValue'), '')
		FROM ca_certificates c, json_each(CASE WHEN json_valid(c.tags) AND json_type(c.tags) = 'array' THEN c.tags ELSE '[]' END) j
		WHERE json_type(j.value, '$.TagKey') = 'text' AND json_extract(j.value, '$.TagKey') <> '';
	INSERT OR IGNORE INTO resource_tags (account_id, resource_type, resource_id, tag_key, tag_value)
		SELECT c.account_id, 'pca', c.identifier, json_extract(j.value, '$.TagKey'), COALESCE(json_extract(j.value, '$.TagValue'), '')
		FROM issued_certificates c, json_each(CASE WHEN json_valid(c.tags) AND json_type(c.tags) = 'array' THEN c.tags ELSE '[]' END) j
		WHERE c.deleted = 0 AND json_type(j.value, '$.TagKey') = 'text' AND json_extract(j.value, '$.TagKey') <> '';
	ALTER TABLE ca_certificates ADD COLUMN alias_name TEXT NOT NULL DEFAULT '';
	ALTER TABLE ca_certificates ADD COLUMN issuer_type TEXT NOT NULL DEFAULT 'local' CHECK (issuer_type IN ('local','external'));
	ALTER TABLE issued_certificates ADD COLUMN alias_name TEXT NOT NULL DEFAULT '';
	ALTER TABLE issued_certificates ADD COLUMN custom_identifier TEXT NOT NULL DEFAULT '';
	CREATE UNIQUE INDEX issued_custom_identifier ON issued_certificates(account_id, custom_identifier) WHERE custom_identifier <> '';
	CREATE INDEX issued_account_serial ON issued_certificates(account_id, serial);
	CREATE INDEX issued_account_keyset ON issued_certificates(account_id, created_at, identifier);
	CREATE INDEX issued_issuer_keyset ON issued_certificates(issuer_identifier, created_at, identifier);
	CREATE INDEX ca_account_keyset ON ca_certificates(account_id, created_at, identifier);
	CREATE INDEX audit_account_resource ON audit_log(account_id, resource, action, seq);`,
	// 9: client tokens: a creating call's ClientToken, claimed in the
	// transaction of the change it made, so a retry finds the first
	// call's resource instead of making a second one.
	`CREATE TABLE client_tokens (
		account_id  TEXT NOT NULL,
		token       TEXT NOT NULL,
		action      TEXT NOT NULL,
		fingerprint TEXT NOT NULL,
		resource    TEXT NOT NULL,
		created_at  INTEGER NOT NULL,
		PRIMARY KEY (account_id, token)
	) WITHOUT ROWID;`,
	// 10: a CRL's change counter. Each revocation bumps it; a build
	// remembers the value it read its entries at, and the dirty mark
	// clears only if the counter still has that value when the built CRL
	// is saved. Every CRL is marked dirty once: a build by an older binary
	// could have cleared the mark without listing a revocation.
	`ALTER TABLE crls ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
	UPDATE crls SET dirty = 1;`,
	// 11: the nodes serving this database, each with a heartbeat, so every
	// node can enforce its share of the per-user rates.
	`CREATE TABLE nodes (
		id           TEXT PRIMARY KEY,
		started_at   INTEGER NOT NULL,
		heartbeat_at INTEGER NOT NULL
	);`,
	// 12: the verified TLS client certificate's subject on a call's audit
	// record ('' for records before it and calls without one; see
	// AuditRecord.ComputeHash).
	`ALTER TABLE audit_log ADD COLUMN client_cert TEXT NOT NULL DEFAULT '';`,
	// 13: one audit hash chain per node. A record's sequence counts within
	// its chain; a checkpoint signs its chain's head and names the heads of
	// the other chains it saw. The embedded default has one chain, ''.
	`CREATE TABLE audit_log_chained (
		chain         TEXT NOT NULL DEFAULT '',
		seq           INTEGER NOT NULL,
		at            INTEGER NOT NULL,
		request_id    TEXT NOT NULL,
		account_id    TEXT NOT NULL,
		access_key_id TEXT NOT NULL,
		action        TEXT NOT NULL,
		resource      TEXT NOT NULL,
		code          TEXT NOT NULL,
		source_ip     TEXT NOT NULL,
		client_cert   TEXT NOT NULL DEFAULT '',
		prev_hash     BLOB NOT NULL,
		hash          BLOB NOT NULL,
		PRIMARY KEY (chain, seq)
	);
	INSERT INTO audit_log_chained (chain, seq, at, request_id, account_id, access_key_id, action, resource, code, source_ip, client_cert, prev_hash, hash)
		SELECT '', seq, at, request_id, account_id, access_key_id, action, resource, code, source_ip, client_cert, prev_hash, hash FROM audit_log;
	DROP TABLE audit_log;
	ALTER TABLE audit_log_chained RENAME TO audit_log;
	CREATE INDEX audit_account_resource ON audit_log(account_id, resource, action, seq);
	CREATE TABLE audit_checkpoints_chained (
		chain     TEXT NOT NULL DEFAULT '',
		seq       INTEGER NOT NULL,
		head_hash BLOB NOT NULL,
		signature BLOB NOT NULL,
		at        INTEGER NOT NULL,
		heads     TEXT NOT NULL DEFAULT '',
		PRIMARY KEY (chain, seq)
	);
	INSERT INTO audit_checkpoints_chained (chain, seq, head_hash, signature, at)
		SELECT '', seq, head_hash, signature, at FROM audit_checkpoints;
	DROP TABLE audit_checkpoints;
	ALTER TABLE audit_checkpoints_chained RENAME TO audit_checkpoints;`,
	// 14: each CA's CRL entries kept encoded (crl_entries: chunks of
	// entry DER that revocations append to), so that a build reads a few
	// blobs instead of a row per revoked certificate; entries_kept = 0
	// until a CA's next build writes its list from the tables. The CRL
	// moves to crl_documents, stored as what its build wrote around the
	// kept entries it lists (a CRL from before is all head); the crls row,
	// which every revocation updates and SQLite rewrites whole, no longer
	// holds it.
	`ALTER TABLE crls ADD COLUMN entries_kept INTEGER NOT NULL DEFAULT 0;
	CREATE TABLE crl_entries (
		ca_identifier TEXT NOT NULL REFERENCES crls(ca_identifier),
		seq           INTEGER NOT NULL,
		der           BLOB NOT NULL,
		PRIMARY KEY (ca_identifier, seq)
	);
	CREATE TABLE crl_documents (
		ca_identifier TEXT PRIMARY KEY REFERENCES crls(ca_identifier),
		head          BLOB NOT NULL,
		entries_seq   INTEGER NOT NULL DEFAULT 0,
		entries_tail  INTEGER NOT NULL DEFAULT 0,
		entries_bytes INTEGER NOT NULL DEFAULT 0,
		tail          BLOB,
		sha256        BLOB
	);
	INSERT INTO crl_documents (ca_identifier, head) SELECT ca_identifier, der FROM crls WHERE der IS NOT NULL;
	ALTER TABLE crls DROP COLUMN der;`,
	// 15: the token key pool: KMS key pairs generated ahead of time, one
	// row per unclaimed key, so the orphan sweep knows them. A claim
	// deletes the row in the transaction that inserts the key's
	// kms_certificates row.
	`CREATE TABLE key_pool (
		key_id           TEXT PRIMARY KEY,
		algorithm        TEXT NOT NULL,
		exportable       INTEGER NOT NULL,
		protection_level TEXT NOT NULL,
		created_at       INTEGER NOT NULL
	);
	CREATE INDEX key_pool_kind ON key_pool(algorithm, exportable, created_at, key_id);`,
	// 16: positions and bucket counts for the page-number listings (see
	// positions.go): each issued and KMS certificate gets its account's
	// next position, existing rows in their listing order (created_at,
	// identifier), and the counts are filled from the rows. The listings
	// read their pages over the partial (account_id, pos) indexes, which
	// replace the (account_id, created_at) ones (issued_account_keyset
	// covers those for the keyset listings).
	`ALTER TABLE issued_certificates ADD COLUMN pos INTEGER;
	ALTER TABLE kms_certificates ADD COLUMN pos INTEGER;
	CREATE TABLE list_positions (
		account_id TEXT NOT NULL,
		list       TEXT NOT NULL CHECK (list IN ('pca','kms')),
		next_pos   INTEGER NOT NULL,
		revoked    INTEGER NOT NULL DEFAULT 0,
		deleted    INTEGER NOT NULL DEFAULT 0,
		PRIMARY KEY (account_id, list)
	) WITHOUT ROWID;
	CREATE TABLE list_buckets (
		account_id TEXT NOT NULL,
		list       TEXT NOT NULL CHECK (list IN ('pca','kms')),
		bucket     INTEGER NOT NULL,
		revoked    INTEGER NOT NULL DEFAULT 0,
		deleted    INTEGER NOT NULL DEFAULT 0,
		PRIMARY KEY (account_id, list, bucket)
	) WITHOUT ROWID;
	UPDATE issued_certificates SET pos = r.p FROM (
		SELECT identifier, row_number() OVER (PARTITION BY account_id ORDER BY created_at, identifier) - 1 AS p FROM issued_certificates) r
		WHERE issued_certificates.identifier = r.identifier;
	UPDATE kms_certificates SET pos = r.p FROM (
		SELECT id, row_number() OVER (PARTITION BY account_id ORDER BY created_at, id) - 1 AS p FROM kms_certificates) r
		WHERE kms_certificates.id = r.id;
	INSERT INTO list_positions (account_id, list, next_pos, revoked, deleted)
		SELECT account_id, 'pca', COUNT(*), SUM(CASE WHEN status = 'REVOKE' AND deleted = 0 THEN 1 ELSE 0 END), SUM(CASE WHEN deleted = 0 THEN 0 ELSE 1 END)
		FROM issued_certificates GROUP BY account_id;
	INSERT INTO list_positions (account_id, list, next_pos)
		SELECT account_id, 'kms', COUNT(*) FROM kms_certificates GROUP BY account_id;
	INSERT INTO list_buckets (account_id, list, bucket, revoked, deleted)
		SELECT account_id, 'pca', b, SUM(CASE WHEN status = 'REVOKE' AND deleted = 0 THEN 1 ELSE 0 END), SUM(CASE WHEN deleted = 0 THEN 0 ELSE 1 END)
		FROM (SELECT account_id, status, deleted, pos / 1024 AS b FROM issued_certificates WHERE status = 'REVOKE' OR deleted <> 0) r
		GROUP BY account_id, b;
	DROP INDEX issued_certificates_account;
	DROP INDEX kms_certificates_account;
	CREATE UNIQUE INDEX issued_account_pos ON issued_certificates(account_id, pos) WHERE deleted = 0;
	CREATE INDEX issued_account_revoked_pos ON issued_certificates(account_id, pos) WHERE deleted = 0 AND status = 'REVOKE';
	CREATE UNIQUE INDEX kms_account_pos ON kms_certificates(account_id, pos);`,
	// 17: wrapped-custody KMS keys (kms.key_custody): the key kept in its
	// row, wrapped under the token's wrapping key and sealed under the KEK,
	// instead of as a token object. NULL for token-resident keys.
	`ALTER TABLE kms_certificates ADD COLUMN key_blob BLOB;`,
	// 18: the token-key quota's count reads only the account's token keys,
	// in an index of their own: wrapped keys (a large fleet's) and external
	// CAs hold none, and counting through their rows made every create of
	// an account of 100,000 wrapped keys read them all, twice, the second
	// time holding the write lock.
	`CREATE INDEX kms_account_token_keys ON kms_certificates(account_id) WHERE key_blob IS NULL;
	CREATE INDEX ca_account_local ON ca_certificates(account_id) WHERE issuer_type = 'local';`,
	// 19: how many certificates each CA has issued, kept as it issues
	// them: DescribeCACertificate counted them on every call, a read of
	// the CA's whole share of issued_certificates. One row per CA and
	// audit chain (a node), so nodes issuing from one CA never wait on
	// each other's counter; the count is their sum. Rows are never
	// removed (a deleted certificate is hidden and still counts).
	`CREATE TABLE ca_issued_counts (
		ca_identifier TEXT NOT NULL,
		shard         TEXT NOT NULL,
		issued        INTEGER NOT NULL,
		PRIMARY KEY (ca_identifier, shard)
	);
	INSERT INTO ca_issued_counts (ca_identifier, shard, issued)
		SELECT issuer_identifier, '', COUNT(*) FROM issued_certificates GROUP BY issuer_identifier;`,
	// 20: expired ClientToken claims are pruned (prune.go), oldest first.
	`CREATE INDEX client_tokens_created ON client_tokens(created_at);`,
	// 21: nonces keyed by expiry first. A nonce's expiry is its request's
	// signed timestamp plus the window, so new nonces go to the right end
	// of the key and the prune takes a run off its left end; keyed by the
	// random nonce, each insert and each pruned row had dirtied a page of
	// its own.
	`CREATE TABLE nonces_by_expiry (
		expires_at    INTEGER NOT NULL,
		access_key_id TEXT NOT NULL,
		nonce         TEXT NOT NULL,
		PRIMARY KEY (expires_at, access_key_id, nonce)
	) WITHOUT ROWID;
	INSERT INTO nonces_by_expiry (expires_at, access_key_id, nonce) SELECT expires_at, access_key_id, nonce FROM nonces;
	DROP TABLE nonces;
	ALTER TABLE nonces_by_expiry RENAME TO nonces;`,
	// 22: each CA's revoked end-entity certificates are counted on its
	// crls row, which every revocation updates already, instead of by a
	// count over the CA's revoked index entries on every status call.
	`ALTER TABLE crls ADD COLUMN revoked INTEGER NOT NULL DEFAULT 0;
	UPDATE crls SET revoked = (SELECT COUNT(*) FROM issued_certificates WHERE issuer_identifier = crls.ca_identifier AND status = 'REVOKE');
	INSERT INTO crls (ca_identifier, crl_number, dirty, generation, revoked)
		SELECT issuer_identifier, 0, 1, 1, COUNT(*) FROM issued_certificates
		WHERE status = 'REVOKE' AND issuer_identifier NOT IN (SELECT ca_identifier FROM crls) GROUP BY issuer_identifier;`,
}

// postgresOverrides replace a migration whose SQLite text PostgreSQL cannot
// run as rewritten. Migration 8 copied tags out of SQLite's JSON columns;
// a PostgreSQL database starts at a schema where that copy has nothing to
// do (store copy brings rows over from a SQLite database already past it).
var postgresOverrides = map[int]string{
	8: `CREATE TABLE resource_tags (
		account_id    TEXT NOT NULL,
		resource_type TEXT NOT NULL CHECK (resource_type IN ('pca','kms')),
		resource_id   TEXT NOT NULL,
		tag_key       TEXT NOT NULL,
		tag_value     TEXT NOT NULL,
		PRIMARY KEY (account_id, resource_type, resource_id, tag_key)
	);
	ALTER TABLE ca_certificates ADD COLUMN alias_name TEXT NOT NULL DEFAULT '';
	ALTER TABLE ca_certificates ADD COLUMN issuer_type TEXT NOT NULL DEFAULT 'local' CHECK (issuer_type IN ('local','external'));
	ALTER TABLE issued_certificates ADD COLUMN alias_name TEXT NOT NULL DEFAULT '';
	ALTER TABLE issued_certificates ADD COLUMN custom_identifier TEXT NOT NULL DEFAULT '';
	CREATE UNIQUE INDEX issued_custom_identifier ON issued_certificates(account_id, custom_identifier) WHERE custom_identifier <> '';
	CREATE INDEX issued_account_serial ON issued_certificates(account_id, serial);
	CREATE INDEX issued_account_keyset ON issued_certificates(account_id, created_at, identifier);
	CREATE INDEX issued_issuer_keyset ON issued_certificates(issuer_identifier, created_at, identifier);
	CREATE INDEX ca_account_keyset ON ca_certificates(account_id, created_at, identifier);
	CREATE INDEX audit_account_resource ON audit_log(account_id, resource, action, seq);`,
}

// migration returns migration v (1-based) in the store's dialect.
func (s *DB) migration(v int) string {
	if s.d != postgresDialect {
		return migrations[v-1]
	}
	if o, ok := postgresOverrides[v]; ok {
		return o
	}
	return postgresDDL(migrations[v-1])
}

// migrateLock is the advisory lock PostgreSQL migrations run under, so
// nodes starting together migrate once.
const migrateLock = 0x6d696772 // "migr"

// ErrSchemaBehind: the database needs migrations and the caller asked for
// none to run (a node that must not issue DDL).
var ErrSchemaBehind = errors.New("store: the database schema is behind this binary; run certcustody migrate")

// migrate brings the schema up to date. Against a current schema it reads
// one row and issues no DDL, so a node can start beside others that are
// serving, under a role without DDL rights. Migrations run only when the
// schema is behind, under a lock (PostgreSQL: an advisory lock; SQLite:
// each migration's write transaction), each re-checking the version so
// two processes never apply one twice.
func (s *DB) migrate(ctx context.Context) error {
	current, err := s.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	if current > len(migrations) {
		return fmt.Errorf("store: database schema version %d is newer than this binary (%d)", current, len(migrations))
	}
	target := len(migrations)
	if s.migrateTo > 0 {
		target = s.migrateTo
	}
	if current >= target {
		return nil
	}
	if s.noMigrate {
		return ErrSchemaBehind
	}
	if s.d == postgresDialect {
		conn, err := s.db.Conn(ctx)
		if err != nil {
			return fmt.Errorf("store: migration lock: %w", err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, migrateLock); err != nil {
			return fmt.Errorf("store: migration lock: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrateLock)
	}
	if _, err := s.e.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("store: migrations table: %w", err)
	}
	for v := current + 1; v <= target; v++ {
		err := s.Tx(ctx, func(tx *Tx) error {
			var now int
			if err := tx.e.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&now); err != nil {
				return err
			}
			if now >= v {
				return nil // another process applied it first
			}
			if _, err := tx.e.ExecContext(ctx, s.migration(v)); err != nil {
				return err
			}
			_, err := tx.e.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, v, time.Now().Unix())
			return err
		})
		if err != nil {
			return fmt.Errorf("store: migration %d: %w", v, err)
		}
	}
	return nil
}

// SchemaVersion returns the applied schema version, 0 for an empty
// database, without creating anything.
func (s *DB) SchemaVersion(ctx context.Context) (int, error) {
	exists := `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`
	if s.d == postgresDialect {
		exists = `SELECT COUNT(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'schema_migrations'`
	}
	var n int
	if err := s.e.QueryRowContext(ctx, exists).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: read schema version: %w", err)
	}
	if n == 0 {
		return 0, nil
	}
	var v int
	if err := s.e.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("store: read schema version: %w", err)
	}
	return v, nil
}

// Migrations is how many migrations this binary knows: the schema version
// it runs against.
func Migrations() int { return len(migrations) }
