package keystore

import (
	"context"
	"fmt"
)

// Ping checks that the token answers and the login holds, in O(1): one
// C_GetSessionInfo on the persistent session, never a pooled session or an
// object walk, so readiness probes cannot starve signing. A lost session
// or login is recovered as for any operation (re-open, re-login, rebuild
// the index).
func (s *Store) Ping(ctx context.Context) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("keystore: ping: %w", err)
	}
	recovered, err := s.pool.ping()
	if recovered {
		s.recoveries.Add(1)
		s.afterRecovery(ctx, true, true)
	}
	return err
}
