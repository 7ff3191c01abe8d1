// Package store persists certmgr's rows: accounts, access keys, nonces,
// KMS certificates and the token key pool. SQLite (mattn/go-sqlite3, WAL, synchronous=FULL, foreign
// keys on) is the embedded default; the schema is applied by versioned
// migrations recorded in schema_migrations.
//
// It stores key references (our key ID, printable as a PKCS#11 URI), never
// token handles, and sealed blobs, never secrets in clear. It knows nothing
// of PKCS#11, X.509 or the wire protocol; certmgr owns the rules.
package store
