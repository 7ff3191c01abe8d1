package keystore

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/miekg/pkcs11"
)

// TestMechanismNamesCoverSoftHSM: every mechanism the token lists has a
// CKM_ name, and its decoded flags are exactly what `pkcs11-tool -M`
// prints for it (the real tool as oracle).
func TestMechanismNamesCoverSoftHSM(t *testing.T) {
	s, tok := newStore(t)
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out, err := runTool(t, "pkcs11-tool", "--module", tok.Module, "--token-label", tok.Label, "-M")
	if err != nil {
		t.Fatalf("pkcs11-tool -M: %v\n%s", err, out)
	}
	// pkcs11-tool line: "  ECDSA, keySize={112,521}, sign, verify, EC F_P, EC OID, EC uncompressed"
	oracle := map[string][]string{}
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "  ") {
			continue
		}
		parts := strings.Split(strings.TrimSpace(line), ", ")
		flags := []string{}
		for _, p := range parts[1:] {
			if !strings.HasPrefix(p, "keySize=") {
				flags = append(flags, p)
			}
		}
		oracle[parts[0]] = flags
	}
	// pkcs11-tool's names for the few mechanisms it spells differently.
	toolName := map[string]string{"CKM_EC_KEY_PAIR_GEN": "ECDSA-KEY-PAIR-GEN", "CKM_AES_KEY_WRAP_PAD": "mechtype-0x210A"}
	if len(info.Mechanisms) < 60 {
		t.Fatalf("token lists only %d mechanisms", len(info.Mechanisms))
	}
	for _, m := range info.Mechanisms {
		if strings.HasPrefix(m.Name, "0x") {
			t.Errorf("mechanism %s has no name", m.Name)
			continue
		}
		name := toolName[m.Name]
		if name == "" {
			name = strings.ReplaceAll(strings.TrimPrefix(m.Name, "CKM_"), "_", "-")
		}
		want, ok := oracle[name]
		if !ok {
			t.Errorf("%s: pkcs11-tool does not list %s", m.Name, name)
			continue
		}
		if !reflect.DeepEqual(m.Flags, want) {
			t.Errorf("%s flags %v, pkcs11-tool prints %v", m.Name, m.Flags, want)
		}
	}
	if got := MechanismName(0x80001234); got != "0x80001234" {
		t.Errorf("unknown code printed as %q, want hex", got)
	}
	if got := MechanismFlagNames(pkcs11.CKF_HW | pkcs11.CKF_SIGN | 0x40000000); !reflect.DeepEqual(got, []string{"hw", "sign", "0x40000000"}) {
		t.Errorf("flags with an unknown bit: %v", got)
	}
}
