package keystore

import (
	"context"
	"fmt"
	"sync"
)

// objectLock keeps C_FindObjectsInit apart from token-object creation and
// destruction on one token. SoftHSM 2.6.1 (file backend) cannot run them at
// the same time in one process: C_FindObjectsInit calls isValid() on every
// token object, which re-reads each object file whose generation changed,
// and a new object is already in the token's object set while its creator
// is still writing its attributes one by one (fcntl locks do not exclude
// threads of one process). A find that re-reads the half-written file marks
// the shared in-memory object invalid and discards its attributes; the
// creator's next attribute write then fails, P11Object::init reports
// "Could not initialize the attribute", and C_GenerateKeyPair answers
// CKR_GENERAL_ERROR.
//
// Measured on SoftHSM 2.6.1 with 2 cores (raw PKCS#11, one session per
// goroutine, EC P-256 token keys): 8 concurrent generators, 2000 key
// pairs: 0 errors; 4 generators with 4 concurrent signers or attribute
// readers: 0 errors; generators with concurrent finds: CKR_GENERAL_ERROR
// (and keystore's find-then-generate from 16 goroutines failed 3 of 500).
// So creations may overlap each other and signing is never held back; only
// finds are kept out while objects are created, and creations while finds
// run.
//
// The lock admits holders of one kind at a time: any number of finds, or
// any number of creations, or one destruction (OSToken::deleteObject reads
// the token's object set before taking the token mutex, so a destruction
// must not overlap a creation, which inserts into that set, or another
// destruction). When another kind is waiting, new holders of the kind
// inside queue behind it, so no kind starves. The lock is shared by every
// Store on the same token in this process; other processes cannot see it,
// and need not: the race is between threads sharing SoftHSM's in-memory
// objects.
type objectLock struct {
	mu      sync.Mutex
	kind    lockKind // the kind inside, while inside > 0
	inside  int
	waiting [numLockKinds]int
	wake    [numLockKinds]chan struct{} // closed to wake the waiters of a kind
}

type lockKind int

const (
	lockFind    lockKind = iota // C_FindObjectsInit … C_FindObjectsFinal
	lockCreate                  // creating token objects
	lockDestroy                 // destroying token objects
	numLockKinds
)

func (k lockKind) String() string {
	return [...]string{"find token objects", "create token objects", "destroy token objects"}[k]
}

// shared reports whether holders of kind k may overlap each other.
func (k lockKind) shared() bool { return k != lockDestroy }

// acquire waits until a holder of kind k may enter, or ctx ends. The
// returned func releases the lock; call it exactly once.
func (l *objectLock) acquire(ctx context.Context, k lockKind) (func(), error) {
	l.mu.Lock()
	for {
		if l.inside == 0 || (l.kind == k && k.shared() && !l.othersWaiting(k)) {
			l.kind = k
			l.inside++
			l.mu.Unlock()
			return l.release, nil
		}
		if l.wake[k] == nil {
			l.wake[k] = make(chan struct{})
		}
		ch := l.wake[k]
		l.waiting[k]++
		l.mu.Unlock()
		var err error
		select {
		case <-ch:
		case <-ctx.Done():
			err = ctx.Err()
		}
		l.mu.Lock()
		l.waiting[k]--
		if err != nil {
			// Our wait may have held back holders of the kind inside.
			l.broadcastAll()
			l.mu.Unlock()
			return nil, fmt.Errorf("keystore: waiting to %s: %w", k, err)
		}
	}
}

func (l *objectLock) othersWaiting(k lockKind) bool {
	for o := range numLockKinds {
		if o != k && l.waiting[o] > 0 {
			return true
		}
	}
	return false
}

func (l *objectLock) release() {
	l.mu.Lock()
	l.inside--
	if l.inside == 0 {
		l.broadcastAll()
	}
	l.mu.Unlock()
}

// broadcastAll wakes every waiter to re-check. Called with mu held.
func (l *objectLock) broadcastAll() {
	for k := range numLockKinds {
		if l.wake[k] != nil {
			close(l.wake[k])
			l.wake[k] = nil
		}
	}
}

// Token locks are per token (module path and token label), shared by the
// Stores of this process.
var (
	objectLocksMu sync.Mutex
	objectLocks   = map[[2]string]*objectLock{}
)

func tokenObjectLock(module, label string) *objectLock {
	objectLocksMu.Lock()
	defer objectLocksMu.Unlock()
	k := [2]string{module, label}
	l := objectLocks[k]
	if l == nil {
		l = &objectLock{}
		objectLocks[k] = l
	}
	return l
}

// locked runs fn holding the token's object lock as kind k.
func (s *Store) locked(ctx context.Context, k lockKind, fn func() error) error {
	release, err := s.objLock.acquire(ctx, k)
	if err != nil {
		return err
	}
	defer release()
	return fn()
}
