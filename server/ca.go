package server

import (
	"context"
	"fmt"
	"strconv"

	"github.com/certcustody/certcustody/certmgr"
)

// PrivateCA is what the Private CA handlers need from certmgr.
type PrivateCA interface {
	CASurface
	CreateRootCACertificate(ctx context.Context, c certmgr.Caller, r certmgr.CreateCARequest) (*certmgr.IssuedResult, error)
	CreateSubCACertificate(ctx context.Context, c certmgr.Caller, r certmgr.CreateCARequest) (*certmgr.IssuedResult, error)
	DescribeCACertificate(ctx context.Context, c certmgr.Caller, id string) (*certmgr.CADescription, error)
	CreateServerCertificateWithCsr(ctx context.Context, c certmgr.Caller, r certmgr.IssueRequest) (*certmgr.IssuedResult, error)
	CreateClientCertificateWithCsr(ctx context.Context, c certmgr.Caller, r certmgr.IssueRequest) (*certmgr.IssuedResult, error)
	CreateRevokeClientCertificate(ctx context.Context, c certmgr.Caller, id, reason string) error
	UpdateCACertificateStatus(ctx context.Context, c certmgr.Caller, id, status string) error
	CRL(ctx context.Context, identifier string) (*certmgr.CRLDocument, error)
	DescribeClientCertificate(ctx context.Context, c certmgr.Caller, id string) (*certmgr.ClientCertificateDescription, error)
	DescribeClientCertificateStatus(ctx context.Context, c certmgr.Caller, ids []string) ([]certmgr.CertificateStatus, error)
	DescribeCACertificateList(ctx context.Context, c certmgr.Caller, r certmgr.CAListRequest) (*certmgr.CAList, error)
	DescribeCACertificateCount(ctx context.Context, c certmgr.Caller) (int, error)
	CreateServerCertificate(ctx context.Context, c certmgr.Caller, r certmgr.GenerateRequest) (*certmgr.IssuedResult, error)
	CreateClientCertificate(ctx context.Context, c certmgr.Caller, r certmgr.GenerateRequest) (*certmgr.IssuedResult, error)
	DescribeCertificatePrivateKey(ctx context.Context, c certmgr.Caller, id, password string) (string, error)
	ListClientCertificate(ctx context.Context, c certmgr.Caller, page, size int) (*certmgr.ClientCertificateList, error)
	ListRevokeCertificate(ctx context.Context, c certmgr.Caller, page, size int) (*certmgr.RevokedCertificateList, error)
	DeleteClientCertificate(ctx context.Context, c certmgr.Caller, id string) error
	CreateCertificateWithExtension(ctx context.Context, c certmgr.Caller, r certmgr.ExtensionRequest) (*certmgr.IssuedResult, error)
	GetCaInstanceCrlAddress(ctx context.Context, c certmgr.Caller, id string) (*certmgr.CrlAddress, error)
	CreateCustomCertificate(ctx context.Context, c certmgr.Caller, r certmgr.CustomRequest) (*certmgr.IssuedResult, error)
	// IssuedResultFor and CAResultFor rebuild a creating call's answer
	// for a retry with the same ClientToken.
	IssuedResultFor(ctx context.Context, c certmgr.Caller, id string) (*certmgr.IssuedResult, error)
	CAResultFor(ctx context.Context, c certmgr.Caller, id string) (*certmgr.IssuedResult, error)
}

const caVersion = "2020-06-30"

