// Package csrgen owns distinguished names, subject alternative names and
// PKCS#10 certificate requests: RFC 4514 DN parsing and printing, SAN
// validation (DNS, email, IP, URI) and the KMS SubjectAlternativeNames JSON,
// and CSR building, parsing and self-signature verification for RSA, ECDSA
// (P-256/384/521) and SM2 with SM3.
//
// It signs only through a crypto.Signer and never sees a private key, a token
// or a policy: what a CA will issue is certmgr's decision. gmsm stays behind
// sm2.go; callers see crypto/x509 types except *sm2.PublicKey for SM2 keys.
// Errors for bad input wrap an exported sentinel and are safe to show a caller.
package csrgen
