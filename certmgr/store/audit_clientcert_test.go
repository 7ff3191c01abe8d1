package store

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"testing"
	"time"
)

// oldComputeHash is ComputeHash as it was before ClientCert existed: the
// chain of every log written then must still verify.
func oldComputeHash(r *AuditRecord) []byte {
	h := sha256.New()
	h.Write(r.PrevHash)
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(r.Seq))
	h.Write(n[:])
	binary.BigEndian.PutUint64(n[:], uint64(r.At.UnixMilli()))
	h.Write(n[:])
	for _, f := range []string{r.RequestID, r.AccountID, r.AccessKeyID, r.Action, r.Resource, r.Code, r.SourceIP} {
		binary.BigEndian.PutUint64(n[:], uint64(len(f)))
		h.Write(n[:])
		h.Write([]byte(f))
	}
	return h.Sum(nil)
}

// TestAuditClientCertKeepsOldRecordsVerifying: a record without a client
// certificate hashes exactly as before the field existed; one with it is
// stored, read back and hashed over it, so editing it breaks the chain.
func TestAuditClientCertKeepsOldRecordsVerifying(t *testing.T) {
	db := openTest(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	for _, subject := range []string{"", "CN=ops-7,OU=Ops,O=Example,C=CN"} {
		j := NewJournal("req-"+subject, "10.0.0.7", func() time.Time { return now })
		j.SetClientCert(subject)
		j.SetCall("acct", "AK1", "2016-01-20/ListCertificates", "acs:kms:*:acct:certificate/*")
		if err := db.Flush(WithJournal(context.Background(), j), j, "OK"); err != nil {
			t.Fatal(err)
		}
	}
	rows := auditRows(t, db)
	if len(rows) != 2 {
		t.Fatalf("%d records, want 2", len(rows))
	}
	plain, withCert := rows[0], rows[1]
	if plain.ClientCert != "" || withCert.ClientCert != "CN=ops-7,OU=Ops,O=Example,C=CN" {
		t.Fatalf("client certificates read back as %q and %q", plain.ClientCert, withCert.ClientCert)
	}
	if string(plain.Hash) != string(oldComputeHash(plain)) {
		t.Error("a record without a client certificate no longer hashes as before")
	}
	if string(withCert.Hash) != string(withCert.ComputeHash()) || string(withCert.Hash) == string(oldComputeHash(withCert)) {
		t.Error("the client certificate is not covered by the record's hash")
	}
	edited := *withCert
	edited.ClientCert = "CN=someone-else"
	if string(edited.ComputeHash()) == string(withCert.Hash) {
		t.Error("editing the client certificate keeps the hash")
	}
}
