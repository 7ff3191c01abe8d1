package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/certcustody/certcustody/certmgr"
	"github.com/certcustody/certcustody/keystore"
	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
)

// MaxBodyBytes bounds a request body; the largest legitimate request (an
// upload with a chain) is a few tens of KB.
const MaxBodyBytes = 1 << 20

// Auditor starts the audit journal of a request: the records of its
// changes and token-key uses travel in the returned context and commit with
// the changes they record.
type Auditor interface {
	StartAudit(ctx context.Context, requestID, sourceIP string) (context.Context, *certmgr.Journal)
	// UnauditedKeyUses counts token-key uses no journal could record.
	UnauditedKeyUses() uint64
}

// Principals resolves an authenticated AccessKey to its account.
type Principals interface {
	LookupAccessKey(ctx context.Context, id string) (*certmgr.Principal, error)
}

// NoncePrincipals is Principals that also reads, in the same lookup,
// whether a signature nonce is already used (certmgr.Manager is one): the
// server's nonce check then costs no read of its own.
type NoncePrincipals interface {
	Principals
	LookupAccessKeyAndNonce(ctx context.Context, id, nonce string, until time.Time) (*certmgr.Principal, bool, error)
}

// Config wires the server.
type Config struct {
	KMS        KMS
	PrivateCA  PrivateCA
	Principals Principals
	Nonces     NonceStore
	Ready      func(ctx context.Context) error // token and database reachable
	Custody    string                          // "development" or "token", reported by /readyz
	AllowV1    bool                            // accept HMAC-SHA1 signatures
	Region     string
	Throttle   *Throttle             // per user and action; nil: the default 10 QPS
	TokenStats func() keystore.Stats // token counters for /metrics; optional
	Auditor    Auditor               // records every authenticated call and token-key use; optional
	// KeyPool reads the token key pool's counters for /metrics; optional.
	KeyPool func() certmgr.KeyPoolStats
	// GroupCommits reads the store's group-commit counters for /metrics;
	// optional.
	GroupCommits func() certmgr.StoreStats
	// ClientTokens makes creating calls with a ClientToken idempotent;
	// optional (without it a ClientToken is ignored).
	ClientTokens ClientTokens
	// TrustedProxies are the peers whose X-Forwarded-For and
	// X-Forwarded-Proto are honoured (see Peer); empty: none.
	TrustedProxies TrustedProxies
	// Transport describes the listener on /readyz: TransportHTTPS,
	// TransportLoopback or TransportPlaintext.
	Transport string
	Now       func() time.Time
	Logger    *slog.Logger
}

// Server is the HTTP application. It is safe for concurrent use.
type Server struct {
	echo    *echo.Echo
	cfg     Config
	auth    *Authenticator
	actions map[string]binder // key: Version + "/" + Action
	log     *slog.Logger
	metrics *metrics
	ready   readiness
}

// New builds the echo application.
func New(cfg Config) *Server {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
	}
	if cfg.Throttle == nil {
		cfg.Throttle = &Throttle{}
	}
	s := &Server{cfg: cfg, log: cfg.Logger, actions: map[string]binder{}, metrics: newMetrics(cfg.TokenStats, cfg.KeyPool, cfg.GroupCommits, cfg.Auditor)}
	// Creds and Admit are set per request (see rpc).
	s.auth = &Authenticator{Nonces: cfg.Nonces, Now: cfg.Now, AllowV1: cfg.AllowV1, Window: 15 * time.Minute}
	for name, h := range kmsActions(cfg.KMS) {
		s.actions[kmsVersion+"/"+name] = h
	}
	if cfg.PrivateCA != nil {
		for name, h := range caActions(cfg.PrivateCA) {
			s.actions[caVersion+"/"+name] = h
		}
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Use(s.peerMiddleware)
	e.GET("/", s.rpc)
	e.POST("/", s.rpc)
	e.GET("/healthz", func(c echo.Context) error { return c.JSON(http.StatusOK, map[string]string{"status": "ok"}) })
	e.GET("/readyz", s.readyz)
	e.GET("/crl/:file", s.crl)
	e.GET("/metrics", echo.WrapHandler(s.metrics.handler()))
	s.echo = e
	return s
}

// Handler returns the HTTP handler.
func (s *Server) Handler() http.Handler { return s.echo }

// principalOnce adapts Principals to the Authenticator's secret lookup for
// one request and keeps the principal it found and, when the lookup read
// it too, whether the request's nonce was already used.
type principalOnce struct {
	p     Principals
	found *certmgr.Principal
	// nonce and nonceUntil are the nonce and expiry the lookup read;
	// nonceUsed its answer; nonceRead whether there is one.
	nonce      string
	nonceUntil time.Time
	nonceUsed  bool
	nonceRead  bool
}

func (c *principalOnce) SecretFor(ctx context.Context, id string) (string, error) {
	p, err := c.p.LookupAccessKey(ctx, id)
	if err != nil {
		return "", err
	}
	c.found = p
	return p.Secret, nil
}

