package keystore

import (
	"context"
	"crypto"
	"io"
)

// TLSKeyID names the server's own TLS private key: a service key (so the
// orphan sweep, which destroys only kms-/ca-<uuid> IDs, never touches it,
// and `token keys` reports it as a ServiceKey), created on demand by
// GenerateTLSKey rather than on first start, because only a deployment
// with tls.key: token needs it.
const TLSKeyID = serviceIDPrefix + "tls-1"

// TLSAlgorithms are the key types a TLS key may have: what Go's TLS stack
// and common clients accept for a server certificate (no SM2, no RSA-1024).
var TLSAlgorithms = []Algorithm{ECP256, ECP384, RSA2048, RSA3072, RSA4096}

// GenerateTLSKey creates the TLS key (TLSKeyID) in the token: sign-only,
// never extractable, not modifiable, with CKA_ALLOWED_MECHANISMS limited to
// the signature mechanisms TLS uses. A TLS key already in the token is
// ErrKeyExists; the caller decides whether to reuse it. Generate with
// this ID and PurposeTLS is the same call.
func (s *Store) GenerateTLSKey(ctx context.Context, alg Algorithm) (*Key, error) {
	return s.Generate(ctx, GenerateRequest{ID: TLSKeyID, Algorithm: alg, Purpose: PurposeTLS})
}

// TLSSigner returns the TLS key as a crypto.Signer and nothing more:
// crypto/tls treats a private key that also implements crypto.Decrypter
// as an RSA key-transport key (and refuses an ECDSA one outright in TLS
// 1.2), while this key can only sign. ctx bounds each token call; the
// server passes one that lives as long as it serves.
func (s *Store) TLSSigner(ctx context.Context) (crypto.Signer, error) {
	k, err := s.Signer(ctx, TLSKeyID)
	if err != nil {
		return nil, err
	}
	return signOnly{k}, nil
}

// signOnly hides the Decrypter half of a Signer.
type signOnly struct{ k *Signer }

var _ crypto.Signer = signOnly{}

func (s signOnly) Public() crypto.PublicKey { return s.k.Public() }

func (s signOnly) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return s.k.Sign(rand, digest, opts)
}
