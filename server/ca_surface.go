package server

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/certcustody/certcustody/certmgr"
)

// CASurface is what the rest of the Private CA surface needs from certmgr:
// serial lookups, instance status, keyset listings, tags, the CA log and
// external subordinate CAs.
type CASurface interface {
	DescribeClientCertificateForSerialNumber(ctx context.Context, c certmgr.Caller, serial string) (*certmgr.SerialCertificateList, error)
	DescribeClientCertificateStatusForSerialNumber(ctx context.Context, c certmgr.Caller, serial string) (*certmgr.SerialStatusList, error)
	GetCAInstanceStatus(ctx context.Context, c certmgr.Caller, r certmgr.GetCAInstanceStatusRequest) (*certmgr.CAInstanceStatusList, error)
	ListCert(ctx context.Context, c certmgr.Caller, r certmgr.ListCertRequest) (*certmgr.CertList, error)
	ListAllEndEntityInstance(ctx context.Context, c certmgr.Caller, r certmgr.ListAllEndEntityInstanceRequest) (*certmgr.EndEntityInstanceList, error)
	ListPcaCaCertificate(ctx context.Context, c certmgr.Caller, r certmgr.ListPcaCaCertificateRequest) (*certmgr.PcaCAList, error)
	UpdatePcaCertificate(ctx context.Context, c certmgr.Caller, r certmgr.UpdatePcaCertificateRequest) (*certmgr.Done, error)
	TagResources(ctx context.Context, c certmgr.Caller, r certmgr.TagResourcesRequest) (*certmgr.Done, error)
	UntagResources(ctx context.Context, c certmgr.Caller, r certmgr.UntagResourcesRequest) (*certmgr.Done, error)
	ListTagResources(ctx context.Context, c certmgr.Caller, r certmgr.ListTagResourcesRequest) (*certmgr.TagResourcesPage, error)
	ListCACertificateLog(ctx context.Context, c certmgr.Caller, identifier string) (*certmgr.CALog, error)
	CreateExternalCACertificate(ctx context.Context, c certmgr.Caller, r certmgr.ExternalCARequest) (*certmgr.ExternalCAResult, error)
}

func caSurfaceActions(ca CASurface) map[string]binder {
	return map[string]binder{
		"DescribeClientCertificateForSerialNumber": op(serialRequest, func(ctx context.Context, c certmgr.Caller, r bySerial) (any, error) {
			return ca.DescribeClientCertificateForSerialNumber(ctx, c, r.Serial)
		}),
		"DescribeClientCertificateStatusForSerialNumber": op(serialRequest, func(ctx context.Context, c certmgr.Caller, r bySerial) (any, error) {
			return ca.DescribeClientCertificateStatusForSerialNumber(ctx, c, r.Serial)
		}),
		"GetCAInstanceStatus": op(instanceStatusRequest, func(ctx context.Context, c certmgr.Caller, r certmgr.GetCAInstanceStatusRequest) (any, error) {
			return ca.GetCAInstanceStatus(ctx, c, r)
		}),
		"ListCert": op(listCertRequest, func(ctx context.Context, c certmgr.Caller, r certmgr.ListCertRequest) (any, error) {
			return ca.ListCert(ctx, c, r)
		}),
		"ListAllEndEntityInstance": op(endEntityRequest, func(ctx context.Context, c certmgr.Caller, r certmgr.ListAllEndEntityInstanceRequest) (any, error) {
			return ca.ListAllEndEntityInstance(ctx, c, r)
		}),
		"ListPcaCaCertificate": op(pcaListRequest, func(ctx context.Context, c certmgr.Caller, r certmgr.ListPcaCaCertificateRequest) (any, error) {
			return ca.ListPcaCaCertificate(ctx, c, r)
		}),
		"UpdatePcaCertificate": opReplay(updatePcaRequest, func(ctx context.Context, c certmgr.Caller, r certmgr.UpdatePcaCertificateRequest) (any, error) {
			return ca.UpdatePcaCertificate(ctx, c, r)
		}, replayNothing[certmgr.UpdatePcaCertificateRequest]),
		"TagResources": op(tagResourcesRequest, func(ctx context.Context, c certmgr.Caller, r certmgr.TagResourcesRequest) (any, error) {
			return ca.TagResources(ctx, c, r)
		}),
		"UntagResources": op(untagResourcesRequest, func(ctx context.Context, c certmgr.Caller, r certmgr.UntagResourcesRequest) (any, error) {
			return ca.UntagResources(ctx, c, r)
		}),
		"ListTagResources": op(listTagResourcesRequest, func(ctx context.Context, c certmgr.Caller, r certmgr.ListTagResourcesRequest) (any, error) {
			return ca.ListTagResources(ctx, c, r)
		}),
		"ListCACertificateLog": op(oneOf("Identifier"), func(ctx context.Context, c certmgr.Caller, r one) (any, error) {
			return ca.ListCACertificateLog(ctx, c, r.ID)
		}),
		"CreateExternalCACertificate": op(externalCARequest, func(ctx context.Context, c certmgr.Caller, r certmgr.ExternalCARequest) (any, error) {
			return ca.CreateExternalCACertificate(ctx, c, r)
		}),
	}
}

