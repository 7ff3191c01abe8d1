package store

import (
	"sync/atomic"
	"time"
)

// GroupStats counts the group committer's work since the store opened, for
// /metrics. Writes/Commits is the mean batch; (RunSeconds + CommitSeconds)
// over elapsed time is how busy the committer is, and a committer near 1
// is what limits a node's write rate.
type GroupStats struct {
	// Commits counts shared transactions, committed or not.
	Commits uint64
	// Writes counts the requests those transactions carried.
	Writes uint64
	// RunSeconds is the time spent from BEGIN to the last write's
	// statements.
	RunSeconds float64
	// CommitSeconds is the time spent in COMMIT: with SQLite's
	// synchronous=FULL mostly the WAL's fsync, on PostgreSQL the round
	// trip and the server's WAL flush.
	CommitSeconds float64
}

type groupCounters struct {
	commits, writes, runNanos, commitNanos atomic.Uint64
}

// record counts one shared transaction of n writes, run from start,
// its COMMIT issued at commitAt (zero if it never got there).
func (g *groupCounters) record(n int, start, commitAt time.Time) {
	end := time.Now()
	g.commits.Add(1)
	g.writes.Add(uint64(n))
	if commitAt.IsZero() {
		commitAt = end
	}
	g.runNanos.Add(uint64(commitAt.Sub(start)))
	g.commitNanos.Add(uint64(end.Sub(commitAt)))
}

// GroupStats returns the group committer's counters.
func (s *DB) GroupStats() GroupStats {
	g := &s.group.stats
	return GroupStats{Commits: g.commits.Load(), Writes: g.writes.Load(),
		RunSeconds:    time.Duration(g.runNanos.Load()).Seconds(),
		CommitSeconds: time.Duration(g.commitNanos.Load()).Seconds()}
}
