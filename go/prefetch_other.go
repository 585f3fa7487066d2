//go:build !amd64

// prefetch_other.go: where no cache hint is wired up, the hints the ring
// uses (see prefetch_amd64.go) are no-ops.

package ffb

import "unsafe"

func prefetchRead(unsafe.Pointer) {}

func prefetchWrite(unsafe.Pointer) {}
