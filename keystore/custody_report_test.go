package keystore

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/miekg/pkcs11"
)

// TestPrivateKeysAreNotModifiable reads CKA_MODIFIABLE back from the token
// for every algorithm and purpose, the service keys, and the session
// template of service-generated end-entity keys; the token then refuses
// C_SetAttributeValue on a private key.
func TestPrivateKeysAreNotModifiable(t *testing.T) {
	s, tok := newStore(t)
	raw := openRaw(t, tok)
	ctx := context.Background()
	for _, alg := range []Algorithm{RSA2048, ECP256, ECP384, ECP521} {
		for _, p := range []Purpose{PurposeKMS, PurposeCA, PurposeSign} {
			id := fmt.Sprintf("%s-%s", p, alg)
			if _, err := s.Generate(ctx, GenerateRequest{ID: id, Algorithm: alg, Purpose: p, Exportable: true}); err != nil {
				t.Fatal(err)
			}
			priv := raw.find(t, id, pkcs11.CKO_PRIVATE_KEY)
			if raw.boolAttr(t, priv, pkcs11.CKA_MODIFIABLE) {
				t.Errorf("%s: private key CKA_MODIFIABLE = true", id)
			}
		}
	}
	for id, class := range map[string]uint{kekID(1): pkcs11.CKO_SECRET_KEY, wrapKeyID: pkcs11.CKO_SECRET_KEY, AuditKeyID: pkcs11.CKO_PRIVATE_KEY} {
		if raw.boolAttr(t, raw.find(t, id, class), pkcs11.CKA_MODIFIABLE) {
			t.Errorf("service key %s: CKA_MODIFIABLE = true", id)
		}
	}
	pubT, privT, mech, err := keyTemplates("x", "x", ECP256, PurposeKMS, true)
	if err != nil {
		t.Fatal(err)
	}
	_, sessPriv, err := raw.ctx.GenerateKeyPair(raw.sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(mech, nil)}, sessionTemplate(pubT), sessionTemplate(privT))
	if err != nil {
		t.Fatal(err)
	}
	if raw.boolAttr(t, sessPriv, pkcs11.CKA_TOKEN) || raw.boolAttr(t, sessPriv, pkcs11.CKA_MODIFIABLE) {
		t.Error("end-entity session key: want CKA_TOKEN and CKA_MODIFIABLE false")
	}
	priv := raw.find(t, "kms-EC_P256", pkcs11.CKO_PRIVATE_KEY)
	err = raw.ctx.SetAttributeValue(raw.sh, priv, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_LABEL, "renamed")})
	if !isCKR(err, pkcs11.CKR_ATTRIBUTE_READ_ONLY, pkcs11.CKR_ACTION_PROHIBITED) {
		t.Fatalf("C_SetAttributeValue on a private key: got %v, want the token to refuse", err)
	}
}

// custodyJSONFields is the KeyCustody JSON contract.
var custodyJSONFields = []string{"AllowedMechanisms", "Algorithm", "AlwaysSensitive", "Class", "CreatedAt", "Exportable", "Extractable",
	"KeyId", "Label", "Local", "Modifiable", "NeverExtractable", "Objects", "Pkcs11Uri", "ProtectionLevel", "Sensitive", "Token"}

