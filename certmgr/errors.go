package certmgr

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/certcustody/certcustody/certmgr/store"
)

// Error is the one typed error behind every API error code. Packages below
// certmgr wrap their own errors with %w; certmgr turns the ones a caller
// caused into an *Error, and only the server package turns an *Error into an
// HTTP response. Message is shown to the caller, so it must never carry a
// secret (PIN, AccessKey secret, key material).
type Error struct {
	Code       string // API error code, e.g. "InvalidParameter.Subject"
	HTTPStatus int    // HTTP status the server answers with
	Message    string // human-readable, safe to return to the caller
	Err        error  // optional cause, for logs and errors.Is; never shown
	// Denied explains a Forbidden.RAM refusal; nil for every other error.
	Denied *AccessDeniedDetail
}

// Error implements error.
func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return e.Code + ": " + e.Message
}

// Unwrap returns the cause, so errors.Is sees through an *Error.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is an *Error with the same Code, so callers can
// write errors.Is(err, certmgr.ErrNotFound) without comparing messages.
func (e *Error) Is(target error) bool {
	var t *Error
	return errors.As(target, &t) && t.Code == e.Code && t.Message == ""
}

// newError builds an *Error with a formatted message.
func newError(status int, code, format string, args ...any) *Error {
	return &Error{Code: code, HTTPStatus: status, Message: fmt.Sprintf(format, args...)}
}

// MissingParameter reports a required parameter that was not sent.
func MissingParameter(name string) *Error {
	return newError(http.StatusBadRequest, "MissingParameter", "The input parameter %q that is mandatory for processing this request is not supplied.", name)
}

// InvalidParameter reports a parameter whose value is malformed.
func InvalidParameter(name, format string, args ...any) *Error {
	return newError(http.StatusBadRequest, "InvalidParameter", "The parameter %q is invalid: %s", name, fmt.Sprintf(format, args...))
}

// RuleViolation reports otherwise valid input that breaks a rule; the code is
// "InvalidParameter.<Rule>" and the message names the rule.
func RuleViolation(rule, format string, args ...any) *Error {
	return newError(http.StatusBadRequest, "InvalidParameter."+rule, format, args...)
}

// NotFound reports a missing resource, or one that belongs to another account
// (the two must be indistinguishable). code is e.g. "Forbidden.ResourceNotFound".
func NotFound(code, format string, args ...any) *Error {
	return newError(http.StatusNotFound, code, format, args...)
}

// Forbidden reports a refused operation (HTTP 403).
func Forbidden(code, format string, args ...any) *Error {
	return newError(http.StatusForbidden, code, format, args...)
}

// QuotaExceeded reports that an account already holds as many
// token-resident keys (KMS keys and CA keys) as it may; the message names
// the limit.
func QuotaExceeded(limit int) *Error {
	return newError(http.StatusBadRequest, "QuotaExceeded",
		"The account already holds %d token-resident keys (KMS and CA keys), its limit; delete one or ask for a higher limit.", limit)
}

// Sentinel errors for errors.Is checks by code.
var (
	// ErrInternal is the code of every unexpected failure; its details stay in the log.
	ErrInternal = &Error{Code: "InternalError"}
	// ErrQuotaExceeded matches every QuotaExceeded error.
	ErrQuotaExceeded = &Error{Code: "QuotaExceeded"}
)

// Internal wraps an unexpected failure. The caller sees only a generic
// message; err is kept for the log.
func Internal(err error) *Error {
	return &Error{Code: "InternalError", HTTPStatus: http.StatusInternalServerError,
		Message: "The request processing has failed due to some unknown error.", Err: err}
}

// SignatureNonceUsed refuses a request whose signature nonce an earlier
// request of the same AccessKey used within its window.
func SignatureNonceUsed() *Error {
	return newError(http.StatusBadRequest, "SignatureNonceUsed", "Specified signature nonce was used already.")
}

// ErrNonceUsed is the cause of a call's failure when its first commit found
// its signature nonce taken by a request that committed first: the call
// was a replay racing its original (see Journal.ClaimNonce).
var ErrNonceUsed = store.ErrNonceUsed

// AsError returns err as an *Error, turning anything else into Internal(err).
// A lost nonce is SignatureNonceUsed whatever a handler wrapped it in: the
// call was a replay, not a failure of ours.
func AsError(err error) *Error {
	if errors.Is(err, ErrNonceUsed) {
		e := SignatureNonceUsed()
		e.Err = err
		return e
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return Internal(err)
}

// AccessDeniedDetail is the SDK's AccessDeniedDetail object on a
// Forbidden.RAM answer: which action was refused for which principal, and
// whether no statement allowed it or a Deny matched. It never carries the
// policy text.
type AccessDeniedDetail struct {
	AuthAction               string `json:"AuthAction"`
	AuthPrincipalType        string `json:"AuthPrincipalType"`
	AuthPrincipalOwnerID     string `json:"AuthPrincipalOwnerId"`
	AuthPrincipalDisplayName string `json:"AuthPrincipalDisplayName"`
	PolicyType               string `json:"PolicyType"`
	NoPermissionType         string `json:"NoPermissionType"`
}