func caActions(ca PrivateCA) map[string]binder {
	byID := oneOf("Identifier")
	actions := caSurfaceActions(ca)
	for name, b := range map[string]binder{
		"CreateRootCACertificate": opReplay(rootCARequest, func(ctx context.Context, c certmgr.Caller, r certmgr.CreateCARequest) (any, error) {
			return ca.CreateRootCACertificate(ctx, c, r)
		}, replayCA(ca)),
		"CreateSubCACertificate": opReplay(caRequest, func(ctx context.Context, c certmgr.Caller, r certmgr.CreateCARequest) (any, error) {
			return ca.CreateSubCACertificate(ctx, c, r)
		}, replayCA(ca)),
		"CreateServerCertificateWithCsr": opReplay(issueRequest, func(ctx context.Context, c certmgr.Caller, r certmgr.IssueRequest) (any, error) {
			return issued(ca.CreateServerCertificateWithCsr(ctx, c, r))
		}, replayIssued(ca)),
		"CreateClientCertificateWithCsr": opReplay(issueRequest, func(ctx context.Context, c certmgr.Caller, r certmgr.IssueRequest) (any, error) {
			return issued(ca.CreateClientCertificateWithCsr(ctx, c, r))
		}, replayIssued(ca)),
		"CreateServerCertificate": opReplay(generateRequest, func(ctx context.Context, c certmgr.Caller, r certmgr.GenerateRequest) (any, error) {
			return issued(ca.CreateServerCertificate(ctx, c, r))
		}, replayGenerated(ca)),
		"CreateClientCertificate": opReplay(generateRequest, func(ctx context.Context, c certmgr.Caller, r certmgr.GenerateRequest) (any, error) {
			return issued(ca.CreateClientCertificate(ctx, c, r))
		}, replayGenerated(ca)),
		"CreateCertificateWithExtension": opReplay(extensionRequest, func(ctx context.Context, c certmgr.Caller, r certmgr.ExtensionRequest) (any, error) {
			return withoutSerial(ca.CreateCertificateWithExtension(ctx, c, r))
		}, func(ctx context.Context, c certmgr.Caller, _ certmgr.ExtensionRequest, id string) (any, error) {
			return withoutSerial(ca.IssuedResultFor(ctx, c, id))
		}),
		"CreateCustomCertificate": opReplay(customRequest, func(ctx context.Context, c certmgr.Caller, r certmgr.CustomRequest) (any, error) {
			return ca.CreateCustomCertificate(ctx, c, r)
		}, func(ctx context.Context, c certmgr.Caller, r certmgr.CustomRequest, id string) (any, error) {
			res, err := ca.IssuedResultFor(ctx, c, id)
			if err != nil {
				return nil, err
			}
			return res.Immediately(r.Immediately), nil
		}),
		"GetCaInstanceCrlAddress": op(oneOf("CaIdentifier"), func(ctx context.Context, c certmgr.Caller, r one) (any, error) {
			return ca.GetCaInstanceCrlAddress(ctx, c, r.ID)
		}),
		"ListClientCertificate": op(caPage, func(ctx context.Context, c certmgr.Caller, r page) (any, error) {
			return ca.ListClientCertificate(ctx, c, r.Number, r.Size)
		}),
		"ListRevokeCertificate": op(caPage, func(ctx context.Context, c certmgr.Caller, r page) (any, error) {
			return ca.ListRevokeCertificate(ctx, c, r.Number, r.Size)
		}),
		"DeleteClientCertificate": op(byID, func(ctx context.Context, c certmgr.Caller, r one) (any, error) {
			return struct{}{}, ca.DeleteClientCertificate(ctx, c, r.ID)
		}),
		"DescribeCertificatePrivateKey": op(privateKeyRequest, func(ctx context.Context, c certmgr.Caller, r withSecret) (any, error) {
			k, err := ca.DescribeCertificatePrivateKey(ctx, c, r.ID, r.Secret)
			return map[string]any{"EncryptedData": k}, err
		}),
		"DescribeCACertificate": op(byID, func(ctx context.Context, c certmgr.Caller, r one) (any, error) {
			d, err := ca.DescribeCACertificate(ctx, c, r.ID)
			if err != nil {
				return nil, err
			}
			// Years sits at the top level too since SDK v1.0.13.
			return map[string]any{"Certificate": d, "Years": d.Years}, nil
		}),
		"CreateRevokeClientCertificate": op(revokeRequest, func(ctx context.Context, c certmgr.Caller, r withReason) (any, error) {
			return struct{}{}, ca.CreateRevokeClientCertificate(ctx, c, r.ID, r.Reason)
		}),
		"UpdateCACertificateStatus": opReplay(statusRequest("Identifier"), func(ctx context.Context, c certmgr.Caller, r withStatus) (any, error) {
			return struct{}{}, ca.UpdateCACertificateStatus(ctx, c, r.ID, r.Status)
		}, replayNothing[withStatus]),
		"DescribeClientCertificate": op(byID, func(ctx context.Context, c certmgr.Caller, r one) (any, error) {
			d, err := ca.DescribeClientCertificate(ctx, c, r.ID)
			return map[string]any{"Certificate": d}, err
		}),
		"DescribeClientCertificateStatus": op(manyOf("Identifier"), func(ctx context.Context, c certmgr.Caller, r many) (any, error) {
			st, err := ca.DescribeClientCertificateStatus(ctx, c, r)
			return map[string]any{"CertificateStatus": st}, err
		}),
		"DescribeCACertificateList": op(caListRequest, func(ctx context.Context, c certmgr.Caller, r certmgr.CAListRequest) (any, error) {
			return ca.DescribeCACertificateList(ctx, c, r)
		}),
		// Billing and console actions of the cloud have no meaning here.
		"AssignCertificateCount": notSupported("certificate counts are bought in the cloud; certcustody caps no CA's issuance."),
		"UploadPcaCertToCas":     notSupported("there is no separate certificate service to upload to; certificates are already here."),
		"MoveResourceGroup":      notSupported("resource groups are the cloud's; ResourceGroupId is kept as a label only."),
		"DescribeCACertificateCount": op(noParams, func(ctx context.Context, c certmgr.Caller, _ account) (any, error) {
			n, err := ca.DescribeCACertificateCount(ctx, c)
			return map[string]any{"TotalCount": n}, err
		}),
	} {
		actions[name] = b
	}
	return actions
}

