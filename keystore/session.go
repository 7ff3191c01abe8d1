package keystore

import (
	"context"
	"fmt"
	"sync"

	"github.com/miekg/pkcs11"
)

// sessionPool hands out logged-in sessions on one slot. Idle sessions are
// kept open; a session the token reports lost is dropped, never reused.
type sessionPool struct {
	ctx  *pkcs11.Ctx
	slot uint
	pin  string

	sem chan struct{} // one token per session that may be in use

	mu    sync.Mutex
	idle  []pooled
	gen   uint64               // bumped by every recovery
	login pkcs11.SessionHandle // keeps the login alive while the pool is idle
}

type pooled struct {
	h   pkcs11.SessionHandle
	gen uint64
}

func newSessionPool(ctx *pkcs11.Ctx, slot uint, pin string, max int) (*sessionPool, error) {
	p := &sessionPool{ctx: ctx, slot: slot, pin: pin, sem: make(chan struct{}, max)}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.relogin(); err != nil {
		return nil, err
	}
	return p, nil
}

// relogin opens the persistent session and logs in. Called with mu held.
func (p *sessionPool) relogin() error {
	h, err := p.ctx.OpenSession(p.slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		return fmt.Errorf("keystore: open session: %w", err)
	}
	if err := p.ctx.Login(h, pkcs11.CKU_USER, p.pin); err != nil && !isCKR(err, pkcs11.CKR_USER_ALREADY_LOGGED_IN) {
		_ = p.ctx.CloseSession(h)
		if isCKR(err, pkcs11.CKR_PIN_INCORRECT, pkcs11.CKR_PIN_INVALID, pkcs11.CKR_PIN_LEN_RANGE, pkcs11.CKR_PIN_LOCKED, pkcs11.CKR_PIN_EXPIRED) {
			code, _ := ckrCode(err)
			return fmt.Errorf("%w: the token refused the configured PIN (%s)", ErrLogin, pkcs11.Error(code).Error())
		}
		return fmt.Errorf("%w: %v", ErrLogin, err)
	}
	p.login = h
	return nil
}

// get returns a session, waiting for a free place until ctx ends.
func (p *sessionPool) get(ctx context.Context) (pooled, error) {
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return pooled{}, fmt.Errorf("keystore: waiting for a token session: %w", ctx.Err())
	}
	p.mu.Lock()
	for len(p.idle) > 0 {
		s := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if s.gen == p.gen || p.alive(s.h) {
			s.gen = p.gen
			p.mu.Unlock()
			return s, nil
		}
	}
	gen := p.gen
	p.mu.Unlock()
	h, err := p.ctx.OpenSession(p.slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		<-p.sem
		return pooled{}, fmt.Errorf("keystore: open session: %w", err)
	}
	// A new session shares the application's login; if the token dropped
	// it (all sessions closed), log in again rather than hand out a public
	// session that silently cannot see private objects.
	if err := p.ctx.Login(h, pkcs11.CKU_USER, p.pin); err != nil && !isCKR(err, pkcs11.CKR_USER_ALREADY_LOGGED_IN) {
		_ = p.ctx.CloseSession(h)
		<-p.sem
		return pooled{}, fmt.Errorf("%w: %v", ErrLogin, pkcs11Code(err))
	}
	return pooled{h: h, gen: gen}, nil
}

// loggedIn reports whether a session can see private objects.
func (p *sessionPool) loggedIn(h pkcs11.SessionHandle) bool {
	info, err := p.ctx.GetSessionInfo(h)
	return err == nil && (info.State == pkcs11.CKS_RW_USER_FUNCTIONS || info.State == pkcs11.CKS_RO_USER_FUNCTIONS)
}

// alive checks a session from before a recovery; the handle of a session
// the token dropped is never closed, since the number may be reused.
func (p *sessionPool) alive(h pkcs11.SessionHandle) bool {
	_, err := p.ctx.GetSessionInfo(h)
	return err == nil
}

// put returns a session to the pool; a lost one is forgotten.
func (p *sessionPool) put(s pooled, lost bool) {
	if !lost {
		p.mu.Lock()
		p.idle = append(p.idle, s)
		p.mu.Unlock()
	}
	<-p.sem
}

// recover re-establishes the login after the token reported a lost session
// or login. Sessions from before are re-checked before reuse. recovered is
// false when another goroutine had already recovered.
func (p *sessionPool) recover(seen uint64) (recovered bool, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.gen != seen && p.alive(p.login) {
		return false, nil // another goroutine already recovered
	}
	p.gen++
	if !p.alive(p.login) {
		return true, p.relogin()
	}
	// The session survived but the login did not (CKR_USER_NOT_LOGGED_IN).
	if err := p.ctx.Login(p.login, pkcs11.CKU_USER, p.pin); err != nil && !isCKR(err, pkcs11.CKR_USER_ALREADY_LOGGED_IN) {
		return true, fmt.Errorf("%w: %v", ErrLogin, err)
	}
	return true, nil
}

// close closes every session this pool opened.
func (p *sessionPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.idle {
		_ = p.ctx.CloseSession(s.h)
	}
	p.idle = nil
	// No C_Logout: the login belongs to the whole application, and another
	// Store in this process may still use it. Closing our last session ends
	// the login when nobody else holds one.
	_ = p.ctx.CloseSession(p.login)
}

// ping checks the persistent login session with C_GetSessionInfo and, when
// the token lost it or its login, recovers as withSession does. It reports
// whether it recovered.
func (p *sessionPool) ping() (recovered bool, err error) {
	p.mu.Lock()
	h, gen := p.login, p.gen
	p.mu.Unlock()
	info, err := p.ctx.GetSessionInfo(h)
	if err == nil && (info.State == pkcs11.CKS_RW_USER_FUNCTIONS || info.State == pkcs11.CKS_RO_USER_FUNCTIONS) {
		return false, nil
	}
	if err != nil && !sessionLost(err) {
		return false, fmt.Errorf("keystore: C_GetSessionInfo: %w", err)
	}
	if _, err := p.recover(gen); err != nil {
		return true, fmt.Errorf("keystore: recover token session: %w", err)
	}
	p.mu.Lock()
	h = p.login
	p.mu.Unlock()
	if !p.loggedIn(h) {
		return true, fmt.Errorf("keystore: token session not logged in after recovery")
	}
	return true, nil
}
