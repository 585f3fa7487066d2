// cpu_amd64.go declares what the client needs from the CPU that
// sync/atomic does not offer, written in cpu_amd64.s: cache hints (see
// ringLookahead) and release stores (see release.go). A hint reads
// nothing into the program and never faults. Other architectures get
// no-op hints (cpu_other.go).

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

// movStore32 and movStore64 are plain MOV stores, which x86-TSO orders
// after every earlier load and store of the thread: release stores. The
// compiler cannot move a memory access across the call. See release.go.
//
//go:noescape
func movStore32(p *uint32, v uint32)

//go:noescape
func movStore64(p *uint64, v uint64)
