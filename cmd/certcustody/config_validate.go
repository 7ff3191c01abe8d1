package main

import (
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/certcustody/certcustody/certmgr"
	"github.com/certcustody/certcustody/csrgen"
	"github.com/certcustody/certcustody/keystore"
	"github.com/certcustody/certcustody/server"
)

const (
	clientAuthRequire = "require"
	clientAuthIfGiven = "verify_if_given"
)

// validateConfig checks values that the keys alone do not: every
// subcommand runs it (through loadConfig), `config check` prints it, so
// serve and the check cannot disagree. It reads no file and opens
// neither the token nor the database.
func validateConfig(c *config) problemList {
	var p problemList
	add := func(path, msg string) { p = append(p, problem{path: path, msg: msg}) }

	host, port, err := net.SplitHostPort(c.Listen)
	if err != nil || port == "" {
		add("listen", "want host:port (e.g. 127.0.0.1:8080)")
	}
	if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		add("public_url", "want an http:// or https:// URL")
	}

	// The embedded token has its own PIN beside it: a PIN given for it
	// would be silently ignored, so it is refused.
	if c.PKCS11.Module == "" {
		for _, env := range c.fromEnv {
			if env == "CERTCUSTODY_PKCS11_PIN" || env == "CERTCUSTODY_PKCS11_PIN_FILE" {
				add(env, "set in the environment, but no PKCS#11 module is configured: the embedded token uses its own PIN file; unset "+env+" or set pkcs11.module (CERTCUSTODY_PKCS11_MODULE)")
			}
		}
		if !slices.Contains(c.fromEnv, "CERTCUSTODY_PKCS11_PIN") && c.PKCS11.PIN != "" {
			add("pkcs11.pin", "set without pkcs11.module: the embedded token uses its own PIN file")
		}
		if !slices.Contains(c.fromEnv, "CERTCUSTODY_PKCS11_PIN_FILE") && c.PKCS11.PINFile != "" {
			add("pkcs11.pin_file", "set without pkcs11.module: the embedded token uses its own PIN file")
		}
	}
	if c.PKCS11.MaxSessions < 0 {
		add("pkcs11.max_sessions", "must not be negative")
	}
	if c.Database.URL != "" {
		if u, err := url.Parse(c.Database.URL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			add("database.url", "want a postgres:// or postgresql:// URL (empty: SQLite in the data directory)")
		}
	}
	for _, spec := range sortedKeys(c.Keystore.Pool) {
		path := "keystore.pool." + spec
		switch up := strings.ToUpper(spec); {
		case up == "EC_SM2":
			add(path, "EC_SM2 is not pooled: its keys are made in process and sealed under the KEK in milliseconds")
			continue
		case !slices.Contains(certmgr.PoolKeySpecs, up):
			add(path, "not a pooled KeySpec; want one of "+strings.Join(certmgr.PoolKeySpecs, ", "))
			continue
		}
		for _, n := range []struct {
			key  string
			size int
		}{{"exportable", c.Keystore.Pool[spec].Exportable}, {"non_exportable", c.Keystore.Pool[spec].NonExportable}} {
			if n.size < 0 || n.size > certmgr.MaxPoolSize {
				add(path+"."+n.key, "want 0 (off) to "+strconv.Itoa(certmgr.MaxPoolSize)+" keys")
			}
		}
	}
	if dup := duplicateFold(c.Keystore.Pool); dup != "" {
		add("keystore.pool."+dup, "named twice (KeySpecs are matched case-insensitively)")
	}
	if err := c.kmsKeyCustody().Check(); err != nil {
		add("kms.key_custody", strings.TrimPrefix(err.Error(), "kms key custody: ")+" (token keeps keys in the token; wrapped keeps them wrapped in the database)")
	}
	if n := c.KMS.KeyCustody.UnwrappedCache; n < 0 || n > 100000 {
		add("kms.key_custody.unwrapped_cache", "want 0 (the default, 256) to 100000 keys")
	}
	if c.Throttle.QPS < 0 {
		add("throttle.qps", "must not be negative")
	}
	for action, qps := range c.Throttle.ByAction {
		if qps < 0 {
			add("throttle.by_action."+action, "must not be negative")
		}
	}
	if _, err := server.ParseTrustedProxies(c.TrustedProxies); err != nil {
		add("trusted_proxies", err.Error())
	}

	t := &c.TLS
	switch t.Key {
	case "", tlsKeyToken:
	default:
		add("tls.key", `want "token" (the key is generated in the PKCS#11 token) or nothing (use key_file)`)
	}
	if t.Key == tlsKeyToken && t.KeyFile != "" {
		add("tls.key_file", "set together with tls.key: token; choose one")
	}
	if t.CertFile != "" && !t.enabled() {
		add("tls.cert_file", "set without tls.key_file or tls.key: token")
	}
	if t.KeyFile != "" && t.CertFile == "" {
		add("tls.cert_file", "required with tls.key_file")
	}
	if t.KeyAlgorithm != "" {
		alg, err := keystore.ParseAlgorithm(t.KeyAlgorithm)
		switch {
		case t.Key != tlsKeyToken:
			add("tls.key_algorithm", "only with tls.key: token")
		case err != nil || !slices.Contains(keystore.TLSAlgorithms, alg):
			add("tls.key_algorithm", "want one of "+algorithmList(keystore.TLSAlgorithms))
		}
	}
	for i, n := range t.Names {
		if net.ParseIP(n) == nil && csrgen.ValidateDNSName(n) != nil {
			add("tls.names["+strconv.Itoa(i)+"]", "not a DNS name or an IP address")
		}
	}
	switch t.ClientAuth {
	case "":
	case clientAuthRequire, clientAuthIfGiven:
		if t.ClientCAFile == "" {
			add("tls.client_ca_file", "required with tls.client_auth")
		}
	default:
		add("tls.client_auth", "want require or verify_if_given")
	}
	if (t.ClientCAFile != "" || t.ClientAuth != "") && !t.enabled() {
		add("tls.client_ca_file", "client certificates need TLS (tls.key_file or tls.key: token)")
	}
	if !t.enabled() && !t.AllowPlaintext && err == nil && !isLoopbackHost(host) {
		add("listen", c.Listen+" is not a loopback address and TLS is off: configure tls.key: token (or tls.cert_file/tls.key_file), or set tls.allow_plaintext: true behind a TLS proxy")
	}
	return p
}

// transportOf names the listener's transport (server.Transport*).
func transportOf(c *config) string {
	host, _, _ := net.SplitHostPort(c.Listen)
	switch {
	case c.TLS.enabled():
		return server.TransportHTTPS
	case isLoopbackHost(host):
		return server.TransportLoopback
	}
	return server.TransportPlaintext
}

// isLoopbackHost: only an address that cannot be reached from another
// machine counts; an empty host (all interfaces) or any other name does
// not.
func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

// sortedKeys returns a map's keys in order, so problems come out in the
// same order every time.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// duplicateFold returns a key that another key of m equals but for case.
func duplicateFold[V any](m map[string]V) string {
	seen := map[string]bool{}
	for _, k := range sortedKeys(m) {
		if seen[strings.ToUpper(k)] {
			return k
		}
		seen[strings.ToUpper(k)] = true
	}
	return ""
}

func algorithmList(algs []keystore.Algorithm) string {
	s := make([]string, len(algs))
	for i, a := range algs {
		s[i] = string(a)
	}
	return strings.Join(s, ", ")
}
