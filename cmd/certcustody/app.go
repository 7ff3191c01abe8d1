package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/certcustody/certcustody/certmgr"
	"github.com/certcustody/certcustody/certmgr/store"
	"github.com/certcustody/certcustody/keystore"
)

// app is the opened token, database and manager that several subcommands share.
type app struct {
	cfg   *config
	keys  *keystore.Store
	db    *store.DB
	mgr   *certmgr.Manager
	mode  custodyMode
	flags *globalFlags
	// unlockFirstStart ends the first-start section; serve calls it once
	// the bootstrap account exists, the others at Close.
	unlockFirstStart func()
}

const (
	dbFileName        = "certcustody.db"
	bootstrapFileName = "bootstrap-credentials.json"
)

func openApp(ctx context.Context, g *globalFlags) (*app, error) {
	c, err := loadConfig(g)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(g.dataDir, 0o700); err != nil {
		return nil, err
	}
	url := c.Database.URL
	if url == "" {
		url = filepath.Join(g.dataDir, dbFileName)
	}
	var opts []store.Option
	if store.IsPostgresURL(url) {
		opts = append(opts, store.WithAuditChain(nodeChain(g.dataDir)))
	}
	db, err := store.OpenURL(ctx, url, opts...)
	if err != nil {
		return nil, err
	}
	// Nodes starting together on an empty database and token take turns:
	// the first creates the token's service keys (and, in ensureBootstrap,
	// the first account), the others find them.
	unlock, err := db.LockFirstStart(ctx)
	if err != nil {
		db.Close()
		return nil, err
	}
	keys, mode, err := openKeystore(ctx, g, c)
	if err != nil {
		unlock()
		db.Close()
		return nil, err
	}
	mgr := certmgr.New(keys, db, certmgr.Config{Region: c.Region, PublicURL: c.PublicURL, MaxTokenKeysPerAccount: c.Keystore.MaxTokenKeysPerAccount,
		KeyPool: c.keyPool(), KMSKeyCustody: c.kmsKeyCustody()})
	return &app{cfg: c, keys: keys, db: db, mgr: mgr, mode: mode, flags: g, unlockFirstStart: unlock}, nil
}

func (a *app) Close() {
	a.firstStartDone()
	a.db.Close()
	a.keys.Close()
}

// firstStartDone releases the first-start lock (once).
func (a *app) firstStartDone() {
	if a.unlockFirstStart != nil {
		a.unlockFirstStart()
		a.unlockFirstStart = nil
	}
}

// ensureBootstrap creates the first account's root AccessKey on first start,
// writes it to bootstrap-credentials.json (0600) and returns it so the
// caller can print it once. It returns nil when the file already exists, or
// when the database already has accounts (another node of a cluster made
// the bootstrap account; its data directory holds the credentials).
func (a *app) ensureBootstrap(ctx context.Context) (*certmgr.NewAccessKey, error) {
	defer a.firstStartDone()
	path := filepath.Join(a.flags.dataDir, bootstrapFileName)
	if _, err := os.Stat(path); err == nil {
		return nil, nil
	}
	if has, err := a.db.HasAccounts(ctx); err != nil || has {
		return nil, err
	}
	ak, err := a.mgr.CreateAccessKey(ctx, "default", "")
	if err != nil {
		return nil, err
	}
	b, _ := json.MarshalIndent(ak, "", "  ")
	if err := os.WriteFile(path, append(b, '\n'), 0o600); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return ak, nil
}

// printJSON writes v to stdout as indented JSON (CLI results go to stdout,
// logs to stderr).
func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
