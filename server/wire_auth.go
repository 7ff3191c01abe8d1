package server

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"time"

	"github.com/certcustody/certcustody/certmgr"
)

// Credentials finds the secret of an AccessKey. Unknown keys must return a
// *certmgr.Error (InvalidAccessKeyId.NotFound).
type Credentials interface {
	SecretFor(ctx context.Context, accessKeyID string) (string, error)
}

// NonceCredentials is Credentials that can read, in the lookup that finds
// the secret, whether the request's signature nonce is already used, and
// keep the answer for its NonceStore: one read for both. The Authenticator
// hands such credentials the request's nonce.
type NonceCredentials interface {
	Credentials
	SecretForNonce(ctx context.Context, accessKeyID, nonce string, until time.Time) (string, error)
}

// secretFor looks up the secret, with the nonce and its expiry when the
// credentials take them.
func (a *Authenticator) secretFor(ctx context.Context, accessKeyID, nonce string, until time.Time) (string, error) {
	if c, ok := a.Creds.(NonceCredentials); ok {
		return c.SecretForNonce(ctx, accessKeyID, nonce, until)
	}
	return a.Creds.SecretFor(ctx, accessKeyID)
}

// NonceStore records signature nonces. UseNonce returns false when the
// nonce was already used by this AccessKey with this expiry (the signed
// timestamp plus the window, which a replay repeats); a store may also
// refuse it under any other expiry still ahead, as MemoryNonces does.
type NonceStore interface {
	UseNonce(ctx context.Context, accessKeyID, nonce string, until time.Time) (bool, error)
}

// Authenticator verifies v1 (HMAC-SHA1) and V3 (ACS3-HMAC-SHA256) request
// signatures exactly as the official SDKs compute them.
type Authenticator struct {
	Creds   Credentials
	Nonces  NonceStore
	Now     func() time.Time
	AllowV1 bool
	Window  time.Duration // accepted clock skew each side; 15 minutes
	// Admit, when set, is asked once the signature verifies and before the
	// nonce is recorded; its error refuses the request. The per-user
	// throttle sits here, so that a throttled request writes nothing, not
	// even its nonce, while a forged one cannot spend another user's
	// tokens.
	Admit func(accessKeyID, version, action string) error
}

// Request is an authenticated call.
type Request struct {
	AccessKeyID      string
	Action, Version  string
	Format           string // JSON or XML
	SignatureVersion string // "1.0" or "ACS3-HMAC-SHA256"
	Params           Params
}

func authError(status int, code, format string, args ...any) *certmgr.Error {
	return &certmgr.Error{Code: code, HTTPStatus: status, Message: sprintf(format, args...)}
}