func (c *principalOnce) SecretForNonce(ctx context.Context, id, nonce string, until time.Time) (string, error) {
	np, ok := c.p.(NoncePrincipals)
	if !ok {
		return c.SecretFor(ctx, id)
	}
	p, used, err := np.LookupAccessKeyAndNonce(ctx, id, nonce, until)
	if err != nil {
		return "", err
	}
	c.found, c.nonce, c.nonceUntil, c.nonceUsed, c.nonceRead = p, nonce, until, used, true
	return p.Secret, nil
}

// usedNonce returns what the lookup read of this nonce of this key with
// this expiry; ok is false when it read nothing of it.
func (c *principalOnce) usedNonce(accessKeyID, nonce string, until time.Time) (used, ok bool) {
	if !c.nonceRead || c.found == nil || c.found.AccessKeyID != accessKeyID || c.nonce != nonce || !c.nonceUntil.Equal(until) {
		return false, false
	}
	return c.nonceUsed, true
}

// readyFor is how long a readiness answer is reused: probes, however
// many and however unauthenticated, cost the token at most one ping a
// second and never a pooled session.
const readyFor = time.Second

// readiness caches the last readiness check.
type readiness struct {
	mu  sync.Mutex
	at  time.Time
	err error
}

func (s *Server) readyz(c echo.Context) error {
	err := s.ready.check(c.Request().Context(), s.cfg.Ready)
	if err != nil {
		s.log.Warn("not ready", "err", err)
		return c.JSON(http.StatusServiceUnavailable, s.readyBody("unavailable"))
	}
	return c.JSON(http.StatusOK, s.readyBody("ok"))
}

