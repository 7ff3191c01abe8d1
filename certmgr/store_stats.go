package certmgr

import "github.com/certcustody/certcustody/certmgr/store"

// StoreStats are the store's group-commit counters (store.GroupStats),
// named here so that server can export them without reaching below
// certmgr.
type StoreStats = store.GroupStats
