package csrgen

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error this package returns for bad input wraps
// exactly one of them (test with errors.Is); a signer's own failure in
// CreateCSR is wrapped as is instead. The text after the "csrgen: " prefix
// names the rule that broke and echoes at most a short, escaped piece of the
// input, so it can be returned to an API caller as is.
var (
	// ErrInvalidDN reports a distinguished name that does not parse or
	// breaks a subject rule.
	ErrInvalidDN = errors.New("invalid distinguished name")
	// ErrMissingAttribute reports a subject that lacks a required attribute.
	ErrMissingAttribute = errors.New("missing subject attribute")
	// ErrInvalidSAN reports a subject alternative name, or a list of them,
	// that breaks a rule.
	ErrInvalidSAN = errors.New("invalid subject alternative name")
	// ErrInvalidCSR reports a certificate request that does not parse, is
	// not self-consistent, or whose self-signature does not verify.
	ErrInvalidCSR = errors.New("invalid certificate request")
	// ErrUnsupportedKey reports a public key type or size this package
	// cannot put in a CSR.
	ErrUnsupportedKey = errors.New("unsupported key")
)

// csrError is the one error type of the package. It wraps the sentinel
// through Unwrap rather than fmt.Errorf("%w") so that Error() is the
// caller-safe message alone, without the sentinel's text in it.
type csrError struct {
	sentinel error // nil when cause is not ours
	cause    error
	msg      string
}

func (e *csrError) Error() string {
	if e.cause != nil {
		return "csrgen: " + e.msg + ": " + e.cause.Error()
	}
	return "csrgen: " + e.msg
}

func (e *csrError) Unwrap() []error {
	var errs []error
	for _, err := range []error{e.sentinel, e.cause} {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

func newErr(sentinel error, format string, args ...any) error {
	return &csrError{sentinel: sentinel, msg: fmt.Sprintf(format, args...)}
}

// wrapCause wraps an error from outside the package (a signer's) with what
// we were doing, keeping it visible to errors.Is and errors.As.
func wrapCause(cause error, doing string) error {
	return &csrError{cause: cause, msg: doing}
}

// quote renders a piece of user input for an error message: quoted, with
// control and non-UTF-8 bytes escaped, and cut short so a hostile input
// cannot flood a log or a response.
func quote(s string) string {
	const max = 64
	r := []rune(s)
	if len(r) > max {
		return fmt.Sprintf("%q…", string(r[:max]))
	}
	return fmt.Sprintf("%q", s)
}
