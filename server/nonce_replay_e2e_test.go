package server

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	kms "github.com/alibabacloud-go/kms-20160120/v3/client"
	"github.com/alibabacloud-go/tea/tea"
)

// TestReplayedSignIsRefusedAndAudited: a CertificatePrivateKeySign whose
// nonce commits with its audit record (one commit per call). A replay of
// the committed request is refused before the token signs; copies of one
// request sent at once yield exactly one signature, and every signature
// the token made for a refused copy is in the log under that copy's
// SignatureNonceUsed record.
func TestReplayedSignIsRefusedAndAudited(t *testing.T) {
	e := newEnv(t)
	c := e.kmsClient(t, "")
	created, err := c.CreateCertificate(&kms.CreateCertificateRequest{KeySpec: tea.String("EC_P256"), Subject: tea.String("CN=replay.example,OU=ops,O=Example,C=CN")})
	if err != nil {
		t.Fatal(err)
	}
	id := tea.StringValue(created.Body.CertificateId)
	ca := newTestCA(t, "EC")
	if _, err := c.UploadCertificate(&kms.UploadCertificateRequest{CertificateId: created.Body.CertificateId, Certificate: tea.String(ca.sign(t, tea.StringValue(created.Body.Csr))), CertificateChain: tea.String(ca.pem)}); err != nil {
		t.Fatal(err)
	}
	// Every copy of a request repeats its signed timestamp with its nonce.
	ts := time.Now().UTC().Format("2006-01-02T15:04:05Z")
	sign := func(nonce string) (int, map[string]string) {
		return e.rawV1(t, Params{"Action": "CertificatePrivateKeySign", "CertificateId": id, "Algorithm": "ECDSA_SHA_256",
			"Message": b64([]byte("m")), "MessageType": "RAW", "SignatureNonce": nonce, "Timestamp": ts}, nil)
	}

	nonces0, uses0 := e.nonceRows(t), e.tokenUses(t)
	if status, body := sign("once"); status != 200 || body["SignatureValue"] == "" {
		t.Fatalf("first sign: %d %v", status, body)
	}
	if n := e.nonceRows(t); n != nonces0+1 {
		t.Fatalf("nonce rows %d after one call, want %d", n, nonces0+1)
	}
	uses1 := e.tokenUses(t)
	if uses1 != uses0+1 {
		t.Fatalf("one signature made %d key-use records", uses1-uses0)
	}
	status, body := sign("once")
	if status != 400 || body["Code"] != "SignatureNonceUsed" {
		t.Fatalf("replay: %d %v, want 400 SignatureNonceUsed", status, body)
	}
	if got := e.tokenUses(t); got != uses1 {
		t.Fatalf("the replay of a committed request used the token (%d key uses)", got-uses1)
	}
	// Refused while authenticating, like a bad signature: it did nothing
	// that a record would have to account for.
	if recs := e.auditOf(t, body["RequestId"]); len(recs) != 0 {
		t.Fatalf("replay's records: %q, want none", actionsOf(recs))
	}

	// Copies sent together: some may pass the check before the first
	// commits; their commit then fails.
	const copies = 8
	var wg sync.WaitGroup
	results := make([]map[string]string, copies)
	codes := make([]int, copies)
	for i := range copies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i], results[i] = sign("together")
		}()
	}
	wg.Wait()
	ok := 0
	refused := map[string]bool{}
	for i, b := range results {
		switch {
		case codes[i] == 200 && b["SignatureValue"] != "":
			ok++
		case codes[i] == 400 && b["Code"] == "SignatureNonceUsed":
			refused[b["RequestId"]] = true
		default:
			t.Fatalf("copy %d: %d %v", i, codes[i], b)
		}
	}
	if ok != 1 {
		t.Fatalf("%d of %d copies of one request were answered, want 1", ok, copies)
	}
	// Every token use is on the log, the refused copies' included: a copy
	// refused at the check has no record, one refused at commit has its
	// refusal and its signature.
	signs, atCommit := 0, 0
	for rid := range refused {
		recs := e.auditOf(t, rid)
		if len(recs) == 0 {
			continue
		}
		if recs[0].Code != "SignatureNonceUsed" {
			t.Fatalf("refused copy %s records %q", rid, actionsOf(recs))
		}
		atCommit++
		for _, r := range recs[1:] {
			if !strings.HasPrefix(r.Action, "token:sign/") {
				t.Fatalf("refused copy %s records %q", rid, actionsOf(recs))
			}
			signs++
		}
	}
	t.Logf("%d copies refused at the check, %d at commit", len(refused)-atCommit, atCommit)
	if got := e.tokenUses(t) - uses1; got != 1+signs {
		t.Fatalf("%d key-use records for 1 answered signature and %d made for refused copies", got, signs)
	}
	if n := e.Mgr.UnauditedKeyUses(); n != 0 {
		t.Fatalf("%d token-key uses went unaudited", n)
	}
}

// countingNonces counts the nonce reads the server makes on its own.
type countingNonces struct {
	NonceChecker
	reads atomic.Int64
}

func (c *countingNonces) NonceUsed(ctx context.Context, accessKeyID, nonce string, until time.Time) (bool, error) {
	c.reads.Add(1)
	return c.NonceChecker.NonceUsed(ctx, accessKeyID, nonce, until)
}

// TestNonceCheckRidesTheKeyLookup: the check that a request's nonce is
// unused is answered by the read that finds its AccessKey, so the server
// makes no nonce read of its own, and a replay is still refused.
func TestNonceCheckRidesTheKeyLookup(t *testing.T) {
	var nonces *countingNonces
	e := newEnv(t, func(c *Config) {
		nonces = &countingNonces{NonceChecker: c.Nonces.(NonceChecker)}
		c.Nonces = nonces
	})
	ts := time.Now().UTC().Format("2006-01-02T15:04:05Z")
	call := func(nonce string) (int, map[string]string) {
		return e.rawV1(t, Params{"Action": "ListCertificates", "SignatureNonce": nonce, "Timestamp": ts}, nil)
	}
	if status, body := call("fresh-1"); status != 200 {
		t.Fatalf("first call: %d %v", status, body)
	}
	if status, body := call("fresh-1"); status != 400 || body["Code"] != "SignatureNonceUsed" {
		t.Fatalf("replay: %d %v, want 400 SignatureNonceUsed", status, body)
	}
	if status, body := call("fresh-2"); status != 200 {
		t.Fatalf("second call: %d %v", status, body)
	}
	if n := nonces.reads.Load(); n != 0 {
		t.Fatalf("the server read nonces %d times beside the key lookup, want 0", n)
	}
}
