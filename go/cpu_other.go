//go:build !amd64

// cpu_other.go: where no cache hint is wired up, the hints the ring uses
// are no-ops, and the release store is sync/atomic's (see cpu_amd64.go).

package ffb

import (
	"sync/atomic"
	"unsafe"
)

func prefetchRead(unsafe.Pointer) {}

func prefetchWrite(unsafe.Pointer) {}

func storeRelease32(p *uint32, v uint32) { atomic.StoreUint32(p, v) }
