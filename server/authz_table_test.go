package server

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestAKeyAllowedOnXCannotActOnY: a key whose policy allows every action
// only on certain resources (X) sends every action with every identifier
// parameter spelled to name other resources (Y) of the same account:
// alone, in comma lists, padded, beside an X in another parameter. No
// answer may carry a Y, and afterwards every Y is as it was. Each action
// is authorized on what its parsed request acts on, so no spelling of a
// raw parameter can reach a handler unchecked.
func TestAKeyAllowedOnXCannotActOnY(t *testing.T) {
	e := newEnv(t)
	f := newFixtures(t, e)
	// Y: a second issuing CA, a certificate it issued, a KMS certificate.
	subY := f.newSub(t)
	leafY := str(e.rawOK(t, caVersion, "CreateClientCertificateWithCsr", map[string]string{"ParentIdentifier": subY,
		"Csr": clientCSR(t, "ECC", "y.example.com"), "SanType": "1", "SanValue": "y@example.com", "Days": "30"})["Identifier"])
	kmsY := f.newKMS(t, true)
	ys := []string{subY, leafY, kmsY}

	allowed := []string{f.sub, f.leaf, f.generated, f.kms}
	var res []string
	for _, id := range allowed {
		res = append(res, fmt.Sprintf(`"acs:*:*:%s:certificate/%s"`, e.AK.AccountID, id))
	}
	policy := `{"Version":"1","Statement":[{"Effect":"Allow","Action":["kms:*","yundun-cert:*"],"Resource":[` + strings.Join(res, ",") + `]}]}`
	ak, err := e.Mgr.CreateAccessKey(context.Background(), "acme", policy)
	if err != nil {
		t.Fatal(err)
	}
	limited := *e
	limited.AK = ak

	_, issuedY0 := issuedUnder(t, e, subY)
	xFor := map[string]string{"CertificateId": f.kms, "Identifier": f.leaf, "ParentIdentifier": f.sub, "CaIdentifier": f.sub}
	forbidden := map[string]int{}
	rows := conformanceRows()
	// Every row's valid input first: the tries below may delete or revoke
	// an X, which later rows' inputs need.
	bases := make([]map[string]string, len(rows))
	for i, row := range rows {
		bases[i] = row.params(t, f)
	}
	for i, row := range rows {
		if row.unsupported {
			continue // refused whatever it names
		}
		base := bases[i]
		// Each identifier parameter with the Y it could name.
		targets := [][2]string{{"Identifier", subY}, {"Identifier", leafY}, {"ParentIdentifier", subY}, {"CaIdentifier", subY},
			{"InstanceId", subY}, {"ResourceId.1", leafY}, {"CertificateId", kmsY}}
		if row.version == kmsVersion {
			targets = [][2]string{{"CertificateId", kmsY}, {"Identifier", leafY}}
		}
		var tries []map[string]string
		for _, tg := range targets {
			n, y := tg[0], tg[1]
			x := xFor[n]
			if x == "" {
				x = f.sub
			}
			for _, v := range []string{y, x + "," + y, " " + y} {
				tries = append(tries, overlay(base, n, v))
			}
			for _, other := range []string{"Identifier", "ParentIdentifier", "CertificateId"} {
				if other != n {
					tries = append(tries, overlay(overlay(base, other, xFor[other]), n, y))
				}
			}
		}
		for _, p := range tries {
			status, body := limited.raw(t, row.version, row.action, "JSON", p)
			if status == http.StatusForbidden {
				forbidden[row.action]++
			}
			if status != http.StatusOK {
				continue
			}
			for _, y := range ys {
				if strings.Contains(string(body), y) {
					t.Errorf("%s %v answered with %s: %s", row.action, p, y, clip(string(body), 300))
				}
			}
		}
		if forbidden[row.action] == 0 {
			t.Errorf("%s: no spelling naming a Y was refused with Forbidden.RAM", row.action)
		}
	}
	// Every Y is as it was.
	if d := e.rawOK(t, caVersion, "DescribeCACertificate", map[string]string{"Identifier": subY}); d["Certificate"].(map[string]any)["Status"] != "ISSUE" {
		t.Errorf("sub CA Y changed: %v", d["Certificate"].(map[string]any)["Status"])
	}
	if _, n := issuedUnder(t, e, subY); n != issuedY0 {
		t.Errorf("sub CA Y issued %d certificates through the limited key", n-issuedY0)
	}
	if d := e.rawOK(t, caVersion, "DescribeClientCertificate", map[string]string{"Identifier": leafY}); d["Certificate"].(map[string]any)["Status"] != "ISSUE" {
		t.Errorf("certificate Y changed: %v", d["Certificate"].(map[string]any)["Status"])
	}
	if d := e.rawOK(t, kmsVersion, "DescribeCertificate", map[string]string{"CertificateId": kmsY}); d["Status"] != "ACTIVE" {
		t.Errorf("KMS certificate Y changed: %v", d["Status"])
	}
}

func overlay(base map[string]string, k, v string) map[string]string {
	out := map[string]string{}
	for a, b := range base {
		out[a] = b
	}
	out[k] = v
	return out
}

// issuedUnder counts the certificates a CA issued, through the root key.
func issuedUnder(t *testing.T, e *env, ca string) (string, int) {
	t.Helper()
	d := e.rawOK(t, caVersion, "DescribeCACertificate", map[string]string{"Identifier": ca})
	n := d["Certificate"].(map[string]any)["CertIssuedCount"]
	var c int
	fmt.Sscan(fmt.Sprint(n), &c)
	return ca, c
}
