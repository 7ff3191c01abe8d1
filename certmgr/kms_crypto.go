package certmgr

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/certcustody/certcustody/certmgr/store"
	"github.com/certcustody/certcustody/csrgen"
	"github.com/certcustody/certcustody/keystore"
	"github.com/tjfoc/gmsm/sm2"
)

const maxRawMessage = 4096 // KMS: RAW messages up to 4 KB

// SignRequest is CertificatePrivateKeySign's input (and, with
// SignatureValue, CertificatePublicKeyVerify's).
type SignRequest struct {
	CertificateID  string
	Algorithm      string // RSA_PKCS1_SHA_256, RSA_PSS_SHA_256, ECDSA_SHA_256, SM2DSA
	Message        string // base64
	MessageType    string // RAW (default) or DIGEST
	SignatureValue string // base64; verify only
}

// signInput is a decoded, checked SignRequest.
type signInput struct {
	row    *store.KMSCertificate
	alg    string
	data   []byte // the message (RAW) or the digest (DIGEST)
	digest bool
}

func (m *Manager) parseSign(ctx context.Context, c Caller, r SignRequest) (*signInput, error) {
	if r.Algorithm == "" {
		return nil, MissingParameter("Algorithm")
	}
	if r.Message == "" {
		return nil, MissingParameter("Message")
	}
	alg := strings.ToUpper(r.Algorithm)
	switch alg {
	case "RSA_PKCS1_SHA_256", "RSA_PSS_SHA_256", "ECDSA_SHA_256", "SM2DSA":
	default:
		return nil, InvalidParameter("Algorithm", "must be RSA_PKCS1_SHA_256, RSA_PSS_SHA_256, ECDSA_SHA_256 or SM2DSA")
	}
	mt := strings.ToUpper(r.MessageType)
	if mt == "" {
		mt = "RAW"
	}
	if mt != "RAW" && mt != "DIGEST" {
		return nil, InvalidParameter("MessageType", "must be RAW or DIGEST")
	}
	data, err := base64.StdEncoding.DecodeString(r.Message)
	if err != nil {
		return nil, InvalidParameter("Message", "must be base64")
	}
	if mt == "RAW" && len(data) > maxRawMessage {
		return nil, InvalidParameter("Message", "a RAW message is at most %d bytes", maxRawMessage)
	}
	if mt == "DIGEST" && len(data) != 32 {
		return nil, InvalidParameter("Message", "a DIGEST for %s is 32 bytes, got %d", alg, len(data))
	}
	row, err := m.getKMS(ctx, c, r.CertificateID)
	if err != nil {
		return nil, err
	}
	want := map[string]string{"RSA_2048": "RSA_", "EC_P256": "ECDSA_", "EC_SM2": "SM2"}[row.KeySpec]
	if !strings.HasPrefix(alg, want) {
		return nil, RuleViolation("Algorithm", "Algorithm %s does not fit the certificate's key %s.", alg, row.KeySpec)
	}
	return &signInput{row: row, alg: alg, data: data, digest: mt == "DIGEST"}, nil
}

func (in *signInput) hashed() []byte {
	if in.digest || in.alg == "SM2DSA" {
		return in.data
	}
	h := sha256.Sum256(in.data)
	return h[:]
}

var pssOpts = &rsa.PSSOptions{SaltLength: 32, Hash: crypto.SHA256}

