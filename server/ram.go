package server

import (
	"net/http"

	"github.com/certcustody/certcustody/certmgr"
)

// ramPrefix is the RAM service prefix of each API version.
var ramPrefix = map[string]string{kmsVersion: "kms", caVersion: "yundun-cert"}

// authorize applies the caller's RAM policy, if any. The resource is the
// certificate's ARN when the request names one, else the account's
// certificate/* ARN.
func (s *Server) authorize(p *certmgr.Principal, req *Request, c certmgr.Caller, secure bool) error {
	if p.Policy == nil {
		return nil
	}
	action, resource := s.ramTarget(req, c)
	if p.Policy.Allows(certmgr.PolicyRequest{Action: action, Resource: resource, SourceIP: c.SourceIP, SecureTransport: secure, Now: s.cfg.Now()}) {
		return nil
	}
	return &certmgr.Error{Code: "Forbidden.RAM", HTTPStatus: http.StatusForbidden, Message: "You are not authorized to do this action: " + action + "."}
}

// ramTarget names a request's RAM action and resource ARN.
func (s *Server) ramTarget(req *Request, c certmgr.Caller) (action, resource string) {
	prefix := ramPrefix[req.Version]
	id := req.Params.Get("CertificateId")
	if prefix == "yundun-cert" {
		id = req.Params.Get("Identifier")
		if id == "" {
			id = req.Params.Get("ParentIdentifier")
		}
	}
	if id == "" {
		id = "*"
	}
	region := c.Region
	if region == "" {
		region = s.cfg.Region
	}
	return prefix + ":" + req.Action, "acs:" + prefix + ":" + region + ":" + c.AccountID + ":certificate/" + id
}
