package certmgr

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/certcustody/certcustody/certmgr/store"
	"github.com/certcustody/certcustody/keystore"
)

// activate marks a KMS certificate ACTIVE in the database (as an upload
// would), so that its key signs and decrypts.
func activate(t *testing.T, m *Manager, row *store.KMSCertificate) {
	t.Helper()
	ctx := context.Background()
	row.Status = StatusActive
	if err := m.sqlStore().Tx(ctx, func(tx *store.Tx) error { return tx.UpdateKMSCertificate(ctx, row, StatusPending) }); err != nil {
		t.Fatal(err)
	}
}

// TestWrappedKeyCustody: an account configured for wrapped custody gets
// KMS keys that leave no token object and live in their rows, sign and
// decrypt and (when exportable) export like token keys, report their class
// in KeyCustody, survive a restart, and cost no token-key quota. Another
// account of the same Manager keeps token keys, and every key use is
// audited.
func TestWrappedKeyCustody(t *testing.T) {
	quota := 1
	f := newPoolFixture(t, Config{Region: "cn-hangzhou", MaxTokenKeysPerAccount: &quota})
	m, c := f.m, f.c
	ctx := context.Background()
	other, err := m.CreateAccessKey(ctx, "other", "")
	if err != nil {
		t.Fatal(err)
	}
	tokenCaller := Caller{AccountID: other.AccountID, AccessKeyID: other.AccessKeyID}
	f.cfg.KMSKeyCustody = KMSKeyCustody{Accounts: map[string]string{c.AccountID: KeyCustodyWrapped}}
	m.SetKMSKeyCustody(f.cfg.KMSKeyCustody)
	if m.KMSKeyCustodyOf(c.AccountID) != KeyCustodyWrapped || m.KMSKeyCustodyOf(tokenCaller.AccountID) != KeyCustodyToken {
		t.Fatal("custody classes not as configured")
	}
	before := tokenPrivateKeys(t, f.tok)

	call := func(action string) context.Context {
		actx, _ := auditedCall(m, c, action)
		return actx
	}
	no, yes := false, true
	var rows []*store.KMSCertificate
	for _, tc := range []struct {
		spec       string
		exportable *bool
	}{{"EC_P256", &no}, {"RSA_2048", &yes}} {
		res, err := m.CreateCertificate(call("CreateCertificate"), c, CreateCertificateRequest{KeySpec: tc.spec, Subject: "CN=w,OU=o,O=E,C=CN", ExportablePrivateKey: tc.exportable})
		if err != nil {
			t.Fatalf("%s: %v (the token-key quota of 1 must not count wrapped keys)", tc.spec, err)
		}
		row, err := m.sqlStore().GetKMSCertificate(ctx, c.AccountID, res.CertificateID)
		if err != nil {
			t.Fatal(err)
		}
		if len(row.KeyBlob) == 0 || row.ProtectionLevel != "HSM" || tokenHas(t, m, row.KeyID) {
			t.Fatalf("%s: blob %d bytes, level %s, in token %v", tc.spec, len(row.KeyBlob), row.ProtectionLevel, tokenHas(t, m, row.KeyID))
		}
		activate(t, m, row)
		rows = append(rows, row)
	}
	if after := tokenPrivateKeys(t, f.tok); after != before {
		t.Fatalf("wrapped keys made token objects: %d → %d private keys", before, after)
	}
	ec, rsaRow := rows[0], rows[1]

	// A restart: a new keystore and Manager on the same token and database.
	m2 := f.another(t)
	for i, mm := range []*Manager{m, m2} {
		digest := sha256.Sum256([]byte("msg"))
		sig, err := mm.CertificatePrivateKeySign(call("CertificatePrivateKeySign"), c, SignRequest{CertificateID: ec.ID, Algorithm: "ECDSA_SHA_256",
			Message: base64.StdEncoding.EncodeToString(digest[:]), MessageType: "DIGEST"})
		if err != nil {
			t.Fatalf("manager %d: sign: %v", i, err)
		}
		raw, _ := base64.StdEncoding.DecodeString(sig)
		pub, _ := kmsPublicKey(ec)
		if !ecdsa.VerifyASN1(pub.(*ecdsa.PublicKey), digest[:], raw) {
			t.Fatalf("manager %d: bad signature", i)
		}
		rpub, _ := kmsPublicKey(rsaRow)
		ct, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, rpub.(*rsa.PublicKey), []byte("hello"), nil)
		if err != nil {
			t.Fatal(err)
		}
		pt, err := mm.CertificatePrivateKeyDecrypt(call("CertificatePrivateKeyDecrypt"), c, EncryptRequest{CertificateID: rsaRow.ID, Algorithm: "RSAES_OAEP_SHA_256",
			CiphertextBlob: base64.StdEncoding.EncodeToString(ct)})
		if got, _ := base64.StdEncoding.DecodeString(pt); err != nil || string(got) != "hello" {
			t.Fatalf("manager %d: decrypt %q, %v", i, got, err)
		}
	}

	d, err := m.DescribeCertificate(call("DescribeCertificate"), c, ec.ID)
	if err != nil {
		t.Fatal(err)
	}
	kc := d.KeyCustody
	if kc.Class != keystore.ClassWrapped || kc.NeverExtractable || kc.Extractable || kc.Exportable || !kc.Sensitive || kc.Token ||
		!strings.Contains(kc.Note, "CKA_NEVER_EXTRACTABLE") || d.ProtectionLevel != "HSM" {
		t.Fatalf("KeyCustody of a wrapped non-exportable key: %+v", kc)
	}
	if d, err := m.DescribeCertificate(call("DescribeCertificate"), c, rsaRow.ID); err != nil || !d.KeyCustody.Exportable || d.KeyCustody.Class != keystore.ClassWrapped {
		t.Fatalf("KeyCustody of a wrapped exportable key: %+v, %v", d, err)
	}

	// Export: the exportable key's PKCS#12 holds the key; the other is refused.
	if err := m.sqlStore().Tx(ctx, func(tx *store.Tx) error {
		rsaRow.Status, rsaRow.Certificate = StatusActive, selfSignedFor(t, m, c, rsaRow)
		return tx.UpdateKMSCertificate(ctx, rsaRow, StatusActive)
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.ExportCertificate(call("ExportCertificate"), c, rsaRow.ID, "password-1"); err != nil {
		t.Fatalf("export of a wrapped exportable key: %v", err)
	}
	var apiErr *Error
	if _, err := m.ExportCertificate(call("ExportCertificate"), c, ec.ID, "password-1"); !errors.As(err, &apiErr) || apiErr.Code != "Forbidden.KeyNotExportable" {
		t.Fatalf("export of a wrapped non-exportable key: %v", err)
	}

	// The token-class account keeps token keys, under its quota.
	tctx, _ := auditedCall(m, tokenCaller, "CreateCertificate")
	res, err := m.CreateCertificate(tctx, tokenCaller, CreateCertificateRequest{KeySpec: "EC_P256", Subject: "CN=t,OU=o,O=E,C=CN", ExportablePrivateKey: &no})
	if err != nil {
		t.Fatal(err)
	}
	trow, _ := m.sqlStore().GetKMSCertificate(ctx, tokenCaller.AccountID, res.CertificateID)
	if trow.KeyBlob != nil || !tokenHas(t, m, trow.KeyID) {
		t.Fatal("the token-class account got a wrapped key")
	}
	if d, err := m.DescribeCertificate(tctx, tokenCaller, trow.ID); err != nil || d.KeyCustody.Class != keystore.ClassToken || !d.KeyCustody.NeverExtractable {
		t.Fatalf("token key custody: %+v %v", d, err)
	}
	if _, err := m.CreateCertificate(tctx, tokenCaller, CreateCertificateRequest{KeySpec: "EC_P256", Subject: "CN=t,OU=o,O=E,C=CN"}); !errors.As(err, &apiErr) || apiErr.Code != "QuotaExceeded" {
		t.Fatalf("the token-class account past its quota: %v", err)
	}

	// SM2 is not offered in wrapped custody: refused, never a token key instead.
	if _, err := m.CreateCertificate(call("CreateCertificate"), c, CreateCertificateRequest{KeySpec: "EC_SM2", Subject: "CN=s,OU=o,O=E,C=CN"}); !errors.As(err, &apiErr) || apiErr.Code != "InvalidParameter.KeyCustody" {
		t.Fatalf("wrapped SM2: %v", err)
	}

	if err := m.DeleteCertificate(call("DeleteCertificate"), c, ec.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := m.CertificatePrivateKeySign(call("CertificatePrivateKeySign"), c, SignRequest{CertificateID: ec.ID, Algorithm: "ECDSA_SHA_256",
		Message: base64.StdEncoding.EncodeToString([]byte("m"))}); !errors.As(err, &apiErr) || apiErr.HTTPStatus != 404 {
		t.Fatalf("sign after delete: %v", err)
	}
	if n := m.UnauditedKeyUses() + m2.UnauditedKeyUses(); n != 0 {
		t.Fatalf("%d key uses outside an audited call", n)
	}
	if unwraps := auditOf(t, m, "", "token:unwrap/CKM_AES_KEY_WRAP_PAD"); len(unwraps) == 0 || unwraps[0].Code != "OK" {
		t.Fatalf("no unwrap records: %+v", unwraps)
	}
}

// TestKMSKeyCustodyCheck: only the two class names are accepted.
func TestKMSKeyCustodyCheck(t *testing.T) {
	for _, tc := range []struct {
		c  KMSKeyCustody
		ok bool
	}{
		{KMSKeyCustody{}, true},
		{KMSKeyCustody{Default: "wrapped", Accounts: map[string]string{"a": "token"}}, true},
		{KMSKeyCustody{Default: "hsm"}, false},
		{KMSKeyCustody{Accounts: map[string]string{"a": ""}}, false},
		{KMSKeyCustody{Accounts: map[string]string{"a": "soft"}}, false},
	} {
		if err := tc.c.Check(); (err == nil) != tc.ok {
			t.Errorf("%+v: %v", tc.c, err)
		}
	}
}

// selfSignedFor returns a certificate for the row's public key, signed by
// a throwaway software key: enough for an export's PKCS#12.
func selfSignedFor(t *testing.T, m *Manager, c Caller, row *store.KMSCertificate) []byte {
	t.Helper()
	pub, err := kmsPublicKey(row)
	if err != nil {
		t.Fatal(err)
	}
	issuer, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := m.now()
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "w"},
		NotBefore: now, NotAfter: now.AddDate(1, 0, 0)}, &x509.Certificate{Subject: pkix.Name{CommonName: "issuer"}}, pub, issuer)
	if err != nil {
		t.Fatal(err)
	}
	return der
}
