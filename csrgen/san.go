package csrgen

import (
	"net"
	"net/netip"
	"net/url"
	"strings"
)

// SANs groups subject alternative names by kind, in the order given.
type SANs struct {
	DNSNames       []string
	EmailAddresses []string
	IPAddresses    []net.IP
	URIs           []*url.URL
}

// ValidateDNSName checks a dNSName SAN: ASCII letters, digits and hyphens in
// dot-separated labels of 1 to 63 characters that neither start nor end
// with a hyphen, at most 253 characters, no trailing dot, and a last label
// that is not all digits (so an IPv4 address is not taken for a name).
// Internationalised names must come in their punycode ("xn--") form.
// A wildcard is allowed only as RFC 6125 §6.4.3 recommends: "*" as the whole
// left-most label, followed by at least two more labels ("*.example.com",
// not "*.com", "*", "f*.example.com" or "a.*.example.com").
func ValidateDNSName(s string) error {
	if s == "" {
		return newErr(ErrInvalidSAN, "DNS name is empty")
	}
	if len(s) > 253 {
		return newErr(ErrInvalidSAN, "DNS name %s is longer than 253 characters", quote(s))
	}
	if !isASCII(s) {
		return newErr(ErrInvalidSAN, "DNS name %s is not ASCII (write an internationalised name in punycode)", quote(s))
	}
	name := s
	if strings.HasPrefix(s, "*.") {
		name = s[2:]
		if strings.Count(name, ".") < 1 {
			return newErr(ErrInvalidSAN, "wildcard DNS name %s must have at least two labels after \"*.\"", quote(s))
		}
	}
	if strings.Contains(name, "*") {
		return newErr(ErrInvalidSAN, "DNS name %s: a wildcard is allowed only as the whole left-most label", quote(s))
	}
	if strings.HasSuffix(name, ".") {
		return newErr(ErrInvalidSAN, "DNS name %s must not end with a dot", quote(s))
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if err := checkLabel(s, l); err != nil {
			return err
		}
	}
	if last := labels[len(labels)-1]; strings.Trim(last, "0123456789") == "" {
		return newErr(ErrInvalidSAN, "DNS name %s has an all-numeric last label (an IP address belongs in an IP SAN)", quote(s))
	}
	return nil
}

func checkLabel(name, l string) error {
	if l == "" {
		return newErr(ErrInvalidSAN, "DNS name %s has an empty label", quote(name))
	}
	if len(l) > 63 {
		return newErr(ErrInvalidSAN, "DNS name %s has a label longer than 63 characters", quote(name))
	}
	if l[0] == '-' || l[len(l)-1] == '-' {
		return newErr(ErrInvalidSAN, "DNS name %s has a label that starts or ends with a hyphen", quote(name))
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return newErr(ErrInvalidSAN, "DNS name %s has a character other than a letter, digit, hyphen or dot", quote(name))
		}
	}
	return nil
}

// atext is RFC 5322 atext: the characters of an unquoted local part besides
// letters, digits and dots.
const atext = "!#$%&'*+-/=?^_`{|}~"

// ValidateEmail checks an rfc822Name SAN: local@domain with an RFC 5322
// dot-atom local part of at most 64 characters and a domain that passes
// ValidateDNSName without a wildcard. Quoted local parts, address literals
// and non-ASCII addresses are refused (an rfc822Name is an IA5String; a
// UTF-8 mailbox needs an otherName this package does not produce).
func ValidateEmail(s string) error {
	if s == "" {
		return newErr(ErrInvalidSAN, "email address is empty")
	}
	if len(s) > 254 {
		return newErr(ErrInvalidSAN, "email address %s is longer than 254 characters", quote(s))
	}
	if !isASCII(s) {
		return newErr(ErrInvalidSAN, "email address %s is not ASCII", quote(s))
	}
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return newErr(ErrInvalidSAN, "email address %s lacks '@'", quote(s))
	}
	local, domain := s[:at], s[at+1:]
	if local == "" || len(local) > 64 {
		return newErr(ErrInvalidSAN, "email address %s needs a local part of 1 to 64 characters", quote(s))
	}
	for _, part := range strings.Split(local, ".") {
		if part == "" {
			return newErr(ErrInvalidSAN, "email address %s has a misplaced dot in its local part", quote(s))
		}
		for i := 0; i < len(part); i++ {
			c := part[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(atext, c) >= 0) {
				return newErr(ErrInvalidSAN, "email address %s has a character not allowed in an unquoted local part", quote(s))
			}
		}
	}
	if strings.HasPrefix(domain, "*") {
		return newErr(ErrInvalidSAN, "email address %s must not have a wildcard domain", quote(s))
	}
	if err := ValidateDNSName(domain); err != nil {
		return newErr(ErrInvalidSAN, "email address %s has an invalid domain", quote(s))
	}
	return nil
}