// Authenticate parses and verifies a request. The nonce is recorded only
// after the signature verifies and Admit lets the request in, so neither
// unauthenticated nor throttled traffic can fill the nonce store.
func (a *Authenticator) Authenticate(ctx context.Context, r *http.Request, body []byte) (*Request, error) {
	if a.Now == nil || a.Window <= 0 {
		// A zero Authenticator must not panic on a nil clock or refuse
		// every request for a zero window.
		c := *a
		if c.Now == nil {
			c.Now = time.Now
		}
		if c.Window <= 0 {
			c.Window = 15 * time.Minute
		}
		a = &c
	}
	params, err := ParseParams(r, body)
	if err != nil {
		return nil, err
	}
	var (
		req            = &Request{Params: params, Format: params.Get("Format")}
		ts, nonce, sts string
		got, want      string
		secret         string
		until          time.Time // the nonce's expiry: the signed time plus the window
	)
	if h := r.Header.Get("Authorization"); h != "" {
		auth, err := parseAuthorizationV3(h)
		if err != nil {
			return nil, authError(http.StatusBadRequest, "IncompleteSignature", "The Authorization header is malformed.")
		}
		if err := checkSignedHeaders(r, auth.SignedHeaders, len(body) > 0); err != nil {
			return nil, err
		}
		sum := sha256.Sum256(body)
		if !hmac.Equal([]byte(strings.ToLower(r.Header.Get("x-acs-content-sha256"))), []byte(hex.EncodeToString(sum[:]))) {
			return nil, authError(http.StatusBadRequest, "SignatureDoesNotMatch", "The x-acs-content-sha256 header does not match the request body.")
		}
		req.AccessKeyID, req.SignatureVersion = auth.AccessKeyID, v3Algorithm
		req.Action, req.Version = r.Header.Get("x-acs-action"), r.Header.Get("x-acs-version")
		ts, nonce = r.Header.Get("x-acs-date"), r.Header.Get("x-acs-signature-nonce")
		if until, err = a.checkTime(ts, "x-acs-date"); err != nil {
			return nil, err
		}
		if secret, err = a.secretFor(ctx, req.AccessKeyID, nonce, until); err != nil {
			return nil, err
		}
		sts = stringToSignV3(r, auth, hex.EncodeToString(sum[:]))
		got, want = auth.Signature, signV3(secret, sts)
	} else {
		for _, name := range []string{"AccessKeyId", "Signature", "SignatureMethod", "SignatureVersion", "SignatureNonce", "Timestamp", "Action", "Version"} {
			if params.Get(name) == "" {
				return nil, certmgr.MissingParameter(name)
			}
		}
		if !a.AllowV1 {
			return nil, authError(http.StatusBadRequest, "InvalidSignatureVersion", "HMAC-SHA1 (v1) signatures are turned off on this server; sign with ACS3-HMAC-SHA256.")
		}
		if params.Get("SignatureMethod") != "HMAC-SHA1" || params.Get("SignatureVersion") != "1.0" {
			return nil, authError(http.StatusBadRequest, "InvalidSignatureMethod", "Only SignatureMethod HMAC-SHA1 with SignatureVersion 1.0 is supported.")
		}
		req.AccessKeyID, req.SignatureVersion = params.Get("AccessKeyId"), "1.0"
		req.Action, req.Version = params.Get("Action"), params.Get("Version")
		ts, nonce = params.Get("Timestamp"), params.Get("SignatureNonce")
		if until, err = a.checkTime(ts, "Timestamp"); err != nil {
			return nil, err
		}
		if secret, err = a.secretFor(ctx, req.AccessKeyID, nonce, until); err != nil {
			return nil, err
		}
		sts = StringToSignV1(r.Method, params)
		got, want = params.Get("Signature"), signStringV1(sts, secret)
	}
	if !hmac.Equal([]byte(got), []byte(want)) {
		return nil, authError(http.StatusBadRequest, "SignatureDoesNotMatch", "Specified signature is not matched with our calculation. server string to sign is:%s", sts)
	}
	if req.Action == "" || req.Version == "" {
		return nil, certmgr.MissingParameter("Action")
	}
	if nonce == "" {
		return nil, certmgr.MissingParameter("SignatureNonce")
	}
	if len(nonce) > 128 {
		return nil, certmgr.InvalidParameter("SignatureNonce", "longer than 128 bytes")
	}
	if a.Admit != nil {
		if err := a.Admit(req.AccessKeyID, req.Version, req.Action); err != nil {
			return nil, err
		}
	}
	fresh, err := a.Nonces.UseNonce(ctx, req.AccessKeyID, nonce, until)
	if err != nil {
		return nil, certmgr.Internal(err)
	}
	if !fresh {
		return nil, certmgr.SignatureNonceUsed()
	}
	return req, nil
}

// checkSignedHeaders requires host and the x-acs-* headers that carry the
// action, time, nonce and body hash to be signed, every x-acs-* header sent
// to be signed too, and content-type to be signed when there is a body
// (it decides whether the body's fields become parameters). A signed
// header must appear at most once: with two values the signature covers
// both but the handler would read only the first.
func checkSignedHeaders(r *http.Request, signed []string, hasBody bool) error {
	set := map[string]bool{}
	for _, h := range signed {
		set[h] = true
		if h != "host" && len(r.Header.Values(h)) > 1 {
			return authError(http.StatusBadRequest, "IncompleteSignature", "The signed header %q appears more than once.", h)
		}
	}
	must := []string{"host", "x-acs-action", "x-acs-version", "x-acs-date", "x-acs-signature-nonce", "x-acs-content-sha256"}
	if hasBody {
		must = append(must, "content-type")
	}
	for _, m := range must {
		if !set[m] {
			return authError(http.StatusBadRequest, "IncompleteSignature", "The header %q must be signed.", m)
		}
	}
	for name := range r.Header {
		if l := strings.ToLower(name); strings.HasPrefix(l, "x-acs-") && !set[l] {
			return authError(http.StatusBadRequest, "IncompleteSignature", "The header %q must be signed.", l)
		}
	}
	return nil
}

func parseTimestamp(s string) (time.Time, error) {
	for _, layout := range []string{"2006-01-02T15:04:05Z", "2006-01-02T15:04:05.999Z"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errBadTimestamp
}

// checkTime refuses a timestamp outside the window either side of now and
// returns the expiry its request's nonce is recorded with: the timestamp
// plus the window, which a replay repeats (see store.NonceUsed).
func (a *Authenticator) checkTime(ts, name string) (until time.Time, err error) {
	if ts == "" {
		return time.Time{}, certmgr.MissingParameter(name)
	}
	t, err := parseTimestamp(ts)
	if err != nil {
		return time.Time{}, authError(http.StatusBadRequest, "InvalidTimeStamp.Format", "Specified time stamp or date value is not well formatted (want yyyy-MM-ddTHH:mm:ssZ in UTC).")
	}
	now := a.Now()
	if t.Before(now.Add(-a.Window)) || t.After(now.Add(a.Window)) {
		return time.Time{}, authError(http.StatusBadRequest, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.")
	}
	return t.Add(a.Window), nil
}
