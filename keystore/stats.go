package keystore

import "sync/atomic"

// Stats are counters for monitoring: token operations by kind and session
// pool use. Reading them costs no token call.
type Stats struct {
	Operations     map[string]uint64 // by kind: sign, decrypt, seal, open, generate, wrap, destroy
	SessionsInUse  int
	SessionsMax    int
	Recoveries     uint64 // session or login losses recovered from
	ConcurrentKeys int    // key generations running now
}

type opCounters struct {
	sign, decrypt, seal, open, generate, wrap, destroy, recoveries atomic.Uint64
}

// Stats returns a snapshot of the counters.
func (s *Store) Stats() Stats {
	c := &s.ops
	return Stats{
		Operations: map[string]uint64{
			"sign": c.sign.Load(), "decrypt": c.decrypt.Load(), "seal": c.seal.Load(), "open": c.open.Load(),
			"generate": c.generate.Load(), "wrap": c.wrap.Load(), "destroy": c.destroy.Load(),
		},
		SessionsInUse: len(s.pool.sem), SessionsMax: cap(s.pool.sem),
		Recoveries: c.recoveries.Load(), ConcurrentKeys: len(s.keygen),
	}
}
