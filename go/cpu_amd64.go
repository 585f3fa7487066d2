// cpu_amd64.go declares what the ring needs from the CPU that sync/atomic
// does not offer, written in cpu_amd64.s: cache hints (see ringLookahead)
// and a release store. A hint reads nothing into the program and never
// faults. Other architectures get no-op hints and a sequentially
// consistent store (cpu_other.go).

package ffb

import "unsafe"

// prefetchRead asks for the cache line at p.
//
//go:noescape
func prefetchRead(p unsafe.Pointer)

// prefetchWrite asks for the cache line at p with intent to write, so a
// later store does not wait for the line's ownership.
//
//go:noescape
func prefetchWrite(p unsafe.Pointer)

// storeRelease32 stores v at p after every earlier store of this
// goroutine (a release store). On amd64 that is a plain MOV: x86-TSO
// keeps stores in order, and the compiler cannot move a store across the
// call. atomic.StoreUint32 would also do, but as XCHG it is a full fence
// that waits for every pending store -- per ring entry, that stalls a
// burst of pushes on the line transfers the stores are waiting for.
//
//go:noescape
func storeRelease32(p *uint32, v uint32)
