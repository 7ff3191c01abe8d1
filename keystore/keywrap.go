package keystore

import (
	"crypto/aes"
	"crypto/subtle"
	"encoding/binary"
	"errors"
)

var errKeyWrap = errors.New("AES key unwrap failed")

// aesKeyUnwrapPad undoes RFC 5649 AES Key Wrap with Padding, the form
// CKM_AES_KEY_WRAP_PAD produces.
func aesKeyUnwrapPad(kek, wrapped []byte) ([]byte, error) {
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, err
	}
	if len(wrapped) < 16 || len(wrapped)%8 != 0 {
		return nil, errKeyWrap
	}
	n := len(wrapped)/8 - 1
	var a [8]byte
	r := make([]byte, 8*n)
	if n == 1 {
		var b [16]byte
		block.Decrypt(b[:], wrapped)
		copy(a[:], b[:8])
		copy(r, b[8:])
	} else {
		copy(a[:], wrapped[:8])
		copy(r, wrapped[8:])
		var b [16]byte
		for j := 5; j >= 0; j-- {
			for i := n; i >= 1; i-- {
				t := uint64(n*j + i)
				binary.BigEndian.PutUint64(b[:8], binary.BigEndian.Uint64(a[:])^t)
				copy(b[8:], r[(i-1)*8:i*8])
				block.Decrypt(b[:], b[:])
				copy(a[:], b[:8])
				copy(r[(i-1)*8:], b[8:])
			}
		}
	}
	if subtle.ConstantTimeCompare(a[:4], []byte{0xA6, 0x59, 0x59, 0xA6}) != 1 {
		return nil, errKeyWrap
	}
	mli := int(binary.BigEndian.Uint32(a[4:]))
	if mli <= 8*(n-1) || mli > 8*n {
		return nil, errKeyWrap
	}
	for _, p := range r[mli:] {
		if p != 0 {
			return nil, errKeyWrap
		}
	}
	return r[:mli], nil
}
