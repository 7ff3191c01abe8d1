package server

import (
	"context"
	"fmt"
	"strconv"

	"github.com/certcustody/certcustody/certmgr"
)

// PrivateCA is what the Private CA handlers need from certmgr.
type PrivateCA interface {
	CreateRootCACertificate(ctx context.Context, c certmgr.Caller, r certmgr.CreateCARequest) (*certmgr.IssuedResult, error)
	CreateSubCACertificate(ctx context.Context, c certmgr.Caller, r certmgr.CreateCARequest) (*certmgr.IssuedResult, error)
	DescribeCACertificate(ctx context.Context, c certmgr.Caller, id string) (*certmgr.CADescription, error)
	CreateServerCertificateWithCsr(ctx context.Context, c certmgr.Caller, r certmgr.IssueRequest) (*certmgr.IssuedResult, error)
	CreateClientCertificateWithCsr(ctx context.Context, c certmgr.Caller, r certmgr.IssueRequest) (*certmgr.IssuedResult, error)
	CreateRevokeClientCertificate(ctx context.Context, c certmgr.Caller, id, reason string) error
	UpdateCACertificateStatus(ctx context.Context, c certmgr.Caller, id, status string) error
	CRL(ctx context.Context, identifier string) (*certmgr.CRLDocument, error)
	DescribeClientCertificate(ctx context.Context, c certmgr.Caller, id string) (*certmgr.ClientCertificateDescription, error)
	DescribeClientCertificateStatus(ctx context.Context, c certmgr.Caller, ids string) ([]certmgr.CertificateStatus, error)
	DescribeCACertificateList(ctx context.Context, c certmgr.Caller, page, size int) (*certmgr.CAList, error)
	DescribeCACertificateCount(ctx context.Context, c certmgr.Caller) (int, error)
	CreateServerCertificate(ctx context.Context, c certmgr.Caller, r certmgr.GenerateRequest) (*certmgr.IssuedResult, error)
	CreateClientCertificate(ctx context.Context, c certmgr.Caller, r certmgr.GenerateRequest) (*certmgr.IssuedResult, error)
	DescribeCertificatePrivateKey(ctx context.Context, c certmgr.Caller, id, password string) (string, error)
	ListClientCertificate(ctx context.Context, c certmgr.Caller, revokedOnly bool, page, size int) (*certmgr.ClientCertificateList, error)
	DeleteClientCertificate(ctx context.Context, c certmgr.Caller, id string) error
	CreateCertificateWithExtension(ctx context.Context, c certmgr.Caller, r certmgr.ExtensionRequest) (*certmgr.IssuedResult, error)
	GetCaInstanceCrlAddress(ctx context.Context, c certmgr.Caller, id string) (*certmgr.CrlAddress, error)
	CreateCustomCertificate(ctx context.Context, c certmgr.Caller, r certmgr.CustomRequest) (*certmgr.IssuedResult, error)
}

const caVersion = "2020-06-30"