// Replays of a retried creating call: the first call's resource, in the
// shape the action answers.
func replayCA(ca PrivateCA) func(context.Context, certmgr.Caller, certmgr.CreateCARequest, string) (any, error) {
	return func(ctx context.Context, c certmgr.Caller, _ certmgr.CreateCARequest, id string) (any, error) {
		return ca.CAResultFor(ctx, c, id)
	}
}

func replayIssued(ca PrivateCA) func(context.Context, certmgr.Caller, certmgr.IssueRequest, string) (any, error) {
	return func(ctx context.Context, c certmgr.Caller, _ certmgr.IssueRequest, id string) (any, error) {
		return issued(ca.IssuedResultFor(ctx, c, id))
	}
}

func replayGenerated(ca PrivateCA) func(context.Context, certmgr.Caller, certmgr.GenerateRequest, string) (any, error) {
	return func(ctx context.Context, c certmgr.Caller, r certmgr.GenerateRequest, id string) (any, error) {
		res, err := ca.IssuedResultFor(ctx, c, id)
		if err != nil {
			return nil, err
		}
		return issued(res.Immediately(r.Immediately), nil)
	}
}

// replayNothing answers a retried change that returns no fields.
func replayNothing[R any](context.Context, certmgr.Caller, R, string) (any, error) {
	return struct{}{}, nil
}

// withoutSerial shapes CreateCertificateWithExtension's answer: its
// (v0.1.2) shape has no SerialNumber.
func withoutSerial(r *certmgr.IssuedResult, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	return map[string]any{"Identifier": r.Identifier, "Certificate": r.Certificate, "CertificateChain": r.CertificateChain}, nil
}

// issued shapes the four issuing actions' answer as their SDK type
// declares it: X509Certificate and SerialNumber, not Certificate.
func issued(r *certmgr.IssuedResult, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	return map[string]any{"Identifier": r.Identifier, "X509Certificate": r.Certificate, "CertificateChain": r.CertificateChain,
		"SerialNumber": r.SerialNumber}, nil
}

// withReason names the certificate to revoke and, as our extension, the
// CRL reason (RFC 5280 name, e.g. keyCompromise).
type withReason struct {
	one
	Reason string
}

func revokeRequest(p Params) (withReason, error) {
	id, err := identifier(p, "Identifier", true)
	return withReason{one{id}, p.Get("Reason")}, err
}

func caListRequest(p Params) (certmgr.CAListRequest, error) {
	pg, err := caPage(p)
	if err != nil {
		return certmgr.CAListRequest{}, err
	}
	id, err := identifier(p, "Identifier", false)
	return certmgr.CAListRequest{Identifier: id, CaStatus: p.Get("CaStatus"), CertType: p.Get("CertType"), ValidStatus: p.Get("ValidStatus"),
		IssuerType: p.Get("IssuerType"), CurrentPage: pg.Number, ShowSize: pg.Size}, err
}

func caPage(p Params) (page, error) { return pageOf(p, "CurrentPage", "ShowSize") }

