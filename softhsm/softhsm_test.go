package softhsm

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/miekg/pkcs11"
)

var testDir *Dir

// TestMain opens one token directory for the package (softhsmtest cannot
// be used here: it imports this package).
func TestMain(m *testing.M) {
	path, err := os.MkdirTemp("", "certcustody-softhsm-test-")
	if err != nil {
		panic(err)
	}
	d, err := Open(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%v\n%s\n", err, InstallHint)
		os.RemoveAll(path)
		os.Exit(1)
	}
	testDir = d
	code := m.Run()
	os.RemoveAll(path)
	os.Exit(code)
}

var labelSeq atomic.Uint64

func newToken(t *testing.T) *Token {
	t.Helper()
	tok, err := testDir.CreateToken(fmt.Sprintf("t%d", labelSeq.Add(1)), "")
	if err != nil {
		t.Fatalf("%v (%s)", err, InstallHint)
	}
	return tok
}

func TestCreateTokenLoginWithPIN(t *testing.T) {
	tok := newToken(t)
	ctx := pkcs11.New(tok.Module)
	if err := ctx.Initialize(); err != nil && !isCode(err, pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		t.Fatal(err)
	}
	sh, err := ctx.OpenSession(tok.Slot, pkcs11.CKF_SERIAL_SESSION)
	if err != nil {
		t.Fatal(err)
	}
	defer ctx.CloseSession(sh)
	if err := ctx.Login(sh, pkcs11.CKU_USER, "wrong"); !isCode(err, pkcs11.CKR_PIN_INCORRECT) {
		t.Fatalf("login with wrong PIN: got %v, want CKR_PIN_INCORRECT", err)
	}
	if err := ctx.Login(sh, pkcs11.CKU_USER, tok.PIN); err != nil {
		t.Fatalf("login with the token's PIN: %v", err)
	}
	ti, err := ctx.GetTokenInfo(tok.Slot)
	if err != nil {
		t.Fatal(err)
	}
	if ti.Label != tok.Label {
		t.Fatalf("token label %q, want %q", ti.Label, tok.Label)
	}
}

func TestCreateTokenRejectsDuplicateLabel(t *testing.T) {
	tok := newToken(t)
	if _, err := testDir.CreateToken(tok.Label, ""); err == nil {
		t.Fatal("second token with the same label was created")
	}
	if !testDir.HasToken(tok.Label) {
		t.Fatal("HasToken does not see the token")
	}
}

func TestConcurrentTokenCreationGivesDistinctSlots(t *testing.T) {
	const n = 6
	var wg sync.WaitGroup
	toks := make([]*Token, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			toks[i], errs[i] = testDir.CreateToken("parallel-"+string(rune('a'+i)), "")
		}()
	}
	wg.Wait()
	seen := map[uint]bool{}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("token %d: %v", i, errs[i])
		}
		if seen[toks[i].Slot] {
			t.Fatalf("slot %d handed out twice", toks[i].Slot)
		}
		seen[toks[i].Slot] = true
	}
}

func TestOpenRefusesSecondDirectory(t *testing.T) {
	if _, err := Open(t.TempDir()); err == nil {
		t.Fatal("a second token directory was opened in one process")
	}
	d, err := Open(testDir.Path)
	if err != nil || d != testDir {
		t.Fatalf("reopening the same directory: %v", err)
	}
}

func TestFindModuleHonoursEnv(t *testing.T) {
	t.Setenv(ModuleEnv, "/nonexistent/libsofthsm2.so")
	if _, err := FindModule(); err == nil {
		t.Fatal("a missing module path was accepted")
	}
}