func caActions(ca PrivateCA) map[string]handler {
	createCA := func(sub bool) handler {
		return func(ctx context.Context, c certmgr.Caller, p Params) (any, error) {
			r, err := caRequest(p)
			if err != nil {
				return nil, err
			}
			if sub {
				return ca.CreateSubCACertificate(ctx, c, r)
			}
			return ca.CreateRootCACertificate(ctx, c, r)
		}
	}
	issue := func(client bool) handler {
		return func(ctx context.Context, c certmgr.Caller, p Params) (any, error) {
			r, err := issueRequest(p)
			if err != nil {
				return nil, err
			}
			if client {
				return ca.CreateClientCertificateWithCsr(ctx, c, r)
			}
			return ca.CreateServerCertificateWithCsr(ctx, c, r)
		}
	}
	generate := func(client bool) handler {
		return func(ctx context.Context, c certmgr.Caller, p Params) (any, error) {
			ir, err := issueRequest(p)
			if err != nil {
				return nil, err
			}
			imm, err := p.Int("Immediately", 1)
			if err != nil {
				return nil, err
			}
			r := certmgr.GenerateRequest{IssueRequest: ir, Algorithm: p.Get("Algorithm"), CommonName: p.Get("CommonName"),
				Organization: p.Get("Organization"), OrganizationUnit: p.Get("OrganizationUnit"), Locality: p.Get("Locality"),
				State: p.Get("State"), Country: p.Get("Country"), Immediately: imm}
			if client {
				return ca.CreateClientCertificate(ctx, c, r)
			}
			return ca.CreateServerCertificate(ctx, c, r)
		}
	}
	list := func(revokedOnly bool) handler {
		return func(ctx context.Context, c certmgr.Caller, p Params) (any, error) {
			page, size, err := pageParams(p)
			if err != nil {
				return nil, err
			}
			return ca.ListClientCertificate(ctx, c, revokedOnly, page, size)
		}
	}
	return map[string]handler{
		"CreateCertificateWithExtension": func(ctx context.Context, c certmgr.Caller, p Params) (any, error) {
			r, err := extensionRequest(p)
			if err != nil {
				return nil, err
			}
			return ca.CreateCertificateWithExtension(ctx, c, r)
		},
		"GetCaInstanceCrlAddress": func(ctx context.Context, c certmgr.Caller, p Params) (any, error) {
			return ca.GetCaInstanceCrlAddress(ctx, c, p.Get("CaIdentifier"))
		},
		"CreateCustomCertificate": customHandler(ca),
		"ListClientCertificate":   list(false),
		"ListRevokeCertificate":   list(true),
		"DeleteClientCertificate": func(ctx context.Context, c certmgr.Caller, p Params) (any, error) {
			return struct{}{}, ca.DeleteClientCertificate(ctx, c, p.Get("Identifier"))
		},
		"CreateServerCertificate": generate(false),
		"CreateClientCertificate": generate(true),
		"DescribeCertificatePrivateKey": func(ctx context.Context, c certmgr.Caller, p Params) (any, error) {
			k, err := ca.DescribeCertificatePrivateKey(ctx, c, p.Get("Identifier"), p.Get("EncryptedCode"))
			return map[string]any{"EncryptedPrivateKey": k}, err
		},
		"CreateRootCACertificate": createCA(false),
		"CreateSubCACertificate":  createCA(true),
		"DescribeCACertificate": func(ctx context.Context, c certmgr.Caller, p Params) (any, error) {
			d, err := ca.DescribeCACertificate(ctx, c, p.Get("Identifier"))
			return map[string]any{"Certificate": d}, err
		},
		"CreateServerCertificateWithCsr": issue(false),
		"CreateClientCertificateWithCsr": issue(true),
		"CreateRevokeClientCertificate": func(ctx context.Context, c certmgr.Caller, p Params) (any, error) {
			return struct{}{}, ca.CreateRevokeClientCertificate(ctx, c, p.Get("Identifier"), p.Get("Reason"))
		},
		"UpdateCACertificateStatus": func(ctx context.Context, c certmgr.Caller, p Params) (any, error) {
			return struct{}{}, ca.UpdateCACertificateStatus(ctx, c, p.Get("Identifier"), p.Get("Status"))
		},
		"DescribeClientCertificate": func(ctx context.Context, c certmgr.Caller, p Params) (any, error) {
			d, err := ca.DescribeClientCertificate(ctx, c, p.Get("Identifier"))
			return map[string]any{"Certificate": d}, err
		},
		"DescribeClientCertificateStatus": func(ctx context.Context, c certmgr.Caller, p Params) (any, error) {
			st, err := ca.DescribeClientCertificateStatus(ctx, c, p.Get("Identifier"))
			return map[string]any{"CertificateStatus": st}, err
		},
		"DescribeCACertificateList": func(ctx context.Context, c certmgr.Caller, p Params) (any, error) {
			page, size, err := pageParams(p)
			if err != nil {
				return nil, err
			}
			return ca.DescribeCACertificateList(ctx, c, page, size)
		},
		"DescribeCACertificateCount": func(ctx context.Context, c certmgr.Caller, p Params) (any, error) {
			n, err := ca.DescribeCACertificateCount(ctx, c)
			return map[string]any{"Count": n}, err
		},
	}
}

