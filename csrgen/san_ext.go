package csrgen

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"net"
	"net/url"
)

var oidExtSubjectAltName = asn1.ObjectIdentifier{2, 5, 29, 17}

// marshalSANExtension encodes the subjectAltName extension ourselves, for
// every key family, because gmsm's encoder has no URIs; one encoder also
// keeps RSA, ECDSA and SM2 requests byte-for-byte alike. The order is Go's:
// DNS, email, IP, URI.
func marshalSANExtension(s SANs) (pkix.Extension, error) {
	var names []asn1.RawValue
	add := func(tag int, b []byte) {
		names = append(names, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: tag, Bytes: b})
	}
	for _, n := range s.DNSNames {
		add(sanTypeDNS, []byte(n))
	}
	for _, e := range s.EmailAddresses {
		add(sanTypeEmail, []byte(e))
	}
	for _, ip := range s.IPAddresses {
		if v4 := ip.To4(); v4 != nil {
			ip = v4
		}
		add(sanTypeIP, ip)
	}
	for _, u := range s.URIs {
		add(sanTypeURI, []byte(u.String()))
	}
	der, err := asn1.Marshal(names)
	if err != nil {
		return pkix.Extension{}, newErr(ErrInvalidSAN, "subject alternative names cannot be encoded")
	}
	return pkix.Extension{Id: oidExtSubjectAltName, Value: der}, nil
}

// parseSANExtension decodes a subjectAltName extension value. It checks
// structure only (IA5 text is ASCII, an IP is 4 or 16 bytes, a URI parses),
// not naming policy: that is ValidateSANs' job. GeneralName kinds other
// than DNS, email, IP and URI are skipped, as crypto/x509 does.
func parseSANExtension(der []byte) (SANs, error) {
	var out SANs
	var seq asn1.RawValue
	rest, err := asn1.Unmarshal(der, &seq)
	if err != nil || len(rest) != 0 || seq.Class != asn1.ClassUniversal || seq.Tag != asn1.TagSequence || !seq.IsCompound {
		return out, errors.New("subjectAltName is not a SEQUENCE")
	}
	for b := seq.Bytes; len(b) > 0; {
		var v asn1.RawValue
		b, err = asn1.Unmarshal(b, &v)
		if err != nil {
			return out, errors.New("subjectAltName holds a malformed GeneralName")
		}
		if v.Class != asn1.ClassContextSpecific {
			return out, errors.New("subjectAltName holds a GeneralName with a wrong tag class")
		}
		switch v.Tag {
		case sanTypeDNS, sanTypeEmail, sanTypeURI:
			if v.IsCompound || !isASCII(string(v.Bytes)) {
				return out, errors.New("subjectAltName holds a malformed IA5String name")
			}
			s := string(v.Bytes)
			switch v.Tag {
			case sanTypeDNS:
				out.DNSNames = append(out.DNSNames, s)
			case sanTypeEmail:
				out.EmailAddresses = append(out.EmailAddresses, s)
			default:
				u, err := url.Parse(s)
				if err != nil {
					return out, errors.New("subjectAltName holds a URI that does not parse")
				}
				out.URIs = append(out.URIs, u)
			}
		case sanTypeIP:
			if v.IsCompound || len(v.Bytes) != net.IPv4len && len(v.Bytes) != net.IPv6len {
				return out, errors.New("subjectAltName holds an IP address of the wrong length")
			}
			out.IPAddresses = append(out.IPAddresses, net.IP(append([]byte(nil), v.Bytes...)))
		}
	}
	return out, nil
}

// ValidateSANs applies the naming rules of ValidateDNSName, ValidateEmail
// and ValidateURI to every name in s, and checks that each IP is 4 or 16
// bytes. ParseCSR does not call it (a CSR's names are policy input, not
// syntax); certmgr does before issuing.
func ValidateSANs(s SANs) error {
	for _, n := range s.DNSNames {
		if err := ValidateDNSName(n); err != nil {
			return err
		}
	}
	for _, e := range s.EmailAddresses {
		if err := ValidateEmail(e); err != nil {
			return err
		}
	}
	for _, ip := range s.IPAddresses {
		if len(ip) != net.IPv4len && len(ip) != net.IPv6len {
			return newErr(ErrInvalidSAN, "IP address has %d bytes (want 4 or 16)", len(ip))
		}
	}
	for _, u := range s.URIs {
		if u == nil {
			return newErr(ErrInvalidSAN, "URI is missing")
		}
		if err := ValidateURI(u.String()); err != nil {
			return err
		}
	}
	return nil
}