// ValidateURI checks a uniformResourceIdentifier SAN: an absolute URI
// (RFC 5280 §4.2.1.6 wants a scheme and a scheme-specific part) of printable
// ASCII without spaces, whose host, when it has an authority, is a DNS name
// (no wildcard) or an IP address. "spiffe://example.org/ns/a" and
// "urn:uuid:..." pass; a relative reference does not.
func ValidateURI(s string) error {
	_, err := parseURI(s)
	return err
}

func parseURI(s string) (*url.URL, error) {
	if s == "" {
		return nil, newErr(ErrInvalidSAN, "URI is empty")
	}
	if len(s) > 4096 {
		return nil, newErr(ErrInvalidSAN, "URI is longer than 4096 characters")
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return nil, newErr(ErrInvalidSAN, "URI %s has a space, control or non-ASCII character", quote(s))
		}
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, newErr(ErrInvalidSAN, "URI %s does not parse", quote(s))
	}
	if u.Scheme == "" {
		return nil, newErr(ErrInvalidSAN, "URI %s is not absolute (no scheme)", quote(s))
	}
	if u.Opaque == "" && u.Host == "" && u.Path == "" {
		return nil, newErr(ErrInvalidSAN, "URI %s has nothing after its scheme", quote(s))
	}
	if strings.HasPrefix(s[len(u.Scheme)+1:], "//") {
		h := u.Hostname()
		if h == "" {
			return nil, newErr(ErrInvalidSAN, "URI %s has an empty host", quote(s))
		}
		if _, err := netip.ParseAddr(h); err != nil {
			if strings.HasPrefix(h, "*") || ValidateDNSName(h) != nil {
				return nil, newErr(ErrInvalidSAN, "URI %s has a host that is neither a DNS name nor an IP address", quote(s))
			}
		}
	}
	return u, nil
}

// ParseIP parses an iPAddress SAN (IPv4 or IPv6, no zone). An IPv4-mapped
// IPv6 address is returned as IPv4, which is how it is encoded.
func ParseIP(s string) (net.IP, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return nil, newErr(ErrInvalidSAN, "%s is not an IP address", quote(s))
	}
	if a.Zone() != "" {
		return nil, newErr(ErrInvalidSAN, "IP address %s must not have a zone", quote(s))
	}
	return net.IP(a.Unmap().AsSlice()), nil
}

// maxDomainList bounds the names in one ParseDomainList call.
const maxDomainList = 100

// ParseDomainList splits a comma-separated list of DNS names and IP
// addresses (the Private CA "Domain" parameter) into its two kinds, each
// validated (ValidateDNSName, ParseIP), trimmed of surrounding spaces and
// deduplicated (DNS names case-insensitively). An empty element is an
// error; so is an empty list or one of more than 100 names.
func ParseDomainList(s string) (dnsNames []string, ips []net.IP, err error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil, newErr(ErrInvalidSAN, "domain list is empty")
	}
	parts := strings.Split(s, ",")
	if len(parts) > maxDomainList {
		return nil, nil, newErr(ErrInvalidSAN, "domain list has more than %d names", maxDomainList)
	}
	seen := map[string]bool{}
	for _, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			return nil, nil, newErr(ErrInvalidSAN, "domain list has an empty element")
		}
		if _, perr := netip.ParseAddr(p); perr == nil {
			ip, err := ParseIP(p)
			if err != nil {
				return nil, nil, err
			}
			if key := "ip:" + ip.String(); !seen[key] {
				seen[key] = true
				ips = append(ips, ip)
			}
			continue
		}
		if err := ValidateDNSName(p); err != nil {
			return nil, nil, err
		}
		if key := "dns:" + strings.ToLower(p); !seen[key] {
			seen[key] = true
			dnsNames = append(dnsNames, p)
		}
	}
	return dnsNames, ips, nil
}
