// prefetch_amd64.go declares the cache hints the ring uses (see
// ringLookahead), written in prefetch_amd64.s.
// A hint reads nothing into the program and never faults; on other
// architectures they are no-ops (prefetch_other.go).

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
