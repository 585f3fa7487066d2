// Package cgopeer is the "just use cgo" peer: a Go call into an empty C
// function, and a C echo that copies a Go buffer into another Go buffer —
// what a user pays per call when the Rust/C code is linked into the Go
// process instead of running behind ffi-bridge.
package cgopeer

/*
#include <stddef.h>
#include <string.h>

static void ffb_bench_empty(void) {}

static void ffb_bench_echo(const void *in, void *out, size_t n)
{
	memcpy(out, in, n);
}
*/
import "C"

import "unsafe"

// Empty makes one cgo call to a C function that does nothing.
func Empty() { C.ffb_bench_empty() }

// Echo copies in into out (len(out) >= len(in)) through one cgo call and
// returns out[:len(in)]. Both slices hold no Go pointers, as cgo requires.
func Echo(in, out []byte) []byte {
	if len(in) == 0 {
		C.ffb_bench_empty()
		return out[:0]
	}
	C.ffb_bench_echo(unsafe.Pointer(&in[0]), unsafe.Pointer(&out[0]), C.size_t(len(in)))
	return out[:len(in)]
}
