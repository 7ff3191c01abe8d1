package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/certcustody/certcustody/server"
)

// A node beats every heartbeatEvery and counts as serving for nodeExpiry
// after its last beat: a node killed without leaving still counts for at
// most that long.
const (
	heartbeatEvery = 5 * time.Second
	nodeExpiry     = 3 * heartbeatEvery
)

// heartbeat registers this node's beat and sets the throttle to this
// node's share of the per-user rates among the nodes serving now.
func heartbeat(ctx context.Context, a *app, th *server.Throttle, id string, log *slog.Logger) {
	now := time.Now()
	if err := a.db.Heartbeat(ctx, id, now); err != nil {
		log.Error("cluster: heartbeat failed", "err", err)
		return
	}
	n, err := a.db.LiveNodes(ctx, now.Add(-nodeExpiry))
	if err != nil {
		log.Error("cluster: cannot count nodes", "err", err)
		return
	}
	th.SetShare(n, now)
}

// nodeChain names this node's audit chain: stable across restarts of the
// node (its host and data directory), distinct between nodes, so a node
// goes on appending to its own chain and never waits for another's.
func nodeChain(dataDir string) string {
	host, _ := os.Hostname()
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		abs = dataDir
	}
	sum := sha256.Sum256([]byte(host + "\x00" + abs))
	return "node-" + hex.EncodeToString(sum[:6])
}