// check runs ready at most once per readyFor; callers arriving during a
// check wait for its answer instead of starting another.
func (r *readiness) check(ctx context.Context, ready func(context.Context) error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.at.IsZero() && time.Since(r.at) < readyFor {
		return r.err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	r.err, r.at = ready(ctx), time.Now()
	return r.err
}

// rpc handles one RPC call: read the bounded body, authenticate, dispatch,
// encode. Every response carries a RequestId that also goes to the log.
func (s *Server) rpc(c echo.Context) error {
	start := time.Now()
	r, w := c.Request(), c.Response()
	requestID := uuid.NewString()
	w.Header().Set("x-acs-request-id", requestID)
	format := formatOf(r)
	action := ""
	accessKey := ""
	// The journal is in ctx from the start, so a token-key use made while
	// authenticating (unsealing an AccessKey secret) is recorded too.
	ctx := r.Context()
	peer := PeerFrom(ctx)
	var journal *certmgr.Journal
	if s.cfg.Auditor != nil {
		ctx, journal = s.cfg.Auditor.StartAudit(ctx, requestID, peer.SourceIP)
		journal.SetClientCert(peer.ClientCertSubject)
	}
	finish := func(code string) error {
		cps, err := journal.Finish(ctx, code)
		if err != nil && !errors.Is(err, certmgr.ErrNonceUsed) {
			s.metrics.auditFailures.Inc()
			s.log.Error("audit append failed", "request_id", requestID, "err", err)
		}
		for _, cp := range cps {
			s.log.Info("audit checkpoint", "seq", cp.Seq, "head_hash", cp.HeadHash)
		}
		return err
	}
	// A panic must not take the connection down without an answer, and its
	// value (which could hold request data) goes only to the log.
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("panic in handler", "request_id", requestID, "action", action, "panic", fmt.Sprint(p))
			_ = finish("InternalError")
			WriteError(w, format, requestID, r.Host, certmgr.Internal(fmt.Errorf("panic")))
		}
	}()
	fail := func(e *certmgr.Error) error {
		level := slog.LevelInfo
		if e.HTTPStatus >= 500 {
			level = slog.LevelError
		}
		_ = finish(e.Code)
		s.metrics.observe(action, e.Code, start)
		s.log.Log(ctx, level, "request failed", "request_id", requestID, "action", action, "access_key_id", accessKey,
			"code", e.Code, "status", e.HTTPStatus, "err", errString(e.Err), "ms", time.Since(start).Milliseconds(), peerLog(peer))
		WriteError(w, format, requestID, r.Host, e)
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		return fail(certmgr.InvalidParameter("body", "cannot read the request body"))
	}
	if len(body) > MaxBodyBytes {
		return fail(&certmgr.Error{Code: "RequestEntityTooLarge", HTTPStatus: http.StatusRequestEntityTooLarge, Message: "The request body exceeds 1 MiB."})
	}
	// One lookup per request: the principal that supplied the secret for
	// the signature check is the one the call runs as.
	creds := &principalOnce{p: s.cfg.Principals}
	auth := *s.auth
	auth.Creds = creds
	if nc, ok := s.cfg.Nonces.(NonceChecker); ok && journal != nil {
		auth.Nonces = journalNonces{check: nc, journal: journal, read: creds}
	}
	auth.Admit = func(id, version, act string) error {
		// Resolved before any per-action state exists: every unknown
		// action shares one throttle bucket, one metric label and one
		// audit name, so inventing names buys nothing.
		action, accessKey = s.resolve(version, act), id
		if !s.cfg.Throttle.Allow(id, action, s.cfg.Now()) {
			return throttled()
		}
		return nil
	}
	req, err := auth.Authenticate(ctx, r, body)
	if err != nil {
		return fail(certmgr.AsError(err))
	}
	accessKey = req.AccessKeyID
	if req.Format != "" {
		format = req.Format
	}
	principal := creds.found
	if principal == nil || principal.AccessKeyID != req.AccessKeyID {
		return fail(certmgr.Internal(fmt.Errorf("authenticated without a principal")))
	}
	caller := certmgr.Caller{AccountID: principal.AccountID, AccessKeyID: principal.AccessKeyID, Region: s.cfg.Region, SourceIP: peer.SourceIP}
	// From here on the call is authenticated: its outcome, allowed or not,
	// is an audit record. An unknown action is recorded under "unknown"
	// with no resource: nothing the caller invented reaches the log.
	bind, known := s.actions[req.Version+"/"+action]
	if !known {
		journal.SetCaller(caller, action, "")
		return fail(certmgr.NotFound("InvalidAction.NotFound", "Specified api %q is not found in version %q.", clip(req.Action, 64), clip(req.Version, 16)))
	}
	auditAction := req.Version + "/" + action
	journal.SetCaller(caller, auditAction, "")
	if err := s.checkRegion(req.Params); err != nil {
		return fail(certmgr.AsError(err))
	}
	call, err := bind(req.Params)
	if err != nil {
		return fail(certmgr.AsError(err))
	}
	arns := s.arns(ramPrefix[req.Version], caller, call.resources)
	journal.SetCaller(caller, auditAction, auditResource(arns))
	if err := s.authorize(principal, ramPrefix[req.Version]+":"+action, arns, caller, peer); err != nil {
		return fail(certmgr.AsError(err))
	}
	if call.cost != "" && !s.cfg.Throttle.Allow(accessKey, costBucket+call.cost, s.cfg.Now()) {
		return fail(throttled())
	}
	var result any
	if token := req.Params.Get("ClientToken"); token != "" && call.replay != nil && s.cfg.ClientTokens != nil {
		result, err = s.idempotent(ctx, caller, journal, call, token, fingerprint(req.Version, action, req.Params), auditAction)
	} else {
		result, err = call.run(ctx, caller)
	}
	if err != nil {
		return fail(certmgr.AsError(err))
	}
	// A result leaves only with its record: a signature or a key the log
	// cannot account for is not handed out.
	if err := finish("OK"); err != nil {
		return fail(certmgr.AsError(fmt.Errorf("audit: %w", err)))
	}
	s.metrics.observe(action, "OK", start)
	s.log.Info("request", "request_id", requestID, "action", action, "access_key_id", accessKey, "account_id", caller.AccountID,
		"status", http.StatusOK, "ms", time.Since(start).Milliseconds(), peerLog(peer))
	if err := WriteResult(w, format, action, requestID, result); err != nil {
		s.log.Error("encode response", "request_id", requestID, "err", err)
	}
	return nil
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// formatOf guesses the response format before the parameters are parsed,
// so that even an authentication error is in the format the client reads.
func formatOf(r *http.Request) string {
	if f := r.URL.Query().Get("Format"); f != "" {
		return f
	}
	return "JSON"
}

// crl serves GET /crl/<CA Identifier>.crl as DER, with ETag (the CRL
// number) and Last-Modified (thisUpdate) so caches revalidate cheaply.
func (s *Server) crl(c echo.Context) error {
	if s.cfg.PrivateCA == nil {
		return c.NoContent(http.StatusNotFound)
	}
	id, ok := strings.CutSuffix(c.Param("file"), ".crl")
	if !ok || id == "" {
		return c.NoContent(http.StatusNotFound)
	}
	doc, err := s.cfg.PrivateCA.CRL(c.Request().Context(), id)
	if err != nil {
		e := certmgr.AsError(err)
		if e.HTTPStatus >= 500 {
			s.log.Error("build CRL", "ca", id, "err", errString(e.Err))
		}
		return c.NoContent(e.HTTPStatus)
	}
	etag := fmt.Sprintf("%q", strconv.FormatInt(doc.Number, 10))
	h := c.Response().Header()
	h.Set("ETag", etag)
	h.Set("Last-Modified", doc.ThisUpdate.UTC().Format(http.TimeFormat))
	if c.Request().Header.Get("If-None-Match") == etag {
		return c.NoContent(http.StatusNotModified)
	}
	return c.Blob(http.StatusOK, "application/pkix-crl", doc.DER)
}
