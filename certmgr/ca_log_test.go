package certmgr

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// audited runs fn as the server does a call: in a journal naming the
// caller, the action and the ARN authorized (Identifier, else
// ParentIdentifier, else *), finished with the call's code.
func audited(t testing.TB, m *Manager, c Caller, action, id string, fn func(ctx context.Context) error) {
	t.Helper()
	if id == "" {
		id = "*"
	}
	ctx, j := m.StartAudit(context.Background(), fmt.Sprint("req-", action, "-", id), "127.0.0.1")
	j.SetCaller(c, "2020-06-30/"+action, m.caArn(c, id))
	err := fn(ctx)
	code := "OK"
	if err != nil {
		code = AsError(err).Code
	}
	if _, ferr := j.Finish(ctx, code); ferr != nil {
		t.Fatal(ferr)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestListCACertificateLog: the CA's creation (ADD), its committed changes
// (UPDATE) and an issuance summary, from the audit log of this account
// and this CA only; reads, refusals and other CAs' records are not in it.
func TestListCACertificateLog(t *testing.T) {
	m, c := newManager(t)
	var root, sub string
	audited(t, m, c, "CreateRootCACertificate", "", func(ctx context.Context) error {
		r, err := m.CreateRootCACertificate(ctx, c, caRequest("Root", "ECC_256"))
		if err == nil {
			root = r.Identifier
		}
		return err
	})
	audited(t, m, c, "CreateSubCACertificate", root, func(ctx context.Context) error {
		r := caRequest("Sub", "ECC_256")
		r.ParentIdentifier, r.Years = root, 5
		s, err := m.CreateSubCACertificate(ctx, c, r)
		if err == nil {
			sub = s.Identifier
		}
		return err
	})
	audited(t, m, c, "DescribeCACertificate", sub, func(ctx context.Context) error {
		_, err := m.DescribeCACertificate(ctx, c, sub)
		return err
	})
	alias := "issuing"
	audited(t, m, c, "UpdatePcaCertificate", sub, func(ctx context.Context) error {
		_, err := m.UpdatePcaCertificate(ctx, c, UpdatePcaCertificateRequest{Identifier: sub, AliasName: &alias})
		return err
	})
	for i := range 3 {
		audited(t, m, c, "CreateServerCertificate", sub, func(ctx context.Context) error {
			_, err := m.CreateServerCertificate(ctx, c, GenerateRequest{IssueRequest: IssueRequest{ParentIdentifier: sub, Years: 1},
				Algorithm: "ECC_256", CommonName: fmt.Sprint("host", i)})
			return err
		})
	}
	// A refused change is on the audit log with its code, not in the CA's log.
	ctx, j := m.StartAudit(context.Background(), "req-refused", "127.0.0.1")
	j.SetCaller(c, "2020-06-30/UpdateCACertificateStatus", m.caArn(c, sub))
	if _, err := j.Finish(ctx, "Forbidden.RAM"); err != nil {
		t.Fatal(err)
	}
	audited(t, m, c, "UpdateCACertificateStatus", sub, func(ctx context.Context) error {
		return m.UpdateCACertificateStatus(ctx, c, sub, "REVOKE")
	})

	log, err := m.ListCACertificateLog(context.Background(), c, sub)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range log.LogList {
		if e.Identifier != sub || e.CreateTime == 0 || e.Content == "" {
			t.Fatalf("entry %+v", e)
		}
		got = append(got, e.OpType)
	}
	if strings.Join(got, ",") != "ADD,UPDATE,UPDATE,UPDATE" {
		t.Fatalf("log %v: %+v", got, log.LogList)
	}
	if !strings.Contains(log.LogList[0].Content, "CreateSubCACertificate") || !strings.Contains(log.LogList[1].Content, "UpdatePcaCertificate") ||
		!strings.Contains(log.LogList[2].Content, "REVOKE") || !strings.Contains(log.LogList[3].Content, "Issued 3 certificates (0 revoked)") {
		t.Fatalf("contents: %+v", log.LogList)
	}
	for i := 1; i < len(log.LogList)-1; i++ {
		if log.LogList[i].CreateTime < log.LogList[i-1].CreateTime {
			t.Fatalf("not oldest first: %+v", log.LogList)
		}
	}
	wantKinds(t, "LogList[]", log.LogList[0], map[string]string{"CreateTime": "number", "OpType": "string", "Content": "string"})

	rl, err := m.ListCACertificateLog(context.Background(), c, root)
	if err != nil || len(rl.LogList) != 2 || rl.LogList[0].OpType != "ADD" || !strings.Contains(rl.LogList[1].Content, "1 subordinate CA") {
		t.Fatalf("root log %+v %v", rl, err)
	}
	_, err = m.ListCACertificateLog(context.Background(), otherCaller(t, m), sub)
	wantCode(t, err, "NotFound.Certificate")
	_, err = m.ListCACertificateLog(context.Background(), c, "")
	wantCode(t, err, "MissingParameter")
}