// CertificatePrivateKeySign signs with the token key. Only an ACTIVE
// certificate signs.
func (m *Manager) CertificatePrivateKeySign(ctx context.Context, c Caller, r SignRequest) (string, error) {
	in, err := m.parseSign(ctx, c, r)
	if err != nil {
		return "", err
	}
	if in.row.Status != StatusActive {
		return "", RuleViolation("CertificateStatus", "The certificate is %s; only an ACTIVE certificate can sign.", in.row.Status)
	}
	signer, err := m.kmsSigner(ctx, in.row)
	if err != nil {
		return "", Internal(err)
	}
	var sig []byte
	switch in.alg {
	case "RSA_PKCS1_SHA_256", "ECDSA_SHA_256":
		sig, err = signer.Sign(rand.Reader, in.hashed(), crypto.SHA256)
	case "RSA_PSS_SHA_256":
		sig, err = signer.Sign(rand.Reader, in.hashed(), pssOpts)
	case "SM2DSA":
		if in.digest {
			sig, err = signer.SignDigest(rand.Reader, in.data)
		} else {
			sig, err = signer.Sign(rand.Reader, in.data, nil)
		}
	}
	if err != nil {
		return "", Internal(err)
	}
	if err := checkRSASignature(signer.Public(), in.alg, in.hashed(), sig); err != nil {
		return "", Internal(err)
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// checkRSASignature verifies an RSA signature the token made before it is
// released. A signature computed with the Chinese remainder theorem that
// a fault corrupted gives away the key's factors to anyone who holds it
// and the message (Boneh, DeMillo and Lipton); a check with the public
// exponent costs about 30 µs against 1.5 ms for the signature. Issuance
// needs none of its own: crypto/x509 checks every certificate signature.
// ECDSA and SM2 signatures are not checked: their verification costs more
// than the signature, and a fault there does not reveal the key the same
// way.
func checkRSASignature(pub crypto.PublicKey, alg string, hashed, sig []byte) error {
	k, ok := pub.(*rsa.PublicKey)
	if !ok {
		return nil
	}
	var err error
	if alg == "RSA_PSS_SHA_256" {
		err = rsa.VerifyPSS(k, crypto.SHA256, hashed, sig, pssOpts)
	} else {
		err = rsa.VerifyPKCS1v15(k, crypto.SHA256, hashed, sig)
	}
	if err != nil {
		return fmt.Errorf("the token returned an RSA signature that does not verify; it was not released: %w", err)
	}
	return nil
}

// CertificatePublicKeyVerify verifies a signature with the certificate's
// public key (any status).
func (m *Manager) CertificatePublicKeyVerify(ctx context.Context, c Caller, r SignRequest) (bool, error) {
	if r.SignatureValue == "" {
		return false, MissingParameter("SignatureValue")
	}
	in, err := m.parseSign(ctx, c, r)
	if err != nil {
		return false, err
	}
	sig, err := base64.StdEncoding.DecodeString(r.SignatureValue)
	if err != nil {
		return false, InvalidParameter("SignatureValue", "must be base64")
	}
	pub, err := kmsPublicKey(in.row)
	if err != nil {
		return false, err
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if in.alg == "RSA_PSS_SHA_256" {
			return rsa.VerifyPSS(k, crypto.SHA256, in.hashed(), sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto}) == nil, nil
		}
		return rsa.VerifyPKCS1v15(k, crypto.SHA256, in.hashed(), sig) == nil, nil
	case *ecdsa.PublicKey:
		return ecdsa.VerifyASN1(k, in.hashed(), sig), nil
	case *sm2.PublicKey:
		if !in.digest {
			return k.Verify(in.data, sig), nil
		}
		var rs struct{ R, S *big.Int }
		if rest, err := asn1.Unmarshal(sig, &rs); err != nil || len(rest) != 0 || rs.R == nil || rs.S == nil {
			return false, nil
		}
		return sm2.Verify(k, in.data, rs.R, rs.S), nil
	}
	return false, Internal(errors.New("unexpected public key type"))
}

func kmsPublicKey(row *store.KMSCertificate) (crypto.PublicKey, error) {
	csr, err := csrgen.ParseCSR(row.CSR)
	if err != nil {
		return nil, Internal(err)
	}
	return csr.PublicKey, nil
}

// EncryptRequest is CertificatePublicKeyEncrypt's input (Plaintext) and
// CertificatePrivateKeyDecrypt's (CiphertextBlob).
type EncryptRequest struct {
	CertificateID  string
	Algorithm      string // RSAES_OAEP_SHA_1, RSAES_OAEP_SHA_256, SM2PKE
	Plaintext      string // base64
	CiphertextBlob string // base64
}

func (m *Manager) parseEncrypt(ctx context.Context, c Caller, r EncryptRequest, field, value string) (*store.KMSCertificate, string, []byte, error) {
	if r.Algorithm == "" {
		return nil, "", nil, MissingParameter("Algorithm")
	}
	if value == "" {
		return nil, "", nil, MissingParameter(field)
	}
	alg := strings.ToUpper(r.Algorithm)
	if alg != "RSAES_OAEP_SHA_1" && alg != "RSAES_OAEP_SHA_256" && alg != "SM2PKE" {
		return nil, "", nil, InvalidParameter("Algorithm", "must be RSAES_OAEP_SHA_1, RSAES_OAEP_SHA_256 or SM2PKE")
	}
	data, err := base64.StdEncoding.DecodeString(value)
	if err != nil {
		return nil, "", nil, InvalidParameter(field, "must be base64")
	}
	if len(data) > 6<<10 {
		return nil, "", nil, InvalidParameter(field, "at most 6 KB")
	}
	row, err := m.getKMS(ctx, c, r.CertificateID)
	if err != nil {
		return nil, "", nil, err
	}
	fits := (row.KeySpec == "RSA_2048" && strings.HasPrefix(alg, "RSAES_")) || (row.KeySpec == "EC_SM2" && alg == "SM2PKE")
	if !fits {
		return nil, "", nil, RuleViolation("Algorithm", "Algorithm %s does not fit the certificate's key %s.", alg, row.KeySpec)
	}
	return row, alg, data, nil
}

func oaepHash(alg string) crypto.Hash {
	if alg == "RSAES_OAEP_SHA_1" {
		return crypto.SHA1
	}
	return crypto.SHA256
}

// CertificatePublicKeyEncrypt encrypts with the certificate's public key
// (any status).
func (m *Manager) CertificatePublicKeyEncrypt(ctx context.Context, c Caller, r EncryptRequest) (string, error) {
	row, alg, data, err := m.parseEncrypt(ctx, c, r, "Plaintext", r.Plaintext)
	if err != nil {
		return "", err
	}
	pub, err := kmsPublicKey(row)
	if err != nil {
		return "", err
	}
	var ct []byte
	switch k := pub.(type) {
	case *rsa.PublicKey:
		h := sha256.New()
		if alg == "RSAES_OAEP_SHA_1" {
			h = sha1.New()
		}
		ct, err = rsa.EncryptOAEP(h, rand.Reader, k, data, nil)
		if errors.Is(err, rsa.ErrMessageTooLong) {
			return "", InvalidParameter("Plaintext", "too long for %s with this key", alg)
		}
	case *sm2.PublicKey:
		ct, err = sm2.EncryptAsn1(k, data, rand.Reader)
	}
	if err != nil {
		return "", Internal(err)
	}
	return base64.StdEncoding.EncodeToString(ct), nil
}

// CertificatePrivateKeyDecrypt decrypts with the token key. Only an ACTIVE
// certificate decrypts; a ciphertext that does not decrypt is
// InvalidParameter.CiphertextBlob.
func (m *Manager) CertificatePrivateKeyDecrypt(ctx context.Context, c Caller, r EncryptRequest) (string, error) {
	row, alg, data, err := m.parseEncrypt(ctx, c, r, "CiphertextBlob", r.CiphertextBlob)
	if err != nil {
		return "", err
	}
	if row.Status != StatusActive {
		return "", RuleViolation("CertificateStatus", "The certificate is %s; only an ACTIVE certificate can decrypt.", row.Status)
	}
	dec, err := m.kmsSigner(ctx, row)
	if err != nil {
		return "", Internal(err)
	}
	var opts crypto.DecrypterOpts
	if alg != "SM2PKE" {
		opts = &rsa.OAEPOptions{Hash: oaepHash(alg)}
	}
	pt, err := dec.Decrypt(rand.Reader, data, opts)
	if errors.Is(err, keystore.ErrDecrypt) {
		return "", RuleViolation("CiphertextBlob", "The ciphertext could not be decrypted with this key and algorithm.")
	}
	if err != nil {
		return "", Internal(err)
	}
	return base64.StdEncoding.EncodeToString(pt), nil
}
