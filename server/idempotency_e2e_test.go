package server

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
)

// TestClientTokenRetriesCreateNothing: a retry with the same ClientToken
// from the same account returns the first call's answer and creates
// nothing; the same token with other parameters is
// IdempotentParameterMismatch; another account's token is its own.
func TestClientTokenRetriesCreateNothing(t *testing.T) {
	e := newEnv(t)
	root, err := e.rpcCall(t, caVersion, "CreateRootCACertificate", with(caSubject("Idem Root"), "Algorithm", "ECC_256", "Years", 5))
	if err != nil {
		t.Fatal(err)
	}
	subToken := uuid.NewString()
	subParams := with(caSubject("Idem Sub"), "ParentIdentifier", root["Identifier"], "Algorithm", "ECC_256", "Years", 2, "ClientToken", subToken)
	sub, err := e.rpcCall(t, caVersion, "CreateSubCACertificate", subParams)
	if err != nil {
		t.Fatal(err)
	}
	_, keys0 := e.counts(t)
	cas0, _ := issuedCounts(t, e)
	again, err := e.rpcCall(t, caVersion, "CreateSubCACertificate", subParams)
	if err != nil {
		t.Fatal(err)
	}
	if again["Identifier"] != sub["Identifier"] || again["Certificate"] != sub["Certificate"] || again["CertificateChain"] != sub["CertificateChain"] {
		t.Fatalf("retried CreateSubCACertificate answered %v, first %v", again["Identifier"], sub["Identifier"])
	}
	if _, keys := e.counts(t); keys != keys0 {
		t.Fatalf("a retried CA creation changed the token's keys %d → %d", keys0, keys)
	}

	token := uuid.NewString()
	params := map[string]interface{}{"ParentIdentifier": sub["Identifier"], "Algorithm": "ECC_256", "CommonName": "idem",
		"SanType": 1, "SanValue": "idem@example.com", "Days": 10, "Immediately": 2, "ClientToken": token}
	first, err := e.rpcCall(t, caVersion, "CreateClientCertificate", params)
	if err != nil {
		t.Fatal(err)
	}
	_, certs0 := issuedCounts(t, e)
	second, err := e.rpcCall(t, caVersion, "CreateClientCertificate", params)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"Identifier", "X509Certificate", "CertificateChain", "SerialNumber"} {
		if second[k] != first[k] || first[k] == "" {
			t.Fatalf("retry %s = %v, first %v", k, second[k], first[k])
		}
	}
	_, err = e.rpcCall(t, caVersion, "CreateClientCertificate", with(params, "CommonName", "someone-else"))
	wantAPIError(t, err, "IdempotentParameterMismatch", 400)
	if cas, certs := issuedCounts(t, e); certs != certs0 || cas != cas0 {
		t.Fatalf("retries created: CAs %d→%d, certificates %d→%d", cas0, cas, certs0, certs)
	}

	// Another account with the same token creates its own.
	other, err := e.Mgr.CreateAccessKey(context.Background(), "other-account", "")
	if err != nil {
		t.Fatal(err)
	}
	oe := *e
	oe.AK = other
	oroot, err := oe.rpcCall(t, caVersion, "CreateRootCACertificate", with(caSubject("Other Root"), "Algorithm", "ECC_256", "Years", 5, "ClientToken", subToken))
	if err != nil {
		t.Fatalf("another account's ClientToken is its own: %v", err)
	}
	if oroot["Identifier"] == sub["Identifier"] {
		t.Fatal("another account got the first account's CA back")
	}

	// A status change with a token can be retried: the retry answers OK
	// instead of "already revoked".
	st := map[string]interface{}{"Identifier": sub["Identifier"], "Status": "REVOKE", "ClientToken": uuid.NewString()}
	for i := 0; i < 2; i++ {
		if _, err := e.rpcCall(t, caVersion, "UpdateCACertificateStatus", st); err != nil {
			t.Fatalf("UpdateCACertificateStatus try %d: %v", i+1, err)
		}
	}
}