func privateKeyRequest(p Params) (withSecret, error) {
	id, err := identifier(p, "Identifier", true)
	return withSecret{one{id}, p.Get("EncryptedCode")}, err
}

func rootCARequest(p Params) (certmgr.CreateCARequest, error) {
	r, err := caRequest(p)
	// A root has no parent: a ParentIdentifier sent to it is not a
	// resource the call acts on, and must not become one.
	r.ParentIdentifier = ""
	return r, err
}

func generateRequest(p Params) (certmgr.GenerateRequest, error) {
	ir, err := issueRequest(p)
	if err != nil {
		return certmgr.GenerateRequest{}, err
	}
	imm, err := p.Int("Immediately", 1)
	return certmgr.GenerateRequest{IssueRequest: ir, Algorithm: p.Get("Algorithm"), CommonName: p.Get("CommonName"),
		Organization: p.Get("Organization"), OrganizationUnit: p.Get("OrganizationUnit"), Locality: p.Get("Locality"),
		State: p.Get("State"), Country: p.Get("Country"), Immediately: imm}, err
}

func caRequest(p Params) (certmgr.CreateCARequest, error) {
	parent, err := identifier(p, "ParentIdentifier", false)
	if err != nil {
		return certmgr.CreateCARequest{}, err
	}
	r := certmgr.CreateCARequest{
		ParentIdentifier: parent, CommonName: p.Get("CommonName"), Organization: p.Get("Organization"),
		OrganizationUnit: p.Get("OrganizationUnit"), Locality: p.Get("Locality"), State: p.Get("State"),
		CountryCode: p.Get("CountryCode"), Algorithm: p.Get("Algorithm"),
	}
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
	l := certmgr.Labels{ResourceGroupID: p.Get("ResourceGroupId"), AliasName: p.Get("AliasName"), CustomIdentifier: p.Get("CustomIdentifier")}
	// CreateCustomCertificate's SDK spells it with a lower-case c.
	if v := p.Get("customIdentifier"); v != "" {
		if l.CustomIdentifier != "" && l.CustomIdentifier != v {
			return l, certmgr.InvalidParameter("CustomIdentifier", "given twice with different values")
		}
		l.CustomIdentifier = v
	}
	var err error
	l.Tags, err = tagList(p, "Tags")
	return l, err
}

// tagList reads the flattened tags Prefix.N.Key / Prefix.N.Value (Tags on
// creating calls, Tag on the tag actions), at most 20.
func tagList(p Params, prefix string) ([]certmgr.Tag, error) {
	var out []certmgr.Tag
	for i := 1; ; i++ {
		key, ok := p[fmt.Sprintf("%s.%d.Key", prefix, i)]
		if !ok {
			if _, stray := p[fmt.Sprintf("%s.%d.Value", prefix, i)]; stray {
				return nil, certmgr.InvalidParameter(fmt.Sprintf("%s.%d.Key", prefix, i), "a tag value needs its key")
			}
			return out, nil
		}
		if i > 20 {
			return nil, certmgr.InvalidParameter(prefix, "at most 20 tags")
		}
		out = append(out, certmgr.Tag{TagKey: key, TagValue: p.Get(fmt.Sprintf("%s.%d.Value", prefix, i))})
	}
}

func issueRequest(p Params) (certmgr.IssueRequest, error) {
	parent, err := identifier(p, "ParentIdentifier", true)
	if err != nil {
		return certmgr.IssueRequest{}, err
	}
	r := certmgr.IssueRequest{ParentIdentifier: parent, Csr: p.Get("Csr"), Domain: p.Get("Domain"), SanValue: p.Get("SanValue")}
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
		CertType: p.Get("CertType"), CommonName: p.Get("CommonName"),
		Organization: p.Get("Organization"), OrganizationUnit: p.Get("OrganizationUnit"), Locality: p.Get("Locality"),
		State: p.Get("State"), CountryCode: p.Get("CountryCode"), Sans: p.Get("Sans"), CsrPemString: p.Get("CsrPemString"),
		AliasName: p.Get("AliasName"),
	}
	ir, err := issueRequest(p)
	if err != nil {
		return r, err
	}
	r.ParentIdentifier, r.BeforeTime, r.AfterTime, r.Labels = ir.ParentIdentifier, ir.BeforeTime, ir.AfterTime, ir.Labels
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
