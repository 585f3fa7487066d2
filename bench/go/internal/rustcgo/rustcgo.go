// Package rustcgo is the "cgo into a Rust library" peer: the work
// functions of bench/rust/work linked into the Go process as the
// staticlib bench/build/libffbwork.a (make -C bench rust), called through
// cgo with pointers to Go memory — no copy in, and the output written
// straight into a Go slice. The go-plugin process links it too.
package rustcgo

/*
#cgo LDFLAGS: ${SRCDIR}/../../../build/libffbwork.a -lm -ldl -lpthread
#include <stddef.h>
#include <stdint.h>

void ffb_work_empty(void);
uint64_t ffb_work_checksum(const uint8_t *p, size_t n);
void ffb_work_transform(const uint8_t *src, uint8_t *dst, size_t n);
void ffb_work_echo(const uint8_t *src, uint8_t *dst, size_t n);
uint64_t ffb_work_spin(uint64_t iters, uint64_t seed);
int32_t ffb_work_quote_json(const uint8_t *src, size_t n, uint8_t *dst, size_t cap, size_t *out_len);
*/
import "C"

import (
	"fmt"
	"unsafe"
)

func ptr(b []byte) *C.uint8_t {
	if len(b) == 0 {
		return nil
	}
	return (*C.uint8_t)(unsafe.Pointer(&b[0]))
}

// Empty calls a Rust function that does nothing.
func Empty() { C.ffb_work_empty() }

// Checksum is ffb_bench_work::checksum(b).
func Checksum(b []byte) uint64 { return uint64(C.ffb_work_checksum(ptr(b), C.size_t(len(b)))) }

// Transform writes the ASCII uppercase of in into out[:len(in)].
func Transform(in, out []byte) {
	C.ffb_work_transform(ptr(in), ptr(out[:len(in)]), C.size_t(len(in)))
}

// Echo copies in into out[:len(in)] inside Rust.
func Echo(in, out []byte) { C.ffb_work_echo(ptr(in), ptr(out[:len(in)]), C.size_t(len(in))) }

// Spin is ffb_bench_work::spin_work(iters, seed).
func Spin(iters, seed uint64) uint64 {
	return uint64(C.ffb_work_spin(C.uint64_t(iters), C.uint64_t(seed)))
}

// QuoteJSON runs the JSON quote on in, writing the answer into out's
// capacity; returns out[:n] or an error (bad input, out too small).
func QuoteJSON(in, out []byte) ([]byte, error) {
	var n C.size_t
	out = out[:cap(out)]
	switch C.ffb_work_quote_json(ptr(in), C.size_t(len(in)), ptr(out), C.size_t(len(out)), &n) {
	case 0:
		return out[:n], nil
	case 1:
		return nil, fmt.Errorf("rust quote_json: not a valid Order")
	default:
		return nil, fmt.Errorf("rust quote_json: answer of %d bytes over %d", n, len(out))
	}
}
