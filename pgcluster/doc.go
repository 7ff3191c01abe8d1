// Package pgcluster starts throwaway PostgreSQL clusters in a directory of
// ours, the way package softhsm makes tokens: initdb into a fresh
// directory, postgres on a Unix socket in it and on 127.0.0.1 at a free
// port, stopped and removed at the end. Tests use it (through
// pgcluster/pgclustertest) to run every database test on a real
// PostgreSQL; nothing here is used by the service itself.
//
// PostgreSQL refuses to run as root, and CI runs as root: the cluster's
// processes then run as the unprivileged user "nobody", and the cluster
// directory is theirs. A missing PostgreSQL is an error carrying
// InstallHint, never a reason to skip.
package pgcluster
