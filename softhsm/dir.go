package softhsm

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/miekg/pkcs11"
)

// ConfEnv is the variable SoftHSM reads (once, at C_Initialize) to find its
// configuration file.
const ConfEnv = "SOFTHSM2_CONF"

// Dir is a SoftHSM token directory opened for this process. It is safe for
// concurrent use.
type Dir struct {
	Path   string // the directory that holds softhsm2.conf and tokens/
	Conf   string // path of our softhsm2.conf
	Module string // path of libsofthsm2.so

	mu  sync.Mutex // serialises token initialisation
	ctx *pkcs11.Ctx
}

// Token is an initialised token, described by what a keystore needs to open it.
type Token struct {
	Module string // PKCS#11 module path
	Label  string // token label (unique in its Dir)
	Slot   uint   // slot ID at creation time; SoftHSM renumbers slots, so open by label
	PIN    string // user PIN; never log it
}

var (
	openMu sync.Mutex
	opened *Dir
)

// Open prepares path as this process's SoftHSM token directory: it creates
// path/tokens, writes path/softhsm2.conf, sets SOFTHSM2_CONF and initialises
// the module. A process can open only one directory, because SoftHSM reads its
// configuration once; opening the same path again returns the same Dir.
func Open(path string) (*Dir, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("softhsm: %w", err)
	}
	openMu.Lock()
	defer openMu.Unlock()
	if opened != nil {
		if opened.Path != abs {
			return nil, fmt.Errorf("softhsm: this process already uses token directory %s; SoftHSM cannot switch to %s", opened.Path, abs)
		}
		return opened, nil
	}
	module, err := FindModule()
	if err != nil {
		return nil, err
	}
	tokens := filepath.Join(abs, "tokens")
	if err := os.MkdirAll(tokens, 0o700); err != nil {
		return nil, fmt.Errorf("softhsm: create token directory: %w", err)
	}
	conf := filepath.Join(abs, "softhsm2.conf")
	body := fmt.Sprintf("# written by certcustody; SoftHSM reads it once per process\ndirectories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n", tokens)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		return nil, fmt.Errorf("softhsm: write %s: %w", conf, err)
	}
	if err := os.Setenv(ConfEnv, conf); err != nil {
		return nil, fmt.Errorf("softhsm: %w", err)
	}
	ctx := pkcs11.New(module)
	if ctx == nil {
		return nil, fmt.Errorf("softhsm: cannot load %s; %s", module, InstallHint)
	}
	if err := ctx.Initialize(); err != nil && !isCode(err, pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		ctx.Destroy()
		return nil, fmt.Errorf("softhsm: C_Initialize: %w", err)
	}
	opened = &Dir{Path: abs, Conf: conf, Module: module, ctx: ctx}
	return opened, nil
}

// CreateToken initialises a new token with the given label on the free slot
// and sets its user PIN. An empty userPIN gets a random one; the SO PIN is
// always random and is not kept (nobody needs it: tokens are re-created, not
// administered). Labels must be unique in the Dir.
func (d *Dir) CreateToken(label, userPIN string) (*Token, error) {
	if label == "" || len(label) > 32 {
		return nil, fmt.Errorf("softhsm: token label must be 1 to 32 bytes")
	}
	if userPIN == "" {
		userPIN = RandomPIN()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, err := d.findSlot(label); err == nil {
		return nil, fmt.Errorf("softhsm: a token labelled %q already exists", label)
	}
	free, err := d.freeSlot()
	if err != nil {
		return nil, err
	}
	soPIN := RandomPIN()
	if err := d.ctx.InitToken(free, soPIN, label); err != nil {
		return nil, fmt.Errorf("softhsm: C_InitToken: %w", err)
	}
	// SoftHSM gives an initialised token a new slot ID derived from its serial.
	slot, err := d.findSlot(label)
	if err != nil {
		return nil, err
	}
	if err := d.initPIN(slot, soPIN, userPIN); err != nil {
		return nil, err
	}
	return &Token{Module: d.Module, Label: label, Slot: slot, PIN: userPIN}, nil
}

func (d *Dir) initPIN(slot uint, soPIN, userPIN string) error {
	sh, err := d.ctx.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		return fmt.Errorf("softhsm: open session: %w", err)
	}
	defer d.ctx.CloseSession(sh)
	if err := d.ctx.Login(sh, pkcs11.CKU_SO, soPIN); err != nil {
		return fmt.Errorf("softhsm: SO login: %w", err)
	}
	defer d.ctx.Logout(sh)
	if err := d.ctx.InitPIN(sh, userPIN); err != nil {
		return fmt.Errorf("softhsm: C_InitPIN: %w", err)
	}
	return nil
}

// HasToken reports whether a token with this label exists in the Dir.
func (d *Dir) HasToken(label string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, err := d.findSlot(label)
	return err == nil
}

// findSlot returns the slot of the initialised token with this label.
func (d *Dir) findSlot(label string) (uint, error) {
	slots, err := d.ctx.GetSlotList(true)
	if err != nil {
		return 0, fmt.Errorf("softhsm: C_GetSlotList: %w", err)
	}
	for _, s := range slots {
		ti, err := d.ctx.GetTokenInfo(s)
		if err != nil {
			continue
		}
		if ti.Flags&pkcs11.CKF_TOKEN_INITIALIZED != 0 && ti.Label == label {
			return s, nil
		}
	}
	return 0, fmt.Errorf("softhsm: no token labelled %q", label)
}

// freeSlot returns the slot SoftHSM keeps for the next token.
func (d *Dir) freeSlot() (uint, error) {
	slots, err := d.ctx.GetSlotList(true)
	if err != nil {
		return 0, fmt.Errorf("softhsm: C_GetSlotList: %w", err)
	}
	for _, s := range slots {
		ti, err := d.ctx.GetTokenInfo(s)
		if err == nil && ti.Flags&pkcs11.CKF_TOKEN_INITIALIZED == 0 {
			return s, nil
		}
	}
	return 0, errors.New("softhsm: no free slot")
}

// RandomPIN returns a fresh 32-hex-digit PIN from the OS random source.
func RandomPIN() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic("softhsm: crypto/rand failed: " + err.Error()) // cannot happen on supported platforms
	}
	return hex.EncodeToString(b)
}

func isCode(err error, code uint) bool {
	var e pkcs11.Error
	return errors.As(err, &e) && uint(e) == code
}
