// Package certmgr is certcustody's domain: the KMS certificate lifecycle
// (create with a token key and CSR, upload, status, sign/verify,
// encrypt/decrypt, export), the token key pool that creates draw from,
// accounts and access keys, and the typed Error every API code comes from.
//
// certmgr never sees a PKCS#11 handle, session or attribute: it asks the
// keystore for a key by our key ID and gets a crypto.Signer. It never speaks
// HTTP: the server package parses requests into certmgr's request structs
// and turns *Error into wire errors. Every lookup is scoped to the caller's
// account, and another account's resource is reported exactly like a
// missing one.
package certmgr
