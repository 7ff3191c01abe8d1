package server

import (
	"encoding/json"
	"fmt"

	"github.com/certcustody/certcustody/certmgr"
)

// apiPassthrough is CreateCustomCertificate's ApiPassthrough object. The V3
// SDK sends it as one JSON parameter; RPC clients may flatten it
// (ApiPassthrough.Subject.CommonName=...); both are read.
type apiPassthrough struct {
	SerialNumber string
	Subject      *struct {
		CommonName, Country, Locality, Organization, OrganizationUnit, State string
		CustomAttributes                                                     []struct{ ObjectIdentifier, Value string }
	}
	Extensions struct {
		Criticals               []string
		ExtendedKeyUsages       []string
		KeyUsage                map[string]bool
		SubjectAlternativeNames []struct{ Type, Value string }
	}
}

func customRequest(p Params) (certmgr.CustomRequest, error) {
	parent, err := identifier(p, "ParentIdentifier", true)
	if err != nil {
		return certmgr.CustomRequest{}, err
	}
	r := certmgr.CustomRequest{ParentIdentifier: parent, Csr: p.Get("Csr"), Validity: p.Get("Validity")}
	if r.EnableCrl, err = p.Bool("EnableCrl", false); err != nil {
		return r, err
	}
	if r.Immediately, err = p.Int("Immediately", 1); err != nil {
		return r, err
	}
	if r.Labels, err = labels(p); err != nil {
		return r, err
	}
	var ap apiPassthrough
	if raw := p.Get("ApiPassthrough"); raw != "" {
		if err := json.Unmarshal([]byte(raw), &ap); err != nil {
			return r, certmgr.InvalidParameter("ApiPassthrough", "not valid JSON: %v", err)
		}
	} else if err := flattenedPassthrough(p, &ap); err != nil {
		return r, err
	}
	r.SerialNumber = ap.SerialNumber
	if s := ap.Subject; s != nil {
		r.Subject = &certmgr.SubjectNames{CommonName: s.CommonName, Organization: s.Organization, OrganizationUnit: s.OrganizationUnit,
			Locality: s.Locality, State: s.State, CountryCode: s.Country}
		r.CustomAttributes = map[string]string{}
		for _, a := range s.CustomAttributes {
			r.CustomAttributes[a.ObjectIdentifier] = a.Value
		}
	}
	r.KeyUsage, r.ExtendedKeyUsages, r.Criticals = ap.Extensions.KeyUsage, ap.Extensions.ExtendedKeyUsages, ap.Extensions.Criticals
	for _, s := range ap.Extensions.SubjectAlternativeNames {
		r.SANs = append(r.SANs, certmgr.CustomSAN{Type: s.Type, Value: s.Value})
	}
	return r, nil
}

// flattenedPassthrough reads ApiPassthrough.* parameters.
func flattenedPassthrough(p Params, ap *apiPassthrough) error {
	const pre = "ApiPassthrough."
	ap.SerialNumber = p.Get(pre + "SerialNumber")
	subj := p.Map(pre + "Subject")
	if len(subj) > 0 {
		ap.Subject = &struct {
			CommonName, Country, Locality, Organization, OrganizationUnit, State string
			CustomAttributes                                                     []struct{ ObjectIdentifier, Value string }
		}{CommonName: subj["CommonName"], Country: subj["Country"], Locality: subj["Locality"], Organization: subj["Organization"],
			OrganizationUnit: subj["OrganizationUnit"], State: subj["State"]}
		for i := 1; ; i++ {
			oid, ok := subj[fmt.Sprintf("CustomAttributes.%d.ObjectIdentifier", i)]
			if !ok {
				break
			}
			ap.Subject.CustomAttributes = append(ap.Subject.CustomAttributes, struct{ ObjectIdentifier, Value string }{oid, subj[fmt.Sprintf("CustomAttributes.%d.Value", i)]})
		}
	}
	var err error
	if ap.Extensions.Criticals, err = p.List(pre + "Extensions.Criticals"); err != nil {
		return err
	}
	if ap.Extensions.ExtendedKeyUsages, err = p.List(pre + "Extensions.ExtendedKeyUsages"); err != nil {
		return err
	}
	ku := p.Map(pre + "Extensions.KeyUsage")
	if len(ku) > 0 {
		ap.Extensions.KeyUsage = map[string]bool{}
		for k := range ku {
			b, err := p.Bool(pre+"Extensions.KeyUsage."+k, false)
			if err != nil {
				return err
			}
			ap.Extensions.KeyUsage[k] = b
		}
	}
	for i := 1; ; i++ {
		t, ok := p[fmt.Sprintf("%sExtensions.SubjectAlternativeNames.%d.Type", pre, i)]
		if !ok {
			return nil
		}
		ap.Extensions.SubjectAlternativeNames = append(ap.Extensions.SubjectAlternativeNames,
			struct{ Type, Value string }{t, p.Get(fmt.Sprintf("%sExtensions.SubjectAlternativeNames.%d.Value", pre, i))})
	}
}
