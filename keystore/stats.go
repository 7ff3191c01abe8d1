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

	// Finds counts C_FindObjectsInit calls: building the index, finding a
	// key the index lacks, Exists, ListKeys and Info. Signing, decryption,
	// export and generation of a random-ID key with an indexed key make
	// none.
	Finds        uint64
	IndexedKeys  int    // key IDs in the ID → handle index
	IndexBuilds  uint64 // index builds: one at open, one per recovered login loss
	StaleHandles uint64 // indexed handles that no longer named their key

	UnwrappedKeys int    // wrapped-class keys held unwrapped in the cache now
	Unwraps       uint64 // wrapped-class keys unwrapped into session objects
}

// Stats returns a snapshot of the counters.
func (s *Store) Stats() Stats {
	return Stats{
		Operations: s.obs.snapshot(), SessionsInUse: len(s.pool.sem), SessionsMax: cap(s.pool.sem),
		Recoveries: s.recoveries.Load(), ConcurrentKeys: len(s.keygen), KeygenRetries: s.keygenRetries.Load(),
		Finds: s.finds.Load(), IndexedKeys: s.indexedKeys(), IndexBuilds: s.indexBuilds.Load(), StaleHandles: s.staleHandles.Load(),
		UnwrappedKeys: s.unwrapped.len(), Unwraps: s.unwrapped.unwraps.Load(),
	}
}
