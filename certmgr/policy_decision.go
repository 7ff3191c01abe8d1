package certmgr

// Decision is a policy's answer to one request.
type Decision int

// A request is allowed by a matching Allow and no matching Deny; refused
// either implicitly (no statement allows it) or explicitly (a Deny
// matches). The two refusals are told apart in AccessDeniedDetail so an
// operator knows whether to add an Allow or look for a Deny.
const (
	ImplicitDeny Decision = iota
	ExplicitDeny
	Allowed
)

// String names the refusal as the cloud's NoPermissionType does.
func (d Decision) String() string {
	switch d {
	case Allowed:
		return "Allowed"
	case ExplicitDeny:
		return "ExplicitDeny"
	}
	return "ImplicitDeny"
}

// Decide evaluates a request: an explicit Deny wins, then any Allow, else
// an implicit deny.
func (p *Policy) Decide(r PolicyRequest) Decision {
	d := ImplicitDeny
	for _, s := range p.Statements {
		if !s.matches(r) {
			continue
		}
		if !s.Allow {
			return ExplicitDeny
		}
		d = Allowed
	}
	return d
}
