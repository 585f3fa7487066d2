//go:build amd64 && !race

// release.go: release stores for the per-call path. sync/atomic's Store is
// sequentially consistent, on amd64 an XCHG: a full fence that also waits
// for every store still in the store buffer -- on the call path, for the
// ring lines in transit to the server's core. Where a word only needs
// release order (readers load it atomically; nothing loaded after the
// store must be ordered before it), a plain MOV gives exactly that on
// x86-TSO. Race-detector builds and other architectures use sync/atomic
// (release_atomic.go), so the detector still sees every synchronising
// store.

package ffb

import (
	"sync/atomic"
	"unsafe"
)

// storeRelease32 stores v at p after every earlier load and store.
func storeRelease32(p *uint32, v uint32) { movStore32(p, v) }

// storeRelU32 and storeRelU64 are release stores into sync/atomic words,
// whose value is their only non-empty field (checked by TestReleaseStores).
func storeRelU32(w *atomic.Uint32, v uint32) { movStore32((*uint32)(unsafe.Pointer(w)), v) }

func storeRelU64(w *atomic.Uint64, v uint64) { movStore64((*uint64)(unsafe.Pointer(w)), v) }
