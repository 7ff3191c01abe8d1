package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/certcustody/certcustody/certmgr"
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
		// Pool sizes the token key pools CreateCertificate claims keys
		// from, by KMS KeySpec (RSA_2048, EC_P256); absent or 0: off.
		Pool map[string]poolSizes `yaml:"pool"`
	} `yaml:"keystore"`
	KMS struct {
		// KeyCustody chooses where new KMS keys live, per account:
		// token (the default) or wrapped (see certmgr.KMSKeyCustody).
		KeyCustody struct {
			Default  string            `yaml:"default"`
			Accounts map[string]string `yaml:"accounts"` // account ID → class
			// UnwrappedCache bounds the wrapped keys kept unwrapped in
			// the token between uses; absent or 0: 256.
			UnwrappedCache int `yaml:"unwrapped_cache"`
		} `yaml:"key_custody"`
	} `yaml:"kms"`
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
	TLS tlsConfig `yaml:"tls"`
	// TrustedProxies are the CIDRs whose X-Forwarded-For and
	// X-Forwarded-Proto are believed (see server.Peer).
	TrustedProxies []string `yaml:"trusted_proxies"`

	// Set by loading, not by YAML.
	source  string   // the file read, or "" for none
	fromEnv []string // environment variables that set a value
}

// poolSizes are the two pools of one KeySpec: CKA_EXTRACTABLE is fixed
// when a key is generated, so exportable and non-exportable keys are
// pooled apart.
type poolSizes struct {
	Exportable    int `yaml:"exportable"`
	NonExportable int `yaml:"non_exportable"`
}

// keyPool is keystore.pool as certmgr takes it (KeySpecs upper-cased,
// validated by validateConfig).
func (c *config) keyPool() map[certmgr.PoolSpec]int {
	out := map[certmgr.PoolSpec]int{}
	for spec, n := range c.Keystore.Pool {
		spec = strings.ToUpper(spec)
		if n.Exportable > 0 {
			out[certmgr.PoolSpec{KeySpec: spec, Exportable: true}] = n.Exportable
		}
		if n.NonExportable > 0 {
			out[certmgr.PoolSpec{KeySpec: spec, Exportable: false}] = n.NonExportable
		}
	}
	return out
}

// kmsKeyCustody is kms.key_custody as certmgr takes it.
func (c *config) kmsKeyCustody() certmgr.KMSKeyCustody {
	return certmgr.KMSKeyCustody{Default: c.KMS.KeyCustody.Default, Accounts: c.KMS.KeyCustody.Accounts}
}

// tlsConfig is the tls: section. TLS is on when key_file or key: token is
// set.
type tlsConfig struct {
	// CertFile is the PEM chain, leaf first. With key: token it defaults
	// to <data-dir>/tls-chain.pem, which `tls install` and `tls issue`
	// write.
	CertFile string `yaml:"cert_file"`
	// KeyFile is an operator-provided PEM private key (not with key: token).
	KeyFile string `yaml:"key_file"`
	// Key "token": the TLS key is generated in the PKCS#11 token
	// (keystore.TLSKeyID) and used only through crypto.Signer.
	Key string `yaml:"key"`
	// KeyAlgorithm of a token TLS key: EC_P256 (default), EC_P384,
	// RSA_2048, RSA_3072, RSA_4096.
	KeyAlgorithm string `yaml:"key_algorithm"`
	// Names are the certificate's DNS names and IPs for `tls csr` and
	// `tls issue`; default: the listen host and the public URL's host.
	Names []string `yaml:"names"`
	// ClientCAFile is a PEM bundle of CAs whose client certificates are
	// verified; ClientAuth is require or verify_if_given (the default
	// when a client CA file is set).
	ClientCAFile string `yaml:"client_ca_file"`
	ClientAuth   string `yaml:"client_auth"`
	// AllowPlaintext lets a non-loopback listener run without TLS (a TLS
	// proxy in front); serve warns at every start and /readyz says so.
	AllowPlaintext bool `yaml:"allow_plaintext"`
}

// enabled reports whether the listener speaks TLS.
func (t *tlsConfig) enabled() bool { return t.KeyFile != "" || t.Key == tlsKeyToken }

const (
	tlsKeyToken       = "token"
	tlsChainFileName  = "tls-chain.pem"
	defaultListenAddr = "127.0.0.1:8080"
)

// loadConfig reads --config, else <data-dir>/config.yaml if present,
// applies the environment and the --listen override, and validates the
// result (validateConfig, the same checks `config check` prints). Unknown
// keys are errors: a typo in a custody setting must not silently fall
// back to a default.
func loadConfig(g *globalFlags) (*config, error) {
	c, problems, err := readConfig(g)
	if err != nil {
		return nil, err
	}
	if len(problems) > 0 {
		return nil, problems.err(c.source)
	}
	return c, nil
}

// readConfig loads and validates, returning the problems found instead
// of failing on the first; err is for a file that cannot be read at all.
func readConfig(g *globalFlags) (*config, problemList, error) {
	c := &config{}
	path := g.configFile
	if path == "" {
		path = filepath.Join(g.dataDir, "config.yaml")
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			path = ""
		}
	}
	var problems problemList
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, nil, fmt.Errorf("config: %w", err)
		}
		c.source = path
		problems = decodeConfig(b, c)
	}
	applyEnv(c)
	if g.listen != "" {
		c.Listen = g.listen
	}
	if c.Listen == "" {
		c.Listen = defaultListenAddr
	}
	if c.Region == "" {
		c.Region = "cn-hangzhou"
	}
	if c.PublicURL == "" {
		scheme := "http://"
		if c.TLS.enabled() {
			scheme = "https://"
		}
		c.PublicURL = scheme + c.Listen
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	if c.TLS.Key == tlsKeyToken && c.TLS.CertFile == "" {
		c.TLS.CertFile = filepath.Join(g.dataDir, tlsChainFileName)
	}
	if c.TLS.Key == tlsKeyToken && c.TLS.KeyAlgorithm == "" {
		c.TLS.KeyAlgorithm = "EC_P256"
	}
	if c.TLS.ClientCAFile != "" && c.TLS.ClientAuth == "" {
		c.TLS.ClientAuth = clientAuthIfGiven
	}
	if len(problems) == 0 { // values are checked once the keys are right
		problems = validateConfig(c)
	}
	return c, problems, nil
}

func applyEnv(c *config) {
	set := func(dst *string, env string) {
		if v := os.Getenv(env); v != "" {
			*dst = v
			c.fromEnv = append(c.fromEnv, env)
		}
	}
	set(&c.PKCS11.Module, "CERTCUSTODY_PKCS11_MODULE")
	set(&c.PKCS11.TokenLabel, "CERTCUSTODY_PKCS11_TOKEN_LABEL")
	set(&c.PKCS11.PIN, "CERTCUSTODY_PKCS11_PIN")
	set(&c.PKCS11.PINFile, "CERTCUSTODY_PKCS11_PIN_FILE")
	set(&c.Database.URL, "CERTCUSTODY_DATABASE_URL")
	set(&c.PublicURL, "CERTCUSTODY_PUBLIC_URL")
}
