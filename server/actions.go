package server

import (
	"context"
	"strings"

	"github.com/certcustody/certcustody/certmgr"
)

// A request is one action's parameters, parsed once. Resources names the
// identifiers the call acts on (the CA it issues from, the certificate it
// revokes, every identifier of a list); nil means the account as a whole.
// Authorization runs on exactly these, and the handler receives the same
// value, so no second reading of raw parameters can disagree with it.
type request interface{ Resources() []string }

// call is a request bound to its handler.
type call struct {
	resources []string
	run       func(ctx context.Context, c certmgr.Caller) (any, error)
	// replay answers a retry from the resource the first call made; nil
	// for actions that take no ClientToken.
	replay replayer
	// cost names expensive token work the request asks for (RSA-4096
	// generation), which has a throttle bucket of its own; "" for none.
	cost string
}

// costly is a request that can ask for expensive token work.
type costly interface{ Cost() string }

// costOf is a request's cost class, if it has one.
func costOf(r request) string {
	if c, ok := r.(costly); ok {
		return c.Cost()
	}
	return ""
}

// binder parses an action's parameters into a call.
type binder func(p Params) (call, error)

// op builds a binder from a parser and a handler over the same request
// type: the handler can only see the value whose Resources were
// authorized.
func op[R request](parse func(Params) (R, error), run func(context.Context, certmgr.Caller, R) (any, error)) binder {
	return func(p Params) (call, error) {
		r, err := parse(p)
		if err != nil {
			return call{}, err
		}
		return call{resources: r.Resources(), cost: costOf(r), run: func(ctx context.Context, c certmgr.Caller) (any, error) { return run(ctx, c, r) }}, nil
	}
}

// MaxIdentifierLength bounds every resource identifier before it reaches
// authorization or the database. Ours are UUIDs (36 bytes); 64 leaves room
// for the cloud's own formats.
const MaxIdentifierLength = 64

// maxIdentifiers bounds a comma-separated identifier list.
const maxIdentifiers = 100

// checkIdentifier admits letters, digits, '-', '_' and '.': a ':', '/' or
// wildcard in an identifier would reshape the ARN a policy is matched on.
func checkIdentifier(name, v string) error {
	if len(v) > MaxIdentifierLength {
		return certmgr.InvalidParameter(name, "longer than %d bytes", MaxIdentifierLength)
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return certmgr.InvalidParameter(name, "only letters, digits, '-', '_' and '.' are allowed")
		}
	}
	return nil
}

// identifier reads one identifier parameter; required ones must be present.
func identifier(p Params, name string, required bool) (string, error) {
	v := p.Get(name)
	if v == "" {
		if required {
			return "", certmgr.MissingParameter(name)
		}
		return "", nil
	}
	return v, checkIdentifier(name, v)
}

// identifierList reads a comma-separated list, trimmed; every entry is
// checked and the list is bounded.
func identifierList(p Params, name string) ([]string, error) {
	v := p.Get(name)
	if v == "" {
		return nil, certmgr.MissingParameter(name)
	}
	if strings.Count(v, ",") >= maxIdentifiers {
		return nil, certmgr.InvalidParameter(name, "at most %d identifiers", maxIdentifiers)
	}
	parts := strings.Split(v, ",")
	for i, s := range parts {
		s = strings.TrimSpace(s)
		if s == "" {
			return nil, certmgr.InvalidParameter(name, "an empty identifier in the list")
		}
		if err := checkIdentifier(name, s); err != nil {
			return nil, err
		}
		parts[i] = s
	}
	return parts, nil
}

// one is a request naming one resource.
type one struct{ ID string }

// Resources is the one identifier.
func (r one) Resources() []string { return []string{r.ID} }

// oneOf parses a required identifier parameter.
func oneOf(name string) func(Params) (one, error) {
	return func(p Params) (one, error) {
		id, err := identifier(p, name, true)
		return one{id}, err
	}
}

// many is a request naming every identifier of a list.
type many []string

// Resources is every identifier of the list.
func (r many) Resources() []string { return r }

// manyOf parses a comma-separated identifier list parameter.
func manyOf(name string) func(Params) (many, error) {
	return func(p Params) (many, error) {
		ids, err := identifierList(p, name)
		return many(ids), err
	}
}

// account is a request on the account as a whole (a listing, a count).
type account struct{}

// Resources is nil: the account itself.
func (account) Resources() []string { return nil }

func noParams(Params) (account, error) { return account{}, nil }

// notSupported answers an action that only makes sense in a cloud's
// billing or console with a clear refusal instead of NotFound.
func notSupported(why string) binder {
	return func(Params) (call, error) {
		return call{}, &certmgr.Error{Code: "InvalidAction.NotSupported", HTTPStatus: 400,
			Message: "This action is not supported by certcustody: " + why}
	}
}
