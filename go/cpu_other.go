//go:build !amd64

// cpu_other.go: where no cache hint is wired up, the hints the ring uses
// are no-ops (see cpu_amd64.go).

package ffb

import "unsafe"

func prefetchRead(unsafe.Pointer) {}

func prefetchWrite(unsafe.Pointer) {}
