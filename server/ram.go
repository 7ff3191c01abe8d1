package server

import (
	"net/http"
	"strings"

	"github.com/certcustody/certcustody/certmgr"
)

// ramPrefix is the RAM service prefix of each API version.
var ramPrefix = map[string]string{kmsVersion: "kms", caVersion: "yundun-cert"}

// arns names a call's resources as RAM sees them: one certificate ARN per
// identifier the parsed request acts on, or the account's certificate/*
// when it acts on the account as a whole. Identifiers were checked when
// the request was parsed (bounded, no ':' '/' or wildcards), and the
// region is always the configured one, so an ARN cannot be reshaped.
func (s *Server) arns(prefix string, c certmgr.Caller, ids []string) []string {
	base := "acs:" + prefix + ":" + s.cfg.Region + ":" + c.AccountID + ":certificate/"
	if len(ids) == 0 {
		return []string{base + "*"}
	}
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = base + id
	}
	return out
}

// authorize applies the caller's RAM policy, if any: the action must be
// allowed on every resource the call acts on.
func (s *Server) authorize(p *certmgr.Principal, action string, arns []string, c certmgr.Caller, peer Peer) error {
	if p.Policy == nil {
		return nil
	}
	now := s.cfg.Now()
	for _, arn := range arns {
		d := p.Policy.Decide(certmgr.PolicyRequest{Action: action, Resource: arn, SourceIP: peer.SourceIP, SecureTransport: peer.Secure,
			ClientCertSubject: peer.ClientCertSubject, Now: now})
		if d == certmgr.Allowed {
			continue
		}
		return &certmgr.Error{Code: "Forbidden.RAM", HTTPStatus: http.StatusForbidden,
			Message: "You are not authorized to do this action: " + action + ".",
			Denied: &certmgr.AccessDeniedDetail{AuthAction: action, AuthPrincipalType: "SubUser", AuthPrincipalOwnerID: c.AccountID,
				AuthPrincipalDisplayName: c.AccessKeyID, PolicyType: "AccountLevelIdentityBasedPolicy", NoPermissionType: d.String()}}
	}
	return nil
}

// checkRegion admits a RegionId only when it is the configured region: it
// is written into every ARN, so any other value would name resources
// this service does not hold.
func (s *Server) checkRegion(p Params) error {
	if v, ok := p["RegionId"]; ok && v != "" && v != s.cfg.Region {
		return certmgr.RuleViolation("RegionId", "This service serves region %q only.", s.cfg.Region)
	}
	return nil
}

// resolve returns the canonical action name, or "unknown" for a version
// and action this server does not implement.
func (s *Server) resolve(version, action string) string {
	if _, ok := s.actions[version+"/"+action]; ok {
		return action
	}
	return "unknown"
}

// MaxAuditResourceLength bounds the resource field of an audit record:
// a call naming a hundred identifiers is recorded as the ARNs that fit,
// then "...".
const MaxAuditResourceLength = 4096

// auditResource joins a call's ARNs for its audit record.
func auditResource(arns []string) string {
	return clip(strings.Join(arns, ","), MaxAuditResourceLength)
}

// clip bounds a string taken from a request for a log, a record or a
// message, cutting at a rune boundary and marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && (s[i]&0xC0) == 0x80 {
		i--
	}
	return s[:i] + "..."
}
