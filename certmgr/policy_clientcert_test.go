package certmgr

import (
	"strings"
	"testing"
)

// TestPolicyClientCertSubject: acs:ClientCertSubject matches the verified
// client certificate's subject with StringEquals and StringLike; a request
// without a client certificate matches neither; the key takes the String
// operators only.
func TestPolicyClientCertSubject(t *testing.T) {
	const ops = "CN=ops-7,OU=Ops,O=Example,C=CN"
	arn := "acs:kms:cn-hangzhou:1234:certificate/abc"
	policy := func(op, value string) string {
		return `{"Version":"1","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"` + op + `":{"acs:ClientCertSubject":"` + value + `"},"Bool":{"acs:SecureTransport":"true"}}}]}`
	}
	tests := []struct {
		name, policy, subject string
		secure, want          bool
	}{
		{"equals", policy("StringEquals", ops), ops, true, true},
		{"equals another subject", policy("StringEquals", ops), "CN=ops-8,OU=Ops,O=Example,C=CN", true, false},
		{"like", policy("StringLike", "CN=ops-*,OU=Ops,O=Example,C=CN"), ops, true, true},
		{"like without a certificate", policy("StringLike", "*"), "", true, true},
		{"like a non-empty subject without a certificate", policy("StringLike", "CN=*"), "", true, false},
		{"equals without a certificate", policy("StringEquals", ops), "", true, false},
		{"not equals", policy("StringNotEquals", ops), "CN=intruder", true, true},
		{"plaintext refused by the transport condition", policy("StringEquals", ops), ops, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParsePolicy(tc.policy)
			if err != nil {
				t.Fatal(err)
			}
			got := p.Allows(PolicyRequest{Action: "kms:GetCertificate", Resource: arn, SourceIP: "10.0.0.7", SecureTransport: tc.secure, ClientCertSubject: tc.subject})
			if got != tc.want {
				t.Fatalf("Allows = %v, want %v", got, tc.want)
			}
		})
	}
	for _, op := range []string{"Bool", "IpAddress", "DateLessThan"} {
		_, err := ParsePolicy(`{"Version":"1","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"` + op + `":{"acs:ClientCertSubject":"true"}}}]}`)
		if err == nil || !strings.Contains(err.Error(), "String operators") {
			t.Errorf("%s on acs:ClientCertSubject: %v, want a refusal", op, err)
		}
	}
}
