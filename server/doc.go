// Package server is certcustody's HTTP front: the cloud RPC wire protocol
// on "/" (dispatch by Version and Action, query and form parameters merged,
// v1 HMAC-SHA1 and V3 ACS3-HMAC-SHA256 signatures, single-use nonces, JSON
// and XML), plus /healthz and /readyz.
//
// It parses parameters into certmgr request structs and encodes certmgr
// results; it never builds an X.509 structure or touches the token. It is
// the one place where a certmgr.Error becomes an HTTP status and an error
// body; any other error becomes InternalError with details only in the log.
// Secrets (AccessKey secrets, PINs, key material) never reach a log line,
// an error message or a response.
package server
