package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// config is the YAML configuration; every key can also come from the
// environment (see applyEnv). Zero values mean "the embedded default".
type config struct {
	Listen    string `yaml:"listen"`
	Region    string `yaml:"region"`
	PublicURL string `yaml:"public_url"`
	PKCS11    struct {
		Module      string `yaml:"module"`
		TokenLabel  string `yaml:"token_label"`
		PIN         string `yaml:"pin"`
		PINFile     string `yaml:"pin_file"`
		MaxSessions int    `yaml:"max_sessions"`
	} `yaml:"pkcs11"`
	Keystore struct {
		AllowSoftwareSM2 *bool `yaml:"allow_software_sm2"`
		// MaxTokenKeysPerAccount caps each account's token-resident keys
		// (KMS and CA keys); absent: 1000, 0: no limit.
		MaxTokenKeysPerAccount *int `yaml:"max_token_keys_per_account"`
	} `yaml:"keystore"`
	Database struct {
		URL string `yaml:"url"`
	} `yaml:"database"`
	Auth struct {
		AllowV1 *bool `yaml:"allow_v1"`
	} `yaml:"auth"`
	Throttle struct {
		QPS      int            `yaml:"qps"`       // per user and action; default 10
		ByAction map[string]int `yaml:"by_action"` // per-action overrides
	} `yaml:"throttle"`
}

// loadConfig reads --config, else <data-dir>/config.yaml if present, then
// applies the environment. Unknown keys are errors: a typo in a custody
// setting must not silently fall back to a default.
func loadConfig(g *globalFlags) (*config, error) {
	c := &config{}
	path := g.configFile
	if path == "" {
		path = filepath.Join(g.dataDir, "config.yaml")
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			path = ""
		}
	}
	if path != "" {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		defer f.Close()
		dec := yaml.NewDecoder(f)
		dec.KnownFields(true)
		if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
	}
	applyEnv(c)
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8080"
	}
	if c.Region == "" {
		c.Region = "cn-hangzhou"
	}
	if c.PublicURL == "" {
		c.PublicURL = "http://" + c.Listen
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	return c, nil
}

func applyEnv(c *config) {
	set := func(dst *string, env string) {
		if v := os.Getenv(env); v != "" {
			*dst = v
		}
	}
	set(&c.PKCS11.Module, "CERTCUSTODY_PKCS11_MODULE")
	set(&c.PKCS11.TokenLabel, "CERTCUSTODY_PKCS11_TOKEN_LABEL")
	set(&c.PKCS11.PIN, "CERTCUSTODY_PKCS11_PIN")
	set(&c.PKCS11.PINFile, "CERTCUSTODY_PKCS11_PIN_FILE")
	set(&c.Database.URL, "CERTCUSTODY_DATABASE_URL")
	set(&c.PublicURL, "CERTCUSTODY_PUBLIC_URL")
}
