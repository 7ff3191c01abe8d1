package keystore

import (
	"errors"

	"github.com/miekg/pkcs11"
)

var (
	// ErrNotFound: no key with this ID exists in the token.
	ErrNotFound = errors.New("keystore: key not found")
	// ErrKeyExists: a key with this ID already exists (IDs are never reused).
	ErrKeyExists = errors.New("keystore: key ID already in use")
	// ErrNotExportable: the key was created non-exportable; the token refuses too.
	ErrNotExportable = errors.New("keystore: key is not exportable")
	// ErrUnsupported: the algorithm, purpose or mechanism is not available.
	ErrUnsupported = errors.New("keystore: unsupported operation")
	// ErrLogin: the token refused the configured PIN.
	ErrLogin = errors.New("keystore: token login failed")
	// ErrDecrypt: a ciphertext did not decrypt. Deliberately uninformative.
	ErrDecrypt = errors.New("keystore: decryption failed")
	// ErrSealedBlob: a sealed blob is malformed, altered or bound to other data.
	ErrSealedBlob = errors.New("keystore: sealed blob does not open")
	// ErrKeyPurpose: the key's purpose forbids the operation (an SM2 CA or
	// signing key asked to decrypt).
	ErrKeyPurpose = errors.New("keystore: the key's purpose does not allow this operation")
	// ErrClosed: the Store has been closed.
	ErrClosed = errors.New("keystore: store is closed")
)

// ckrCode returns the CKR_ code inside err, if any.
func ckrCode(err error) (uint, bool) {
	var e pkcs11.Error
	if errors.As(err, &e) {
		return uint(e), true
	}
	return 0, false
}

// isCKR reports whether err carries one of the given CKR_ codes.
func isCKR(err error, codes ...uint) bool {
	c, ok := ckrCode(err)
	if !ok {
		return false
	}
	for _, want := range codes {
		if c == want {
			return true
		}
	}
	return false
}

// sessionLost reports the errors after which a session (or the login behind
// it) is gone and must be re-established.
func sessionLost(err error) bool {
	return isCKR(err, pkcs11.CKR_SESSION_HANDLE_INVALID, pkcs11.CKR_SESSION_CLOSED,
		pkcs11.CKR_USER_NOT_LOGGED_IN, pkcs11.CKR_DEVICE_REMOVED, pkcs11.CKR_TOKEN_NOT_PRESENT,
		pkcs11.CKR_DEVICE_ERROR, pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED)
}

// handleStale reports that a cached object handle no longer names an object.
func handleStale(err error) bool {
	return isCKR(err, pkcs11.CKR_OBJECT_HANDLE_INVALID, pkcs11.CKR_KEY_HANDLE_INVALID)
}

// pkcs11Code returns just the CKR_ name of err, for messages that must not
// carry anything else.
func pkcs11Code(err error) string {
	if c, ok := ckrCode(err); ok {
		return pkcs11.Error(c).Error()
	}
	return "token error"
}
