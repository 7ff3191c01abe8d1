package csrgen

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateKMSSubject(t *testing.T) {
	long := strings.Repeat("长", 65)
	tests := []struct {
		name    string
		dn      string
		wantErr error
		wantMsg string
	}{
		{"all required", "CN=example.com,OU=IT,O=Example,C=CN", nil, ""},
		{"with ST and L", "CN=example.com,OU=IT,O=阿里云计算有限公司,L=Hangzhou,ST=Zhejiang,C=CN", nil, ""},
		{"lower-case country", "CN=x,OU=IT,O=Example,C=cn", nil, ""},
		{"two OUs", "CN=x,OU=a,OU=b,O=Example,C=CN", nil, ""},
		{"64 characters of CN", "CN=" + strings.Repeat("长", 64) + ",OU=IT,O=Example,C=CN", nil, ""},
		{"lacks CN", "OU=IT,O=Example,C=CN", ErrMissingAttribute, "csrgen: subject lacks CN"},
		{"lacks C", "CN=x,OU=IT,O=Example", ErrMissingAttribute, "csrgen: subject lacks C"},
		{"lacks O", "CN=x,OU=IT,C=CN", ErrMissingAttribute, "csrgen: subject lacks O"},
		{"lacks OU", "CN=x,O=Example,C=CN", ErrMissingAttribute, "csrgen: subject lacks OU"},
		{"empty CN", "CN=,OU=IT,O=Example,C=CN", ErrMissingAttribute, "csrgen: subject lacks CN (the value is empty)"},
		{"C three letters", "CN=x,OU=IT,O=Example,C=CHN", ErrInvalidDN, "two ASCII letters"},
		{"C one letter", "CN=x,OU=IT,O=Example,C=C", ErrInvalidDN, "two ASCII letters"},
		{"C digits", "CN=x,OU=IT,O=Example,C=86", ErrInvalidDN, "two ASCII letters"},
		{"C non-ASCII", "CN=x,OU=IT,O=Example,C=中国", ErrInvalidDN, "two ASCII letters"},
		{"two Cs", "CN=x,OU=IT,O=Example,C=CN,C=US", ErrInvalidDN, "more than one C"},
		{"two CNs", "CN=x,CN=y,OU=IT,O=Example,C=CN", ErrInvalidDN, "more than one CN"},
		{"CN too long", "CN=" + long + ",OU=IT,O=Example,C=CN", ErrInvalidDN, "CN is longer than 64"},
		{"empty ST", "CN=x,OU=IT,O=Example,ST=,C=CN", ErrInvalidDN, "ST is empty"},
		{"other attribute", "CN=x,OU=IT,O=Example,C=CN,emailAddress=a@b.c", ErrInvalidDN, "emailAddress is not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := ParseDN(tt.dn)
			if err != nil {
				t.Fatal(err)
			}
			err = ValidateKMSSubject(d)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("ValidateKMSSubject: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ValidateKMSSubject = %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("message %q does not contain %q", err, tt.wantMsg)
			}
		})
	}
	if err := ValidateKMSSubject(nil); !errors.Is(err, ErrMissingAttribute) {
		t.Errorf("empty DN: %v", err)
	}
}
