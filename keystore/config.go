package keystore

import (
	"fmt"
	"runtime"
	"strings"
)

// Config says which token to use and how. The PIN is never logged or put in
// an error.
type Config struct {
	Module     string // path of the PKCS#11 module
	TokenLabel string // label of the token to open
	PIN        string // user PIN

	// MaxSessions caps the operation pool (default 2×GOMAXPROCS, and never
	// above the token's own MaxRwSessionCount).
	MaxSessions int
	// MaxConcurrentKeygen caps concurrent key generation (default GOMAXPROCS):
	// RSA-4096 generation costs seconds of token CPU.
	MaxConcurrentKeygen int
	// AllowSoftwareSM2 permits SM2 keys sealed under the KEK when the token
	// has no SM2 mechanism. Production configs must opt in.
	AllowSoftwareSM2 bool
	// UnwrappedKeys bounds how many wrapped-class KMS keys stay unwrapped
	// in the token (as session objects) between uses, least recently used
	// first out (default DefaultUnwrappedKeys). Each miss costs a KEK
	// decryption and a C_UnwrapKey.
	UnwrappedKeys int
	// SM2 names vendor mechanism codes for tokens with native SM2. When
	// KeyGen is zero or the token does not list it, software SM2 is used
	// (if allowed).
	SM2 SM2Mechanisms
}

// SM2Mechanisms are vendor-defined PKCS#11 codes for native SM2 (no standard
// codes exist in PKCS#11 2.40).
type SM2Mechanisms struct {
	KeyGen  uint // key-pair generation mechanism
	Sign    uint // signature over e = SM3(Z‖M), raw r‖s output
	Decrypt uint // GM/T 0009 decryption
	KeyType uint // CKA_KEY_TYPE of SM2 keys
}

func (c *Config) withDefaults() (Config, error) {
	out := *c
	if out.Module == "" {
		return out, fmt.Errorf("keystore: no PKCS#11 module configured")
	}
	if out.TokenLabel == "" {
		return out, fmt.Errorf("keystore: no token label configured")
	}
	if out.MaxSessions <= 0 {
		out.MaxSessions = 2 * runtime.GOMAXPROCS(0)
	}
	if out.UnwrappedKeys <= 0 {
		out.UnwrappedKeys = DefaultUnwrappedKeys
	}
	if out.MaxConcurrentKeygen <= 0 {
		out.MaxConcurrentKeygen = runtime.GOMAXPROCS(0)
	}
	return out, nil
}

// DefaultUnwrappedKeys is Config.UnwrappedKeys when unset.
const DefaultUnwrappedKeys = 256

// Algorithm is a key algorithm and size.
type Algorithm string

// Algorithms the keystore generates.
const (
	RSA1024 Algorithm = "RSA_1024"
	RSA2048 Algorithm = "RSA_2048"
	RSA3072 Algorithm = "RSA_3072"
	RSA4096 Algorithm = "RSA_4096"
	ECP256  Algorithm = "EC_P256"
	ECP384  Algorithm = "EC_P384"
	ECP521  Algorithm = "EC_P521"
	SM2     Algorithm = "EC_SM2"
)

// ParseAlgorithm matches a name case-insensitively.
func ParseAlgorithm(s string) (Algorithm, error) {
	for _, a := range []Algorithm{RSA1024, RSA2048, RSA3072, RSA4096, ECP256, ECP384, ECP521, SM2} {
		if strings.EqualFold(s, string(a)) {
			return a, nil
		}
	}
	return "", fmt.Errorf("%w: algorithm %q", ErrUnsupported, s)
}

// IsRSA reports whether a is an RSA size.
func (a Algorithm) IsRSA() bool { return strings.HasPrefix(string(a), "RSA_") }

// rsaBits returns the modulus size of an RSA algorithm.
func (a Algorithm) rsaBits() int {
	switch a {
	case RSA1024:
		return 1024
	case RSA2048:
		return 2048
	case RSA3072:
		return 3072
	case RSA4096:
		return 4096
	}
	return 0
}

// Purpose fixes what a key may do; the template follows from it and callers
// cannot override individual attributes.
type Purpose int

const (
	// PurposeKMS keys sign and (RSA, SM2) decrypt on behalf of their owner.
	PurposeKMS Purpose = iota + 1
	// PurposeCA keys only sign and are never extractable.
	PurposeCA
	// PurposeSign keys only sign (service keys such as the audit key).
	PurposeSign
	// PurposeTLS is the server's own TLS key (TLSKeyID): it only signs
	// handshakes, is never extractable and cannot be modified, like a CA
	// key. Only GenerateTLSKey creates one.
	PurposeTLS
)

func (p Purpose) String() string {
	switch p {
	case PurposeKMS:
		return "kms"
	case PurposeCA:
		return "ca"
	case PurposeSign:
		return "sign"
	case PurposeTLS:
		return "tls"
	}
	return fmt.Sprintf("purpose(%d)", int(p))
}

// ProtectionLevel says where a private key is protected.
type ProtectionLevel string

const (
	// ProtectionHSM: the private key exists only inside the token.
	ProtectionHSM ProtectionLevel = "HSM"
	// ProtectionSoftware: the key is used in process memory and sealed at
	// rest under a token key (SM2 on a token without SM2).
	ProtectionSoftware ProtectionLevel = "SOFTWARE"
)
