package main

import (
	"context"
	"log/slog"
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
