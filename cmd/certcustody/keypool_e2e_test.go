package main

import (
	"io"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServeKeyPool runs the real binary with keystore.pool: serve fills
// the pool at start, CreateCertificate takes a pooled key (its KeyId is
// not kms-<CertificateId>), /metrics counts the claim, SIGTERM stops the worker cleanly and logs the
// pool's counts, and `token keys` lists every unclaimed pool key with its
// pool as owner, none an orphan.
func TestServeKeyPool(t *testing.T) {
	srv := serveBinary(t, "keystore:\n  pool:\n    EC_P256: {non_exportable: 2}\n")
	bin, dataDir, addr, cmd, logs, exited := srv.bin, srv.dataDir, srv.addr, srv.cmd, srv.logs, srv.exited
	for !strings.Contains(logs.String(), `"msg":"key pools full"`) {
		select {
		case err := <-exited:
			srv.reaped()
			t.Fatalf("serve exited (%v):\n%s", err, logs.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	creds := readBootstrap(t, dataDir)
	c := newAPIClient("http://"+addr, creds["AccessKeyId"], creds["AccessKeySecret"])
	out, err := c.doJSON("CreateCertificate", "2016-01-20", map[string]string{
		"KeySpec": "EC_P256", "Subject": "CN=pooled,OU=ops,O=Example,C=CN", "ExportablePrivateKey": "false"})
	if err != nil {
		t.Fatal(err)
	}
	certID := out["CertificateId"].(string)
	d, err := c.doJSON("DescribeCertificate", "2016-01-20", map[string]string{"CertificateId": certID})
	if err != nil {
		t.Fatal(err)
	}
	kc, _ := d["KeyCustody"].(map[string]any)
	keyID, _ := kc["KeyId"].(string)
	if !strings.HasPrefix(keyID, "kms-") || keyID == "kms-"+certID || kc["Extractable"] != false || kc["NeverExtractable"] != true {
		t.Fatalf("KeyCustody of a pooled key: %v", kc)
	}
	// /metrics carries the pool's counts while the node serves.
	resp, err := c.http.Get(c.endpoint + "metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"certcustody_key_pool_claimed_total 1\n", "certcustody_key_pool_generated_on_demand_total 0\n"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q:\n%s", strings.TrimSpace(want), grepLines(string(body), "key_pool"))
		}
	}
	if !regexp.MustCompile(`certcustody_key_pool_added_total [2-9]\n`).Match(body) {
		t.Errorf("/metrics: want at least the 2 keys that filled the pool added:\n%s", grepLines(string(body), "key_pool"))
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	srv.reaped()
	if err := <-exited; err != nil {
		t.Fatalf("serve did not exit cleanly: %v\n%s", err, logs.String())
	}
	if !strings.Contains(logs.String(), `"msg":"key pool","claimed":1,"generated_on_demand":0`) {
		t.Errorf("no pool counts at shutdown:\n%s", grepLines(logs.String(), "pool"))
	}
	keys := tokenKeys(t, bin, dataDir)
	if o, _ := keys[keyID]["Owner"].(map[string]any); o["Kind"] != "KMSCertificate" || o["Id"] != certID {
		t.Errorf("claimed key owner %v", keys[keyID]["Owner"])
	}
	pooled := 0
	for id, k := range keys {
		if k["Orphan"] == true {
			t.Errorf("%s is an orphan", id)
		}
		if o, _ := k["Owner"].(map[string]any); o["Kind"] == "KeyPool" {
			pooled++
			if o["Id"] != "EC_P256/non_exportable" || k["Extractable"] != false {
				t.Errorf("pool key %s: %v", id, k)
			}
		}
	}
	// The claim woke the worker; the stop may have come before or after
	// its new key.
	if pooled < 1 || pooled > 2 {
		t.Errorf("%d pool keys in the token, want 1 or 2", pooled)
	}
}
