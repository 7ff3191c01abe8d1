package keystore

// Stats are counters for monitoring: token operations by kind and session
// pool use. Reading them costs no token call.
type Stats struct {
	Operations     map[UseKind]uint64 // key uses by kind and mechanism
	SessionsInUse  int
	SessionsMax    int
	Recoveries     uint64 // session or login losses recovered from
	ConcurrentKeys int    // key generations running now
	KeygenRetries  uint64 // generations tried again after a token fault
}

// Stats returns a snapshot of the counters.
func (s *Store) Stats() Stats {
	return Stats{
		Operations: s.obs.snapshot(), SessionsInUse: len(s.pool.sem), SessionsMax: cap(s.pool.sem),
		Recoveries: s.recoveries.Load(), ConcurrentKeys: len(s.keygen), KeygenRetries: s.keygenRetries.Load(),
	}
}
