package keystore

import (
	"container/list"
	"sync"
	"sync/atomic"

	"github.com/miekg/pkcs11"
)

// unwrapCache holds the session objects that wrapped-class KMS keys were
// unwrapped into, by key ID, least recently used first out. A key in use
// is never destroyed under its user: an evicted or dropped entry is
// destroyed when its last user releases it. It is safe for concurrent use.
type unwrapCache struct {
	mu      sync.Mutex
	max     int
	order   *list.List               // of *unwrapped, most recently used first
	byID    map[string]*list.Element // key ID → its element in order
	unwraps atomic.Uint64            // C_UnwrapKey calls made for uses
}

// unwrapped is one session object of the cache.
type unwrapped struct {
	id   string
	h    pkcs11.ObjectHandle
	refs int  // users holding it now
	out  bool // no longer in the cache: destroy at the last release
	dead bool // its session is gone (recovery): never destroy the number
}

func newUnwrapCache(max int) *unwrapCache {
	return &unwrapCache{max: max, order: list.New(), byID: map[string]*list.Element{}}
}

// get returns the cached object of id, held for the caller, or nil.
func (c *unwrapCache) get(id string) *unwrapped {
	c.mu.Lock()
	defer c.mu.Unlock()
	el := c.byID[id]
	if el == nil {
		return nil
	}
	c.order.MoveToFront(el)
	u := el.Value.(*unwrapped)
	u.refs++
	return u
}

// put caches h as the object of id and returns the entry to use, held for
// the caller, with the handles the caller must destroy: h itself when a
// concurrent unwrap of id got there first, and evicted objects nobody
// holds.
func (c *unwrapCache) put(id string, h pkcs11.ObjectHandle) (*unwrapped, []pkcs11.ObjectHandle) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el := c.byID[id]; el != nil {
		c.order.MoveToFront(el)
		u := el.Value.(*unwrapped)
		u.refs++
		return u, []pkcs11.ObjectHandle{h}
	}
	u := &unwrapped{id: id, h: h, refs: 1}
	c.byID[id] = c.order.PushFront(u)
	var destroy []pkcs11.ObjectHandle
	for c.order.Len() > c.max {
		if h, ok := c.remove(c.order.Back()); ok {
			destroy = append(destroy, h)
		}
	}
	return u, destroy
}

// remove takes el out of the cache and reports its handle when nobody
// holds it (the caller destroys it). Called with mu held.
func (c *unwrapCache) remove(el *list.Element) (pkcs11.ObjectHandle, bool) {
	u := el.Value.(*unwrapped)
	c.order.Remove(el)
	delete(c.byID, u.id)
	u.out = true
	return u.h, u.refs == 0 && !u.dead
}

// release gives back a held entry and reports whether the caller must
// destroy its object now (it left the cache while held).
func (c *unwrapCache) release(u *unwrapped) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	u.refs--
	return u.refs == 0 && u.out && !u.dead
}

// drop takes the entry of id out of the cache (its object no longer works,
// or its key was deleted) and reports a handle to destroy now, if any.
// With only set, it drops only that entry.
func (c *unwrapCache) drop(id string, only *unwrapped) (pkcs11.ObjectHandle, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el := c.byID[id]
	if el == nil || (only != nil && el.Value.(*unwrapped) != only) {
		return 0, false
	}
	return c.remove(el)
}

// flush forgets every entry without destroying anything: after a session
// loss the objects died with their sessions, and their handle numbers may
// name other objects later.
func (c *unwrapCache) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for el := c.order.Front(); el != nil; el = el.Next() {
		u := el.Value.(*unwrapped)
		u.out, u.dead = true, true
	}
	c.order.Init()
	c.byID = map[string]*list.Element{}
}

// len returns how many objects the cache holds.
func (c *unwrapCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
