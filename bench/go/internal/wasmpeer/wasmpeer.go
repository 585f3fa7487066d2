// Package wasmpeer is the wazero peer: the Rust work kernels compiled to
// wasm32 (bench/build/work.wasm, from bench/rust/work-wasm with Debian's
// rustc and its wasm32 std) and run inside the Go process by wazero
// (github.com/tetratelabs/wazero, its optimizing compiler on amd64).
//
// Input goes where wazero lets a host put it without a copy: the harness
// writes it into a view of the module's linear memory (Memory.Read), and
// outputs are read through a view too, so the figures are the call and
// the sandboxed code, not host-side copies (a caller whose data is in Go
// memory would add one copy each way). The module has no serde, so this
// peer has no JSON workload (work.ErrUnsupported).
package wasmpeer

import (
	"context"
	"fmt"
	"os"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/ffi-bridge/ffi-bridge/bench/internal/rustcgo"
	"github.com/ffi-bridge/ffi-bridge/bench/internal/work"
)

// Peer implements work.Peer over one wazero module instance (not safe
// for concurrent use: Concurrent is false).
type Peer struct {
	ctx                                           context.Context
	rt                                            wazero.Runtime
	mod                                           api.Module
	alloc, empty, checksum, transform, echo, spin api.Function
	stack                                         []uint64
	n                                             int
	inPtr, outPtr                                 uint32
}

// Open compiles and instantiates the module at path.
func Open(path string) (*Peer, error) {
	code, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler())
	mod, err := rt.Instantiate(ctx, code)
	if err != nil {
		rt.Close(ctx)
		return nil, fmt.Errorf("wazero: instantiate %s: %w", path, err)
	}
	p := &Peer{ctx: ctx, rt: rt, mod: mod, stack: make([]uint64, 4), n: -1}
	for _, f := range []struct {
		fn   *api.Function
		name string
	}{{&p.alloc, "alloc"}, {&p.empty, "empty"}, {&p.checksum, "checksum"}, {&p.transform, "transform"},
		{&p.echo, "echo"}, {&p.spin, "spin"}} {
		if *f.fn = mod.ExportedFunction(f.name); *f.fn == nil {
			rt.Close(ctx)
			return nil, fmt.Errorf("wazero: %s exports no %s", path, f.name)
		}
	}
	return p, nil
}

func (p *Peer) Name() string      { return "wazero-rust" }
func (p *Peer) Placement() string { return rustcgo.Placement + "; wasm sandbox (wazero compiler)" }
func (p *Peer) Concurrent() bool  { return false }
func (p *Peer) Close() error      { return p.rt.Close(p.ctx) }

func (p *Peer) call(f api.Function, args ...uint64) (uint64, error) {
	copy(p.stack, args)
	if err := f.CallWithStack(p.ctx, p.stack); err != nil {
		return 0, err
	}
	return p.stack[0], nil
}

func (p *Peer) view(off uint32, n int) ([]byte, error) {
	b, ok := p.mod.Memory().Read(off, uint32(n))
	if !ok {
		return nil, fmt.Errorf("wazero: %d bytes at %d outside linear memory", n, off)
	}
	return b, nil
}

// Input allocates an input and an output range of n bytes in linear
// memory the first time it sees n (never freed) and returns a view of the
// input. Views are taken again on every call: growing memory moves it.
func (p *Peer) Input(n int) ([]byte, error) {
	if n != p.n {
		in, err := p.call(p.alloc, uint64(n))
		if err != nil {
			return nil, err
		}
		out, err := p.call(p.alloc, uint64(n))
		if err != nil {
			return nil, err
		}
		p.inPtr, p.outPtr, p.n = uint32(in), uint32(out), n
	}
	return p.view(p.inPtr, n)
}

func (p *Peer) Empty() error { _, err := p.call(p.empty); return err }

func (p *Peer) Echo(n int) ([]byte, error) {
	if _, err := p.call(p.echo, uint64(p.inPtr), uint64(p.outPtr), uint64(n)); err != nil {
		return nil, err
	}
	return p.view(p.outPtr, n)
}

func (p *Peer) Checksum(n int) (uint64, error) {
	return p.call(p.checksum, uint64(p.inPtr), uint64(n))
}

func (p *Peer) Transform(n int) ([]byte, error) {
	if _, err := p.call(p.transform, uint64(p.inPtr), uint64(p.outPtr), uint64(n)); err != nil {
		return nil, err
	}
	return p.view(p.outPtr, n)
}

func (p *Peer) Quote(*work.Order, *work.Quote) error { return work.ErrUnsupported }

func (p *Peer) Spin(iters, seed uint64) (uint64, error) { return p.call(p.spin, iters, seed) }
