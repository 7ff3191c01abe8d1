package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/certcustody/certcustody/keystore"
	"github.com/certcustody/certcustody/softhsm"
)

// custodyMode says who can reach the keys. "development": the embedded
// SoftHSM token with its PIN file beside it, so whoever reads the data
// directory holds every key. "token": an operator-configured module and PIN.
type custodyMode string

const (
	custodyDevelopment custodyMode = "development"
	custodyToken       custodyMode = "token"
	embeddedLabel                  = "certcustody"
	pinFileName                    = "token.pin"
)

// openKeystore opens the configured token, or the embedded default: a
// SoftHSM token in <data-dir>/tokens created on first start.
func openKeystore(ctx context.Context, g *globalFlags, c *config) (*keystore.Store, custodyMode, error) {
	embedded := c.PKCS11.Module == "" || (c.PKCS11.TokenLabel == "" && c.PKCS11.PIN == "" && c.PKCS11.PINFile == "" && isSoftHSM(c.PKCS11.Module))
	ks := keystore.Config{Module: c.PKCS11.Module, TokenLabel: c.PKCS11.TokenLabel, MaxSessions: c.PKCS11.MaxSessions,
		UnwrappedKeys: c.KMS.KeyCustody.UnwrappedCache}
	mode := custodyToken
	if embedded {
		if err := os.MkdirAll(g.dataDir, 0o700); err != nil {
			return nil, "", err
		}
		dir, err := softhsm.Open(g.dataDir)
		if err != nil {
			return nil, "", err
		}
		pin, err := embeddedPIN(dir, g.dataDir)
		if err != nil {
			return nil, "", err
		}
		ks.Module, ks.TokenLabel, ks.PIN = dir.Module, embeddedLabel, pin
		ks.AllowSoftwareSM2 = true
		mode = custodyDevelopment
	} else {
		pin, err := configuredPIN(c)
		if err != nil {
			return nil, "", err
		}
		ks.PIN = pin
		if ks.TokenLabel == "" {
			return nil, "", errors.New("pkcs11.token_label (or CERTCUSTODY_PKCS11_TOKEN_LABEL) is required with a configured module")
		}
	}
	if c.Keystore.AllowSoftwareSM2 != nil {
		ks.AllowSoftwareSM2 = *c.Keystore.AllowSoftwareSM2
	}
	store, err := keystore.Open(ctx, ks)
	if err != nil {
		return nil, "", err
	}
	return store, mode, nil
}

func isSoftHSM(module string) bool { return strings.Contains(filepath.Base(module), "softhsm") }

// embeddedPIN returns the PIN of the embedded token, creating the token
// (with a random user PIN in token.pin, 0600, and a random SO PIN that is
// not kept) on first start.
func embeddedPIN(dir *softhsm.Dir, dataDir string) (string, error) {
	pinPath := filepath.Join(dataDir, pinFileName)
	if dir.HasToken(embeddedLabel) {
		b, err := os.ReadFile(pinPath)
		if err != nil {
			return "", fmt.Errorf("embedded token exists but its PIN file is unreadable: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	tok, err := dir.CreateToken(embeddedLabel, "")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(pinPath, []byte(tok.PIN+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", pinPath, err)
	}
	return tok.PIN, nil
}

// configuredPIN takes the PIN from the config, a PIN file, or the
// environment; never from a flag (flags show in ps).
func configuredPIN(c *config) (string, error) {
	if c.PKCS11.PIN != "" {
		return c.PKCS11.PIN, nil
	}
	if c.PKCS11.PINFile != "" {
		b, err := os.ReadFile(c.PKCS11.PINFile)
		if err != nil {
			return "", fmt.Errorf("read PIN file: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	return "", errors.New("no PIN: set pkcs11.pin_file, CERTCUSTODY_PKCS11_PIN_FILE or CERTCUSTODY_PKCS11_PIN")
}

// checkDataDirPrivate refuses a data directory readable by group or others:
// in development custody it holds the PIN next to the token.
func checkDataDirPrivate(dataDir string) error {
	fi, err := os.Stat(dataDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("data directory %s is accessible by group or others (mode %04o); run: chmod 700 %s", dataDir, fi.Mode().Perm(), dataDir)
	}
	return nil
}
