package store

import (
	"context"
	"fmt"
	"time"
)

// Heartbeat records that node id is serving at now (registering it on its
// first beat).
func (s *DB) Heartbeat(ctx context.Context, id string, now time.Time) error {
	return s.Tx(ctx, func(tx *Tx) error {
		_, err := tx.e.ExecContext(ctx, `INSERT INTO nodes (id, started_at, heartbeat_at) VALUES (?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at`, id, ms(now), ms(now))
		if err != nil {
			return fmt.Errorf("store: heartbeat: %w", err)
		}
		return nil
	})
}

// LiveNodes counts the nodes whose last heartbeat is at or after since,
// and forgets the ones long gone.
func (s *DB) LiveNodes(ctx context.Context, since time.Time) (int, error) {
	var n int
	if err := s.e.QueryRowContext(ctx, `SELECT COUNT(*) FROM nodes WHERE heartbeat_at >= ?`, ms(since)).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: live nodes: %w", err)
	}
	return n, nil
}

// LeaveCluster removes a node that is shutting down cleanly, so the
// others take over its share at their next heartbeat.
func (s *DB) LeaveCluster(ctx context.Context, id string) error {
	return s.Tx(ctx, func(tx *Tx) error {
		if _, err := tx.e.ExecContext(ctx, `DELETE FROM nodes WHERE id = ?`, id); err != nil {
			return fmt.Errorf("store: leave cluster: %w", err)
		}
		return nil
	})
}
