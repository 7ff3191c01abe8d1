package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"

	"github.com/certcustody/certcustody/certmgr"
)

// ClientTokens finds the claim a creating call made of its ClientToken.
type ClientTokens interface {
	ClientTokenClaim(ctx context.Context, c certmgr.Caller, token string) (*certmgr.ClientTokenClaim, error)
}

// replayer rebuilds a committed call's answer from the resource it made.
type replayer func(ctx context.Context, c certmgr.Caller, resourceID string) (any, error)

// opReplay is op for a creating action that honours ClientToken: a retry
// with the same token and parameters is answered from the first call's
// resource instead of making a second one.
func opReplay[R request](parse func(Params) (R, error), run func(context.Context, certmgr.Caller, R) (any, error),
	replay func(context.Context, certmgr.Caller, R, string) (any, error)) binder {
	return func(p Params) (call, error) {
		r, err := parse(p)
		if err != nil {
			return call{}, err
		}
		return call{resources: r.Resources(), cost: costOf(r),
			run:    func(ctx context.Context, c certmgr.Caller) (any, error) { return run(ctx, c, r) },
			replay: func(ctx context.Context, c certmgr.Caller, id string) (any, error) { return replay(ctx, c, r, id) }}, nil
	}
}

// maxClientToken bounds a ClientToken (the SDK sends a UUID).
const maxClientToken = 64

// commonParams are the protocol's parameters, which differ between a call
// and its retry (nonce, time, signature) or do not change what it does.
var commonParams = map[string]bool{"AccessKeyId": true, "Signature": true, "SignatureMethod": true, "SignatureVersion": true,
	"SignatureNonce": true, "SignatureType": true, "Timestamp": true, "Format": true, "ClientToken": true, "RegionId": true}

// fingerprint identifies what a call asks for: its version, action and
// every parameter but the protocol's. A retry must send the same.
func fingerprint(version, action string, p Params) string {
	h := sha256.New()
	h.Write([]byte(version + "\x00" + action + "\x00"))
	for _, k := range p.sortedKeys() {
		if commonParams[k] || k == "Action" || k == "Version" {
			continue
		}
		h.Write([]byte(k + "\x00" + p[k] + "\x00"))
	}
	return hex.EncodeToString(h.Sum(nil))
}

func mismatch() *certmgr.Error {
	return &certmgr.Error{Code: "IdempotentParameterMismatch", HTTPStatus: http.StatusBadRequest,
		Message: "The ClientToken was used by an earlier request with different parameters within 24 hours."}
}

// idempotent runs a call that carries a ClientToken: the answer of the
// first call with that token (within certmgr.ClientTokenTTL) when one
// committed, else the call itself, with the token claimed in its change's
// transaction. Losing that claim to a concurrent retry rolls the change
// back; the winner's resource is then the answer.
func (s *Server) idempotent(ctx context.Context, c certmgr.Caller, j *certmgr.Journal, cl call, token, fp, action string) (any, error) {
	if len(token) > maxClientToken {
		return nil, certmgr.InvalidParameter("ClientToken", "longer than %d bytes", maxClientToken)
	}
	replay := func() (any, bool, error) {
		claim, err := s.cfg.ClientTokens.ClientTokenClaim(ctx, c, token)
		if err != nil || claim == nil {
			return nil, false, err
		}
		if claim.Fingerprint != fp || claim.Action != action {
			return nil, true, mismatch()
		}
		res, err := cl.replay(ctx, c, claim.ResourceID)
		return res, true, err
	}
	if res, found, err := replay(); found || err != nil {
		return res, err
	}
	j.ClaimClientToken(token, fp)
	res, err := cl.run(ctx, c)
	if errors.Is(err, certmgr.ErrClientTokenUsed) {
		if res, found, rerr := replay(); found || rerr != nil {
			return res, rerr
		}
	}
	return res, err
}
