package keystore

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"

	"github.com/miekg/pkcs11"
)

// AAD binds a sealed blob to its place: a blob moved to another row, or
// whose flags were changed, no longer opens.
type AAD struct {
	Purpose    string // what the secret is, e.g. "accesskey-secret", "sm2-scalar"
	Account    string
	KeyID      string
	Exportable bool
}

// encode is purpose‖account‖keyID‖exportable‖kekVersion, each string length-
// prefixed so that no two different AADs encode alike.
func (a AAD) encode(kekVersion uint32) []byte {
	var b []byte
	for _, f := range []string{a.Purpose, a.Account, a.KeyID} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	if a.Exportable {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	return binary.BigEndian.AppendUint32(b, kekVersion)
}

const (
	sealFormat = 1
	gcmIVLen   = 12
	gcmTagBits = 128
	sealHeader = 1 + 4 + gcmIVLen
	maxSealLen = 64 << 10 // secrets are small; refuse anything that is not
)

// Seal encrypts a small secret with AES-256-GCM under the newest KEK inside
// the token. The blob is format‖kekVersion‖IV‖ciphertext‖tag.
func (s *Store) Seal(ctx context.Context, aad AAD, plaintext []byte) ([]byte, error) {
	blob, err := s.seal(ctx, aad, plaintext)
	s.used(ctx, OpSeal, kekOf(blob), mechAESGCM, err)
	return blob, err
}

// kekOf names the KEK a sealed blob is under, for the key-use record.
func kekOf(blob []byte) string {
	if len(blob) < sealHeader || blob[0] != sealFormat {
		return "kek"
	}
	return kekID(binary.BigEndian.Uint32(blob[1:5]))
}

func (s *Store) seal(ctx context.Context, aad AAD, plaintext []byte) ([]byte, error) {
	if len(plaintext) > maxSealLen {
		return nil, fmt.Errorf("keystore: secret too large to seal (%d bytes)", len(plaintext))
	}
	s.service.mu.Lock()
	v := s.service.kekVersion
	s.service.mu.Unlock()
	iv := make([]byte, gcmIVLen)
	if _, err := rand.Read(iv); err != nil {
		return nil, fmt.Errorf("keystore: IV: %w", err)
	}
	var ct []byte
	err := s.withSession(ctx, func(sh pkcs11.SessionHandle, _ bool) error {
		kek, err := s.secretHandle(ctx, sh, kekID(v))
		if err != nil {
			return err
		}
		params := pkcs11.NewGCMParams(iv, aad.encode(v), gcmTagBits)
		defer params.Free()
		if err := s.ctx.EncryptInit(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_GCM, params)}, kek); err != nil {
			return fmt.Errorf("keystore: seal: %w", err)
		}
		ct, err = s.ctx.Encrypt(sh, plaintext)
		if err != nil {
			return fmt.Errorf("keystore: seal: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	blob := make([]byte, 0, sealHeader+len(ct))
	blob = append(blob, sealFormat)
	blob = binary.BigEndian.AppendUint32(blob, v)
	blob = append(blob, iv...)
	return append(blob, ct...), nil
}

// Open decrypts a blob made by Seal with the same AAD. Any mismatch (other
// row, flipped flag, altered byte) is ErrSealedBlob.
func (s *Store) Open(ctx context.Context, aad AAD, blob []byte) ([]byte, error) {
	pt, err := s.open(ctx, aad, blob)
	s.used(ctx, OpUnseal, kekOf(blob), mechAESGCM, err)
	return pt, err
}

func (s *Store) open(ctx context.Context, aad AAD, blob []byte) ([]byte, error) {
	if len(blob) < sealHeader+gcmTagBits/8 || len(blob) > sealHeader+maxSealLen+gcmTagBits/8 || blob[0] != sealFormat {
		return nil, ErrSealedBlob
	}
	v := binary.BigEndian.Uint32(blob[1:5])
	iv := blob[5:sealHeader]
	var pt []byte
	err := s.withSession(ctx, func(sh pkcs11.SessionHandle, _ bool) error {
		kek, err := s.secretHandle(ctx, sh, kekID(v))
		if err != nil {
			if sessionLost(err) {
				return err
			}
			return ErrSealedBlob
		}
		params := pkcs11.NewGCMParams(iv, aad.encode(v), gcmTagBits)
		defer params.Free()
		if err := s.ctx.DecryptInit(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_GCM, params)}, kek); err != nil {
			return fmt.Errorf("keystore: open sealed blob: %w", err)
		}
		pt, err = s.ctx.Decrypt(sh, blob[sealHeader:])
		if err != nil {
			if sessionLost(err) || handleStale(err) {
				return err
			}
			return ErrSealedBlob
		}
		return nil
	})
	return pt, err
}