// TestCustodyReport reads the custody proof of token and sealed keys and
// checks it against what the keys were created as, and its JSON names.
func TestCustodyReport(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	start := time.Now().UTC().Truncate(time.Second)
	tests := []struct {
		req  GenerateRequest
		want KeyCustody
	}{
		{GenerateRequest{ID: "kms-ec-locked", Algorithm: ECP256, Purpose: PurposeKMS, Exportable: false}, KeyCustody{
			Algorithm: ECP256, Class: ClassToken, ProtectionLevel: ProtectionHSM, Objects: []string{"CKO_PRIVATE_KEY", "CKO_PUBLIC_KEY"},
			Token: true, Sensitive: true, AlwaysSensitive: true, NeverExtractable: true, Local: true, AllowedMechanisms: []string{"CKM_ECDSA"}}},
		{GenerateRequest{ID: "kms-rsa-exportable", Algorithm: RSA2048, Purpose: PurposeKMS, Exportable: true}, KeyCustody{
			Algorithm: RSA2048, Class: ClassToken, ProtectionLevel: ProtectionHSM, Objects: []string{"CKO_PRIVATE_KEY", "CKO_PUBLIC_KEY"},
			Token: true, Sensitive: true, AlwaysSensitive: true, Extractable: true, Exportable: true, Local: true,
			AllowedMechanisms: []string{"CKM_RSA_PKCS", "CKM_RSA_PKCS_OAEP", "CKM_RSA_PKCS_PSS", "CKM_RSA_X_509"}}},
		{GenerateRequest{ID: "ca-rsa", Algorithm: RSA2048, Purpose: PurposeCA}, KeyCustody{
			Algorithm: RSA2048, Class: ClassToken, ProtectionLevel: ProtectionHSM, Objects: []string{"CKO_PRIVATE_KEY", "CKO_PUBLIC_KEY"},
			Token: true, Sensitive: true, AlwaysSensitive: true, NeverExtractable: true, Local: true,
			AllowedMechanisms: []string{"CKM_RSA_PKCS", "CKM_RSA_PKCS_PSS"}}},
		// Software SM2: nothing of the KEK is the key's; the data object
		// holding the sealed scalar is a non-modifiable token object.
		{GenerateRequest{ID: "kms-sm2", Algorithm: SM2, Purpose: PurposeKMS, Exportable: true}, KeyCustody{
			Algorithm: SM2, Class: ClassSealed, ProtectionLevel: ProtectionSoftware, Objects: []string{"CKO_DATA"},
			Token: true, Exportable: true, SealedUnder: kekID(1), AllowedMechanisms: []string{}}},
	}
	for _, tc := range tests {
		t.Run(tc.req.ID, func(t *testing.T) {
			if _, err := s.Generate(ctx, tc.req); err != nil {
				t.Fatal(err)
			}
			got, err := s.Custody(ctx, tc.req.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.CreatedAt == nil || got.CreatedAt.Before(start) || got.CreatedAt.After(time.Now()) {
				t.Errorf("CreatedAt %v, want the creation time", got.CreatedAt)
			}
			if !strings.Contains(got.URI, "object="+tc.req.ID) || !strings.HasPrefix(got.URI, "pkcs11:token=") {
				t.Errorf("URI %q", got.URI)
			}
			want := tc.want
			want.KeyID, want.Label, want.URI, want.CreatedAt = tc.req.ID, got.Label, got.URI, got.CreatedAt
			if !reflect.DeepEqual(*got, want) {
				t.Errorf("custody\n got %+v\nwant %+v", *got, want)
			}
			b, _ := json.Marshal(got)
			var m map[string]any
			json.Unmarshal(b, &m)
			fields := make([]string, 0, len(m))
			for k := range m {
				fields = append(fields, k)
			}
			sort.Strings(fields)
			wantFields := append([]string{}, custodyJSONFields...)
			if got.Class == ClassSealed {
				wantFields = append(wantFields, "SealedUnder")
			}
			sort.Strings(wantFields)
			if !reflect.DeepEqual(fields, wantFields) {
				t.Errorf("JSON fields %v, want %v", fields, wantFields)
			}
		})
	}
}

// TestListKeys: one entry per key ID of ours, with the attributes the token
// holds; objects of other applications on the token are left out; a key
// from before creation times were recorded (label == ID) has no CreatedAt.
func TestListKeys(t *testing.T) {
	s, tok := newStore(t)
	raw := openRaw(t, tok)
	ctx := context.Background()
	for _, req := range []GenerateRequest{
		{ID: "kms-a", Algorithm: ECP256, Purpose: PurposeKMS},
		{ID: "ca-b", Algorithm: ECP384, Purpose: PurposeCA},
		{ID: "kms-sm2", Algorithm: SM2, Purpose: PurposeKMS},
	} {
		if _, err := s.Generate(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	// A legacy key (label == ID), a foreign key (binary CKA_ID) and a
	// foreign data object, created behind the keystore's back.
	for _, k := range []struct{ id, label string }{{"kms-legacy", "kms-legacy"}, {"\x01\x02", "foreign"}} {
		pubT, privT, mech, _ := keyTemplates(k.id, k.label, ECP256, PurposeKMS, false)
		if _, _, err := raw.ctx.GenerateKeyPair(raw.sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(mech, nil)}, pubT, privT); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := raw.ctx.CreateObject(raw.sh, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_DATA), pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_APPLICATION, "someone-else"), pkcs11.NewAttribute(pkcs11.CKA_LABEL, "kms-x"),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE, []byte("not ours"))}); err != nil {
		t.Fatal(err)
	}
	keys, err := s.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	byID := map[string]KeyCustody{}
	for _, k := range keys {
		ids = append(ids, k.KeyID)
		byID[k.KeyID] = k
	}
	want := []string{"ca-b", AuditKeyID, kekID(1), wrapKeyID, "kms-a", "kms-legacy", "kms-sm2"}
	sort.Strings(want)
	if !reflect.DeepEqual(ids, want) {
		t.Fatalf("ListKeys IDs %v, want %v", ids, want)
	}
	for _, id := range []string{"ca-b", "kms-a", "kms-legacy"} {
		k := byID[id]
		priv := raw.find(t, id, pkcs11.CKO_PRIVATE_KEY)
		for attr, got := range map[uint]bool{pkcs11.CKA_SENSITIVE: k.Sensitive, pkcs11.CKA_EXTRACTABLE: k.Extractable, pkcs11.CKA_ALWAYS_SENSITIVE: k.AlwaysSensitive,
			pkcs11.CKA_NEVER_EXTRACTABLE: k.NeverExtractable, pkcs11.CKA_LOCAL: k.Local, pkcs11.CKA_MODIFIABLE: k.Modifiable} {
			if want := raw.boolAttr(t, priv, attr); got != want {
				t.Errorf("%s: attribute 0x%x listed %v, token says %v", id, attr, got, want)
			}
		}
		if k.Label != string(raw.attr(t, priv, pkcs11.CKA_LABEL)) {
			t.Errorf("%s: label %q", id, k.Label)
		}
	}
	if byID["kms-legacy"].CreatedAt != nil {
		t.Errorf("legacy key has a creation time: %v", byID["kms-legacy"].CreatedAt)
	}
	for _, id := range []string{"kms-a", "ca-b", "kms-sm2", AuditKeyID, kekID(1)} {
		if byID[id].CreatedAt == nil {
			t.Errorf("%s: no creation time", id)
		}
	}
	if k := byID[kekID(1)]; k.Algorithm != "AES_256" || !reflect.DeepEqual(k.Objects, []string{"CKO_SECRET_KEY"}) || !reflect.DeepEqual(k.AllowedMechanisms, []string{"CKM_AES_GCM"}) {
		t.Errorf("KEK listed as %+v", k)
	}
	if k := byID["kms-sm2"]; k.Class != ClassSealed || k.Sensitive || k.NeverExtractable {
		t.Errorf("sealed SM2 key listed as %+v", k)
	}
}
