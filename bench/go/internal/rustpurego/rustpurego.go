// Package rustpurego is the purego peer: the same Rust work functions as
// rustcgo, built as the cdylib bench/build/libffbwork.so, opened at run
// time with purego (github.com/ebitengine/purego: dlopen and C-ABI calls
// without cgo in the caller's code). Arguments are pointers to Go memory,
// as with cgo.
package rustpurego

import (
	"encoding/json"
	"fmt"
	"unsafe"

	"github.com/ebitengine/purego"

	"github.com/ffi-bridge/ffi-bridge/bench/internal/rustcgo"
	"github.com/ffi-bridge/ffi-bridge/bench/internal/work"
)

// Peer implements work.Peer over purego.
type Peer struct {
	lib       uintptr
	empty     func()
	checksum  func(p unsafe.Pointer, n uintptr) uint64
	transform func(src, dst unsafe.Pointer, n uintptr)
	echo      func(src, dst unsafe.Pointer, n uintptr)
	spin      func(iters, seed uint64) uint64
	quote     func(src unsafe.Pointer, n uintptr, dst unsafe.Pointer, cap uintptr, outLen *uintptr) int32
	in, out   []byte
	qbuf      []byte
}

// Open loads the cdylib at path and binds its functions.
func Open(path string) (*Peer, error) {
	lib, err := purego.Dlopen(path, purego.RTLD_NOW|purego.RTLD_LOCAL)
	if err != nil {
		return nil, fmt.Errorf("purego: dlopen %s: %w", path, err)
	}
	p := &Peer{lib: lib, qbuf: make([]byte, 4096)}
	purego.RegisterLibFunc(&p.empty, lib, "ffb_work_empty")
	purego.RegisterLibFunc(&p.checksum, lib, "ffb_work_checksum")
	purego.RegisterLibFunc(&p.transform, lib, "ffb_work_transform")
	purego.RegisterLibFunc(&p.echo, lib, "ffb_work_echo")
	purego.RegisterLibFunc(&p.spin, lib, "ffb_work_spin")
	purego.RegisterLibFunc(&p.quote, lib, "ffb_work_quote_json")
	return p, nil
}

func ptr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(&b[0])
}

func (p *Peer) Name() string      { return "purego-rust" }
func (p *Peer) Placement() string { return rustcgo.Placement }
func (p *Peer) Concurrent() bool  { return true }
func (p *Peer) Close() error      { return purego.Dlclose(p.lib) }
func (p *Peer) Empty() error      { p.empty(); return nil }

func (p *Peer) Spin(iters, seed uint64) (uint64, error) { return p.spin(iters, seed), nil }

func (p *Peer) Input(n int) ([]byte, error) {
	if len(p.in) != n {
		p.in, p.out = make([]byte, n), make([]byte, n)
	}
	return p.in, nil
}

func (p *Peer) Echo(n int) ([]byte, error) {
	p.echo(ptr(p.in), ptr(p.out), uintptr(n))
	return p.out[:n], nil
}

func (p *Peer) Checksum(n int) (uint64, error) { return p.checksum(ptr(p.in), uintptr(n)), nil }

func (p *Peer) Transform(n int) ([]byte, error) {
	p.transform(ptr(p.in), ptr(p.out), uintptr(n))
	return p.out[:n], nil
}

// Quote: encoding/json, the bytes to Rust's serde_json, and back.
func (p *Peer) Quote(o *work.Order, q *work.Quote) error {
	in, err := json.Marshal(o)
	if err != nil {
		return err
	}
	var n uintptr
	if rc := p.quote(ptr(in), uintptr(len(in)), ptr(p.qbuf), uintptr(len(p.qbuf)), &n); rc != 0 {
		return fmt.Errorf("purego quote_json: status %d", rc)
	}
	return json.Unmarshal(p.qbuf[:n], q)
}