func caRequest(p Params) (certmgr.CreateCARequest, error) {
	r := certmgr.CreateCARequest{
		ParentIdentifier: p.Get("ParentIdentifier"), CommonName: p.Get("CommonName"), Organization: p.Get("Organization"),
		OrganizationUnit: p.Get("OrganizationUnit"), Locality: p.Get("Locality"), State: p.Get("State"),
		CountryCode: p.Get("CountryCode"), Algorithm: p.Get("Algorithm"),
	}
	var err error
	if r.Years, err = p.Int("Years", 0); err != nil {
		return r, err
	}
	if r.CrlDay, err = p.Int("CrlDay", 0); err != nil {
		return r, err
	}
	if r.EnableCrl, err = p.Bool("EnableCrl", false); err != nil {
		return r, err
	}
	if v := p.Get("PathLenConstraint"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return r, certmgr.InvalidParameter("PathLenConstraint", "must be an integer")
		}
		r.PathLenConstraint = &n
	}
	if r.ExtendedKeyUsages, err = p.List("ExtendedKeyUsages"); err != nil {
		return r, err
	}
	r.Labels, err = labels(p)
	return r, err
}

// labels reads Tags.N.Key / Tags.N.Value and ResourceGroupId.
func labels(p Params) (certmgr.Labels, error) {
	l := certmgr.Labels{ResourceGroupID: p.Get("ResourceGroupId")}
	for i := 1; ; i++ {
		key, ok := p[fmt.Sprintf("Tags.%d.Key", i)]
		if !ok {
			if _, stray := p[fmt.Sprintf("Tags.%d.Value", i)]; stray {
				return l, certmgr.InvalidParameter(fmt.Sprintf("Tags.%d.Key", i), "a tag value needs its key")
			}
			return l, nil
		}
		if i > 20 {
			return l, certmgr.InvalidParameter("Tags", "at most 20 tags")
		}
		l.Tags = append(l.Tags, certmgr.Tag{TagKey: key, TagValue: p.Get(fmt.Sprintf("Tags.%d.Value", i))})
	}
}

func issueRequest(p Params) (certmgr.IssueRequest, error) {
	r := certmgr.IssueRequest{ParentIdentifier: p.Get("ParentIdentifier"), Csr: p.Get("Csr"), Domain: p.Get("Domain"), SanValue: p.Get("SanValue")}
	ints := []struct {
		name string
		dst  *int
	}{{"Years", &r.Years}, {"Months", &r.Months}, {"Days", &r.Days}, {"SanType", &r.SanType}}
	for _, f := range ints {
		v, err := p.Int(f.name, 0)
		if err != nil {
			return r, err
		}
		*f.dst = v
	}
	var err error
	if r.Labels, err = labels(p); err != nil {
		return r, err
	}
	for _, f := range []struct {
		name string
		dst  *int64
	}{{"BeforeTime", &r.BeforeTime}, {"AfterTime", &r.AfterTime}} {
		if v := p.Get(f.name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return r, certmgr.InvalidParameter(f.name, "must be Unix seconds")
			}
			*f.dst = n
		}
	}
	return r, nil
}

func extensionRequest(p Params) (certmgr.ExtensionRequest, error) {
	r := certmgr.ExtensionRequest{
		ParentIdentifier: p.Get("ParentIdentifier"), CertType: p.Get("CertType"), CommonName: p.Get("CommonName"),
		Organization: p.Get("Organization"), OrganizationUnit: p.Get("OrganizationUnit"), Locality: p.Get("Locality"),
		State: p.Get("State"), CountryCode: p.Get("CountryCode"), Sans: p.Get("Sans"), CsrPemString: p.Get("CsrPemString"),
		AliasName: p.Get("AliasName"),
	}
	ir, err := issueRequest(p)
	if err != nil {
		return r, err
	}
	r.BeforeTime, r.AfterTime, r.Labels = ir.BeforeTime, ir.AfterTime, ir.Labels
	if r.AppendCrl, err = p.Bool("AppendCrl", false); err != nil {
		return r, err
	}
	if r.AlgorithmKeySize, err = p.Int("AlgorithmKeySize", 0); err != nil {
		return r, err
	}
	if _, ok := p["BasicConstraintsCritical"]; ok {
		b, err := p.Bool("BasicConstraintsCritical", true)
		if err != nil {
			return r, err
		}
		r.BasicConstraintsCritical = &b
	}
	return r, nil
}

// pageParams reads CurrentPage and ShowSize.
func pageParams(p Params) (page, size int, err error) {
	if page, err = p.Int("CurrentPage", 1); err != nil {
		return 0, 0, err
	}
	size, err = p.Int("ShowSize", 20)
	return page, size, err
}
