package keystore

import (
	"context"
	"crypto"
	"crypto/rsa"
	"sync"
	"sync/atomic"
)

// Op names a kind of token-key use.
type Op string

// The uses reported to observers and counted in Stats.
const (
	OpGenerate        Op = "generate"         // a key pair created in the token (or a software SM2 key sealed)
	OpDestroy         Op = "destroy"          // a key's token objects destroyed
	OpSign            Op = "sign"             // a signature with a held key
	OpDecrypt         Op = "decrypt"          // a decryption with a held key
	OpExport          Op = "export"           // an exportable key wrapped out of the token
	OpSeal            Op = "seal"             // a secret encrypted under the KEK
	OpUnseal          Op = "unseal"           // a secret decrypted under the KEK
	OpGenerateWrapped Op = "generate-wrapped" // a leaf key made in a session and wrapped under the wrap key
	OpExportWrapped   Op = "export-wrapped"   // a wrapped leaf key unwrapped for its owner
	OpUnwrap          Op = "unwrap"           // a wrapped-class KMS key unwrapped into a session object for use
)

// KeyUse is one use of a token key, as reported to observers. It never
// holds key material or data.
type KeyUse struct {
	Op        Op
	KeyID     string // our key ID; for seal/unseal the KEK, for wrapped leaf keys the wrap key
	Mechanism string // the PKCS#11 mechanism (or "SM2-software")
	Err       error  // nil when the use succeeded
}

// Observer is told of every key use, on the goroutine that made it and
// with its context, after the token call returns. It must not call the
// Store.
type Observer func(ctx context.Context, u KeyUse)

// UseKind is a counter key: what was done, with which mechanism.
type UseKind struct {
	Op        Op
	Mechanism string
}

// observers holds the registered observers and the use counters.
type observers struct {
	mu    sync.Mutex
	list  atomic.Pointer[[]Observer]
	count sync.Map // UseKind → *atomic.Uint64
}

func newObservers() *observers { return &observers{} }

func (o *observers) add(k UseKind) {
	n, ok := o.count.Load(k)
	if !ok {
		n, _ = o.count.LoadOrStore(k, new(atomic.Uint64))
	}
	n.(*atomic.Uint64).Add(1)
}

func (o *observers) snapshot() map[UseKind]uint64 {
	out := map[UseKind]uint64{}
	o.count.Range(func(k, v any) bool {
		out[k.(UseKind)] = v.(*atomic.Uint64).Load()
		return true
	})
	return out
}

// Observe registers fn for every later key use. The audit log and the
// metrics are observers.
func (s *Store) Observe(fn Observer) {
	o := s.obs
	o.mu.Lock()
	defer o.mu.Unlock()
	var next []Observer
	if cur := o.list.Load(); cur != nil {
		next = append(next, *cur...)
	}
	next = append(next, fn)
	o.list.Store(&next)
}

// used counts a key use and tells the observers.
func (s *Store) used(ctx context.Context, op Op, keyID, mech string, err error) {
	s.obs.add(UseKind{Op: op, Mechanism: mech})
	if l := s.obs.list.Load(); l != nil {
		u := KeyUse{Op: op, KeyID: keyID, Mechanism: mech, Err: err}
		for _, fn := range *l {
			fn(ctx, u)
		}
	}
}

// signMechanism names the mechanism Sign uses for a key and options.
func signMechanism(alg Algorithm, opts crypto.SignerOpts) string {
	switch {
	case alg == SM2:
		return mechSM2Software
	case alg.IsRSA():
		if _, ok := opts.(*rsa.PSSOptions); ok {
			return "CKM_RSA_PKCS_PSS"
		}
		return "CKM_RSA_PKCS"
	default:
		return "CKM_ECDSA"
	}
}

func generateMechanism(alg Algorithm) string {
	switch {
	case alg == SM2:
		return mechSM2Software
	case alg.IsRSA():
		return "CKM_RSA_PKCS_KEY_PAIR_GEN"
	default:
		return "CKM_EC_KEY_PAIR_GEN"
	}
}

// wrappedMechanism names how a service-generated leaf key is protected.
func wrappedMechanism(alg Algorithm) string {
	if alg == SM2 {
		return mechAESGCM // sealed under the KEK
	}
	return mechAESWrapPad
}

const (
	mechSM2Software = "SM2-software"
	mechAESGCM      = "CKM_AES_GCM"
	mechAESWrapPad  = "CKM_AES_KEY_WRAP_PAD"
)