// TestClientTokenConcurrentRetriesMakeOneCertificate: a client that times
// out and retries while the first call is still running must not end up
// with two certificates, nor two CA keys in the token.
func TestClientTokenConcurrentRetriesMakeOneCertificate(t *testing.T) {
	e := newEnv(t)
	root, err := e.rpcCall(t, caVersion, "CreateRootCACertificate", with(caSubject("Race Root"), "Algorithm", "ECC_256", "Years", 5))
	if err != nil {
		t.Fatal(err)
	}
	sub, err := e.rpcCall(t, caVersion, "CreateSubCACertificate", with(caSubject("Race Sub"), "ParentIdentifier", root["Identifier"], "Algorithm", "ECC_256", "Years", 2))
	if err != nil {
		t.Fatal(err)
	}
	race := func(action string, params map[string]interface{}) map[interface{}]int {
		const n = 8
		var mu sync.Mutex
		ids := map[interface{}]int{}
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			// Our own HTTP client: the SDK's shared transport state is not
			// safe for concurrent calls (the race detector says so).
			go func() {
				defer wg.Done()
				status, body := e.raw(t, caVersion, action, "JSON", strs(params))
				res, err := decodeJSON(body)
				if status != 200 || err != nil {
					t.Errorf("%s: %d %s", action, status, body)
					return
				}
				mu.Lock()
				ids[res["Identifier"]]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		return ids
	}
	cas0, certs0 := issuedCounts(t, e)
	_, keys0 := e.counts(t)
	ids := race("CreateClientCertificate", map[string]interface{}{"ParentIdentifier": sub["Identifier"], "Algorithm": "ECC_256",
		"CommonName": "race", "SanType": 1, "SanValue": "race@example.com", "Days": 10, "ClientToken": uuid.NewString()})
	if len(ids) != 1 {
		t.Fatalf("8 concurrent calls with one ClientToken answered %d identifiers: %v", len(ids), ids)
	}
	ids = race("CreateSubCACertificate", with(caSubject("Race Sub 2"), "ParentIdentifier", root["Identifier"], "Algorithm", "ECC_256",
		"Years", 2, "ClientToken", uuid.NewString()))
	if len(ids) != 1 {
		t.Fatalf("8 concurrent CA creations with one ClientToken answered %d identifiers: %v", len(ids), ids)
	}
	cas, certs := issuedCounts(t, e)
	_, keys := e.counts(t)
	if certs != certs0+1 || cas != cas0+1 || keys != keys0+1 {
		t.Fatalf("one token made CAs %d→%d, certificates %d→%d, token keys %d→%d; want one of each", cas0, cas, certs0, certs, keys0, keys)
	}
}

// TestCustomIdentifierAndAliasThroughTheAPI: a CustomIdentifier and an
// AliasName given at issuance are returned by the describing and listing
// actions, and a CustomIdentifier is unique per account.
func TestCustomIdentifierAndAliasThroughTheAPI(t *testing.T) {
	e := newEnv(t)
	root, err := e.rpcCall(t, caVersion, "CreateRootCACertificate", with(caSubject("Custom Root"), "Algorithm", "ECC_256", "Years", 5))
	if err != nil {
		t.Fatal(err)
	}
	sub, err := e.rpcCall(t, caVersion, "CreateSubCACertificate", with(caSubject("Custom Sub"), "ParentIdentifier", root["Identifier"], "Algorithm", "ECC_256", "Years", 2))
	if err != nil {
		t.Fatal(err)
	}
	params := map[string]interface{}{"ParentIdentifier": sub["Identifier"], "Algorithm": "ECC_256", "CommonName": "named",
		"SanType": 1, "SanValue": "n@example.com", "Days": 10, "CustomIdentifier": "billing-7", "AliasName": "billing client"}
	c, err := e.rpcCall(t, caVersion, "CreateClientCertificate", params)
	if err != nil {
		t.Fatal(err)
	}
	d, err := e.rpcCall(t, caVersion, "DescribeClientCertificate", map[string]interface{}{"Identifier": c["Identifier"]})
	if err != nil {
		t.Fatal(err)
	}
	if got := d["Certificate"].(map[string]interface{}); got["CustomIdentifier"] != "billing-7" || got["AliasName"] != "billing client" {
		t.Fatalf("described as %v / %v", got["CustomIdentifier"], got["AliasName"])
	}
	_, err = e.rpcCall(t, caVersion, "CreateClientCertificate", with(params, "CommonName", "other"))
	if err == nil || !strings.Contains(err.Error(), "CustomIdentifier") {
		t.Fatalf("a second certificate with the same CustomIdentifier: %v", err)
	}
}
