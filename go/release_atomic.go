//go:build !amd64 || race

// release_atomic.go: the release stores of release.go as sync/atomic's
// (sequentially consistent, a superset), for the race detector and for
// architectures without the amd64 assembly.

package ffb

import "sync/atomic"

func storeRelease32(p *uint32, v uint32) { atomic.StoreUint32(p, v) }

func storeRelU32(w *atomic.Uint32, v uint32) { w.Store(v) }

func storeRelU64(w *atomic.Uint64, v uint64) { w.Store(v) }
