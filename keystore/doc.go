// Package keystore is certcustody's PKCS#11 custody layer.
//
// It owns everything that touches the token (github.com/miekg/pkcs11): module
// load, login, a bounded session pool with recovery from session loss, key
// generation with explicit custody templates, crypto.Signer and
// crypto.Decrypter adapters over token keys, export of exportable keys through
// C_WrapKey, sealing of small secrets under a token-resident KEK, and the live
// custody report read back from the token's own attributes.
//
// Callers name keys by our key ID (stored as CKA_ID and CKA_LABEL); they never
// see a session, an object handle or an attribute. Handles live in an ID →
// handle index read from the token once when the Store opens and kept
// current by its own generations and destructions (index.go): no request
// path searches the token, whose finds are linear in its object count.
// A stale handle (a key another node destroyed) is checked and dropped, and
// then every entry is checked once before its next use, so a destroyed
// key is not found, never another key.
//
// KMS keys of the wrapped custody class (wrapped_kms.go) are no token
// objects: they are kept by the caller wrapped under the wrapping key and
// sealed under the KEK, and unwrapped into session objects for use.
//
// # Sessions and concurrency
//
// A Store is safe for concurrent use. It keeps one logged-in session for the
// life of the Store (so the login survives an idle pool) and a pool of at
// most Config.MaxSessions sessions for operations. When the token reports a
// lost session or login, the Store re-opens, logs in again, rebuilds its
// index and retries the operation once, so callers do not see
// transient session loss. Key generation has its own concurrency cap.
//
// SoftHSM 2.6.1 cannot find objects while another thread creates or
// destroys token objects (see objectLock), so finds and token-object
// changes take turns per token; signing, decryption and attribute reads
// never wait for them. A generation that still fails with a token fault is
// tried once more, and only after a find by CKA_ID shows nothing of it left.
//
// # SM2
//
// PKCS#11 2.40 defines no SM2 mechanism. On a token without a configured
// vendor SM2 mechanism, SM2 keys are generated in process from token
// randomness and the private scalar is sealed at once under the KEK; each use
// unseals it into memory. Such keys report ProtectionLevel SOFTWARE.
package keystore