// bySerial is a search of the account by serial number: it names no
// resource before it runs, so it needs an account-wide grant.
type bySerial struct {
	account
	Serial string
}

// maxSerialHex bounds a serial: 20 bytes (RFC 5280) in hex, with "0x".
const maxSerialHex = 42

func serialRequest(p Params) (bySerial, error) {
	s := p.Get("SerialNumber")
	if s == "" {
		return bySerial{}, certmgr.MissingParameter("SerialNumber")
	}
	if len(s) > maxSerialHex {
		return bySerial{}, certmgr.InvalidParameter("SerialNumber", "a hex serial of at most 20 bytes")
	}
	return bySerial{Serial: s}, nil
}

func instanceStatusRequest(p Params) (certmgr.GetCAInstanceStatusRequest, error) {
	id, err := identifier(p, "Identifier", false)
	if err != nil {
		return certmgr.GetCAInstanceStatusRequest{}, err
	}
	inst, err := identifier(p, "InstanceId", false)
	return certmgr.GetCAInstanceStatusRequest{Identifier: id, InstanceID: inst}, err
}

// ints reads optional integer parameters into their destinations.
func ints(p Params, dst map[string]*int) error {
	for name, d := range dst {
		v, err := p.Int(name, 0)
		if err != nil {
			return err
		}
		*d = v
	}
	return nil
}

// nextToken reads a NextToken, bounded before it reaches certmgr (which
// checks what it encodes).
func nextToken(p Params) (string, error) {
	t := p.Get("NextToken")
	if len(t) > 512 {
		return "", certmgr.InvalidParameter("NextToken", "longer than 512 bytes")
	}
	return t, nil
}

func listCertRequest(p Params) (certmgr.ListCertRequest, error) {
	var r certmgr.ListCertRequest
	var err error
	if r.ParentIdentifier, err = identifier(p, "ParentIdentifier", false); err != nil {
		return r, err
	}
	if r.InstanceUUID, err = identifier(p, "InstanceUuid", false); err != nil {
		return r, err
	}
	if r.NextToken, err = nextToken(p); err != nil {
		return r, err
	}
	r.Status, r.Type, r.BeforeDate, r.AfterDate = p.Get("Status"), p.Get("Type"), p.Get("BeforeDate"), p.Get("AfterDate")
	return r, ints(p, map[string]*int{"MaxResults": &r.MaxResults, "CurrentPage": &r.CurrentPage, "ShowSize": &r.ShowSize})
}

func endEntityRequest(p Params) (certmgr.ListAllEndEntityInstanceRequest, error) {
	var r certmgr.ListAllEndEntityInstanceRequest
	var err error
	if v := p.Get("ParentId"); v != "" {
		if r.ParentID, err = strconv.ParseInt(v, 10, 64); err != nil {
			return r, certmgr.InvalidParameter("ParentId", "must be an integer")
		}
	}
	if r.NextToken, err = nextToken(p); err != nil {
		return r, err
	}
	return r, ints(p, map[string]*int{"RecursiveChildren": &r.RecursiveChildren, "MaxResults": &r.MaxResults,
		"CurrentPage": &r.CurrentPage, "ShowSize": &r.ShowSize})
}

func pcaListRequest(p Params) (certmgr.ListPcaCaCertificateRequest, error) {
	var r certmgr.ListPcaCaCertificateRequest
	var err error
	if r.NextToken, err = nextToken(p); err != nil {
		return r, err
	}
	return r, ints(p, map[string]*int{"MaxResults": &r.MaxResults})
}

