package certmgr

import (
	"strings"
	"testing"
	"time"
)

func TestPolicyEvaluation(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	req := func(action, resource, ip string) PolicyRequest {
		return PolicyRequest{Action: action, Resource: resource, SourceIP: ip, Now: now}
	}
	arn := "acs:kms:cn-hangzhou:1234:certificate/abc"
	tests := []struct {
		name, policy string
		req          PolicyRequest
		want         bool
	}{
		{"allow exact", `{"Version":"1","Statement":[{"Effect":"Allow","Action":"kms:CreateCertificate","Resource":"*"}]}`, req("kms:CreateCertificate", arn, "127.0.0.1"), true},
		{"implicit deny", `{"Version":"1","Statement":[{"Effect":"Allow","Action":"kms:Describe*","Resource":"*"}]}`, req("kms:CreateCertificate", arn, "127.0.0.1"), false},
		{"star wildcard", `{"Version":"1","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}`, req("kms:CertificatePrivateKeySign", arn, ""), true},
		{"question wildcard", `{"Version":"1","Statement":[{"Effect":"Allow","Action":"kms:?etCertificate","Resource":"*"}]}`, req("kms:GetCertificate", arn, ""), true},
		{"action case-insensitive", `{"Version":"1","Statement":[{"Effect":"Allow","Action":"KMS:describecertificate","Resource":"*"}]}`, req("kms:DescribeCertificate", arn, ""), true},
		{"other service", `{"Version":"1","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}`, req("yundun-cert:DescribeCACertificate", "*", ""), false},
		{"deny wins", `{"Version":"1","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"},{"Effect":"Deny","Action":"kms:Delete*","Resource":"*"}]}`, req("kms:DeleteCertificate", arn, ""), false},
		{"resource pattern", `{"Version":"1","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"acs:kms:*:1234:certificate/*"}]}`, req("kms:GetCertificate", arn, ""), true},
		{"resource of another account", `{"Version":"1","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"acs:kms:*:9999:certificate/*"}]}`, req("kms:GetCertificate", arn, ""), false},
		{"action list", `{"Version":"1","Statement":[{"Effect":"Allow","Action":["kms:GetCertificate","kms:DescribeCertificate"],"Resource":["*"]}]}`, req("kms:DescribeCertificate", arn, ""), true},
		{"IpAddress in range", `{"Version":"1","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"IpAddress":{"acs:SourceIp":["127.0.0.0/8"]}}}]}`, req("kms:GetCertificate", arn, "127.0.0.1"), true},
		{"IpAddress out of range", `{"Version":"1","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"IpAddress":{"acs:SourceIp":"10.0.0.0/8"}}}]}`, req("kms:GetCertificate", arn, "127.0.0.1"), false},
		{"NotIpAddress", `{"Version":"1","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"NotIpAddress":{"acs:SourceIp":"10.0.0.0/8"}}}]}`, req("kms:GetCertificate", arn, "127.0.0.1"), true},
		{"single IP", `{"Version":"1","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"IpAddress":{"acs:SourceIp":"127.0.0.1"}}}]}`, req("kms:GetCertificate", arn, "127.0.0.1"), true},
		{"Bool secure transport", `{"Version":"1","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"Bool":{"acs:SecureTransport":"true"}}}]}`, req("kms:GetCertificate", arn, ""), false},
		{"DateLessThan", `{"Version":"1","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"DateLessThan":{"acs:CurrentTime":"2027-01-01T00:00:00Z"}}}]}`, req("kms:GetCertificate", arn, ""), true},
		{"DateGreaterThan", `{"Version":"1","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"DateGreaterThan":{"acs:CurrentTime":"2027-01-01T00:00:00Z"}}}]}`, req("kms:GetCertificate", arn, ""), false},
		{"StringEquals", `{"Version":"1","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"acs:SourceIp":"127.0.0.1"}}}]}`, req("kms:GetCertificate", arn, "127.0.0.1"), true},
		{"StringNotEquals", `{"Version":"1","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"StringNotEquals":{"acs:SourceIp":"127.0.0.1"}}}]}`, req("kms:GetCertificate", arn, "127.0.0.1"), false},
		{"StringLike", `{"Version":"1","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"StringLike":{"acs:SourceIp":"127.*"}}}]}`, req("kms:GetCertificate", arn, "127.0.0.9"), true},
		{"StringNotLike", `{"Version":"1","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"StringNotLike":{"acs:SourceIp":"127.*"}}}]}`, req("kms:GetCertificate", arn, "127.0.0.9"), false},
		{"deny with condition", `{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"NotIpAddress":{"acs:SourceIp":"192.168.0.0/16"}}}]}`, req("kms:GetCertificate", arn, "127.0.0.1"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParsePolicy(tc.policy)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if got := p.Allows(tc.req); got != tc.want {
				t.Fatalf("Allows = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParsePolicyRefusesMalformed(t *testing.T) {
	bad := map[string]string{
		"not JSON":          `{`,
		"wrong version":     `{"Version":"2","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}`,
		"no statements":     `{"Version":"1","Statement":[]}`,
		"bad effect":        `{"Version":"1","Statement":[{"Effect":"Maybe","Action":"kms:*","Resource":"*"}]}`,
		"unknown field":     `{"Version":"1","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*","Principal":"x"}]}`,
		"foreign service":   `{"Version":"1","Statement":[{"Effect":"Allow","Action":"ecs:*","Resource":"*"}]}`,
		"no resource":       `{"Version":"1","Statement":[{"Effect":"Allow","Action":"kms:*"}]}`,
		"unknown operator":  `{"Version":"1","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"Between":{"acs:SourceIp":"x"}}}]}`,
		"unknown key":       `{"Version":"1","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"acs:UserAgent":"x"}}}]}`,
		"bad CIDR":          `{"Version":"1","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"IpAddress":{"acs:SourceIp":"10.0.0.0/99"}}}]}`,
		"bad date":          `{"Version":"1","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"DateLessThan":{"acs:CurrentTime":"tomorrow"}}}]}`,
		"bool not a bool":   `{"Version":"1","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"Bool":{"acs:SecureTransport":"yes"}}}]}`,
		"action not string": `{"Version":"1","Statement":[{"Effect":"Allow","Action":7,"Resource":"*"}]}`,
	}
	for name, doc := range bad {
		t.Run(name, func(t *testing.T) {
			if _, err := ParsePolicy(doc); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	if _, err := ParsePolicy(strings.Repeat(" ", 17<<10)); err == nil {
		t.Fatal("accepted a 17 KB policy")
	}
}

// FuzzPolicy: no document panics the parser, and a parsed policy decides
// any request without panicking.
func FuzzPolicy(f *testing.F) {
	f.Add(`{"Version":"1","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}`, "kms:GetCertificate", "127.0.0.1")
	f.Add(`{"Version":"1","Statement":[{"Effect":"Deny","Action":["kms:*"],"Resource":"*","Condition":{"IpAddress":{"acs:SourceIp":["10.0.0.0/8"]}}}]}`, "kms:X", "10.1.2.3")
	f.Fuzz(func(t *testing.T, doc, action, ip string) {
		p, err := ParsePolicy(doc)
		if err != nil {
			return
		}
		_ = p.Allows(PolicyRequest{Action: action, Resource: "*", SourceIP: ip, Now: time.Now()})
	})
}