// optional returns a pointer to a parameter that was sent (even empty,
// which clears), nil when it was not.
func optional(p Params, name string) *string {
	if v, ok := p[name]; ok {
		return &v
	}
	return nil
}

func updatePcaRequest(p Params) (certmgr.UpdatePcaCertificateRequest, error) {
	id, err := identifier(p, "Identifier", true)
	if err != nil {
		return certmgr.UpdatePcaCertificateRequest{}, err
	}
	l, err := labels(p)
	return certmgr.UpdatePcaCertificateRequest{Identifier: id, AliasName: optional(p, "AliasName"),
		ResourceGroupID: optional(p, "ResourceGroupId"), Tags: l.Tags}, err
}

// resourceIDs reads ResourceId.N, every entry an identifier.
func resourceIDs(p Params) ([]string, error) {
	ids, err := p.List("ResourceId")
	if err != nil {
		return nil, err
	}
	if len(ids) > 50 {
		return nil, certmgr.InvalidParameter("ResourceId", "at most 50 resources")
	}
	for i, id := range ids {
		if err := checkIdentifier(fmt.Sprintf("ResourceId.%d", i+1), id); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

func tagResourcesRequest(p Params) (certmgr.TagResourcesRequest, error) {
	ids, err := resourceIDs(p)
	if err != nil {
		return certmgr.TagResourcesRequest{}, err
	}
	tags, err := tagList(p, "Tag")
	return certmgr.TagResourcesRequest{ResourceType: p.Get("ResourceType"), ResourceIDs: ids, Tags: tags}, err
}

func untagResourcesRequest(p Params) (certmgr.UntagResourcesRequest, error) {
	ids, err := resourceIDs(p)
	if err != nil {
		return certmgr.UntagResourcesRequest{}, err
	}
	keys, err := p.List("TagKey")
	if err != nil {
		return certmgr.UntagResourcesRequest{}, err
	}
	all, err := p.Bool("All", false)
	return certmgr.UntagResourcesRequest{ResourceType: p.Get("ResourceType"), ResourceIDs: ids, TagKeys: keys, All: all}, err
}

func listTagResourcesRequest(p Params) (certmgr.ListTagResourcesRequest, error) {
	var r certmgr.ListTagResourcesRequest
	var err error
	if r.ResourceIDs, err = resourceIDs(p); err != nil {
		return r, err
	}
	if r.Tags, err = tagList(p, "Tag"); err != nil {
		return r, err
	}
	if r.NextToken, err = nextToken(p); err != nil {
		return r, err
	}
	r.ResourceType = p.Get("ResourceType")
	return r, ints(p, map[string]*int{"MaxResults": &r.MaxResults})
}

// externalPassthrough is CreateExternalCACertificate's ApiPassthrough,
// sent as one JSON parameter.
type externalPassthrough struct {
	Subject *struct {
		CommonName, Country, Locality, Organization, OrganizationUnit, State string
	}
	Extensions struct {
		ExtendedKeyUsages []string
		PathLenConstraint *int
	}
}

func externalCARequest(p Params) (certmgr.ExternalCARequest, error) {
	var r certmgr.ExternalCARequest
	var err error
	if r.InstanceID, err = identifier(p, "InstanceId", true); err != nil {
		return r, err
	}
	if r.CertMaxTime, err = p.Int("CertMaxTime", 0); err != nil {
		return r, err
	}
	if r.Labels, err = labels(p); err != nil {
		return r, err
	}
	r.Csr, r.Validity = p.Get("Csr"), p.Get("Validity")
	if raw := p.Get("ApiPassthrough"); raw != "" {
		var ap externalPassthrough
		if err := json.Unmarshal([]byte(raw), &ap); err != nil {
			return r, certmgr.InvalidParameter("ApiPassthrough", "not valid JSON")
		}
		if s := ap.Subject; s != nil {
			r.Subject = &certmgr.SubjectNames{CommonName: s.CommonName, Organization: s.Organization, OrganizationUnit: s.OrganizationUnit,
				Locality: s.Locality, State: s.State, CountryCode: s.Country}
		}
		r.ExtendedKeyUsages, r.PathLenConstraint = ap.Extensions.ExtendedKeyUsages, ap.Extensions.PathLenConstraint
	}
	return r, nil
}
