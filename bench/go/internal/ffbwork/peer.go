// Package ffbwork is the ffi-bridge peer of the bench's second round: the
// pure-Go client (package ffb in go/) calling the Rust work server
// (bench/build/ffb-work-server, the `ffb` crate serving bench/rust/work)
// in another process. Inputs are written in place in arena Buffers, which
// is where an ffi-bridge caller produces them; replies are the input
// Buffer itself (echo, transform) or a small server block (checksum,
// spin), freed inside the timed call.
package ffbwork

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	ffb "github.com/ffi-bridge/ffi-bridge/go"

	"github.com/ffi-bridge/ffi-bridge/bench/internal/ffbpeer"
	"github.com/ffi-bridge/ffi-bridge/bench/internal/work"
)

// Placement of the pinned ffi-bridge work measurements.
const Placement = "Rust server (ffb-work-server) process CPU0, Go client process CPU1 (GOMAXPROCS=1, all threads pinned)"

// ServerSpin is the server's busy-poll before it parks: long enough to
// stay awake through the untimed checks between calls (a 16 MiB checksum
// reference takes a few ms), short enough to be parked after a slice's
// settle time, so it does not spin while the limit probe runs.
const ServerSpin = 20 * time.Millisecond

// Settle is slept after each ffi-bridge slice (ServerSpin and a margin).
const Settle = ServerSpin + 5*time.Millisecond

// Peer implements work.Peer over an ffi-bridge session.
type Peer struct {
	srv       *ffbpeer.Server
	c         *ffb.Client
	ctx       context.Context
	buf       *ffb.Buffer
	name      string
	placement string
	spinBufs  sync.Pool
}

// ClientSpin is how long a waiting goroutine spins before it parks when
// the peer is started unpinned (many goroutines on two CPUs): longer than
// one ~50 us spin_work call. With the client's default (50 us) a single
// caller parks just before its answer comes and pays a wake-up on every
// call (measured: ~3k instead of ~17k calls/s at 1 goroutine).
const ClientSpin = 200 * time.Microsecond

// Start runs the work server at path on CPU cpu and dials it with a
// client that never parks; cpu < 0 starts it unpinned and the client
// spins ClientSpin, then parks.
func Start(path string, cpu int) (*Peer, error) {
	if cpu >= 0 {
		return start(path, cpu, -1)
	}
	return start(path, cpu, ClientSpin)
}

// StartParking is Start unpinned with a client that parks at once: its
// waiting goroutines take no CPU from the server's thread.
func StartParking(path string) (*Peer, error) {
	p, err := start(path, -1, 0)
	if err == nil {
		p.name = "ffi-bridge, parking client"
		p.placement = "Rust server process and Go client process both unpinned (2 CPUs); client parks at once"
	}
	return p, err
}

// StartWorkers is StartParking with a worker pool of n threads: the
// scaling of CPU-bound pooled callbacks with the workers.
func StartWorkers(path string, n int) (*Peer, error) {
	p, err := start(path, -1, 0, "--workers", fmt.Sprint(n))
	if err == nil {
		p.name = fmt.Sprintf("ffi-bridge, %d worker(s)", n)
		p.placement = "Rust server process and Go client process both unpinned (2 CPUs); client parks at once; " +
			fmt.Sprintf("%d pool worker(s)", n)
	}
	return p, err
}

// start: spin < 0 never parks, else spins that long, then parks.
func start(path string, cpu int, spin time.Duration, extra ...string) (*Peer, error) {
	srv, err := ffbpeer.StartServerOn(path, int(ServerSpin/time.Microsecond), cpu, extra...)
	if err != nil {
		return nil, err
	}
	opt := ffb.WithSpinOnly()
	if spin >= 0 {
		opt = ffb.WithSpin(spin)
	}
	ctx := context.Background()
	c, err := ffb.Dial(ctx, srv.Socket, opt)
	if err != nil {
		srv.Stop()
		return nil, fmt.Errorf("dial: %w", err)
	}
	p := &Peer{srv: srv, c: c, ctx: ctx, name: "ffi-bridge", placement: Placement}
	if cpu < 0 {
		p.placement = "Rust server process and Go client process both unpinned (2 CPUs); client spins 200 us, then parks"
	}
	return p, nil
}

// Client is the session (for CallBatch).
func (p *Peer) Client() *ffb.Client { return p.c }

func (p *Peer) Name() string      { return p.name }
func (p *Peer) Placement() string { return p.placement }
func (p *Peer) Concurrent() bool  { return true }

func (p *Peer) Close() error {
	if p.buf != nil {
		p.buf.Free()
	}
	err := p.c.Close()
	p.srv.Stop()
	return err
}

// Input returns the bytes of an arena Buffer of n bytes.
func (p *Peer) Input(n int) ([]byte, error) {
	if p.buf == nil || p.buf.Cap() < n || p.buf.Cap() > 2*n+4096 {
		if p.buf != nil {
			p.buf.Free()
		}
		b, err := p.c.Alloc(n)
		if err != nil {
			return nil, fmt.Errorf("alloc %d: %w", n, err)
		}
		p.buf = b
	}
	if err := p.buf.SetLen(n); err != nil {
		return nil, err
	}
	return p.buf.Bytes(), nil
}

func (p *Peer) Empty() error {
	out, err := p.c.Invoke(p.ctx, "work.empty", nil)
	if err == nil && out != nil {
		out.Free()
		return fmt.Errorf("work.empty answered %d bytes", out.Len())
	}
	return err
}

func (p *Peer) Echo(n int) ([]byte, error) {
	out, err := p.c.Echo(p.ctx, p.buf)
	if err != nil {
		return nil, err
	}
	if out != p.buf {
		return nil, fmt.Errorf("ffi.echo: reply is not the request buffer")
	}
	return out.Bytes(), nil
}

// small reads an 8-byte reply and frees its block.
func small(out *ffb.Buffer, err error, what string) (uint64, error) {
	if err != nil {
		return 0, err
	}
	if out == nil || out.Len() != 8 {
		if out != nil {
			out.Free()
		}
		return 0, fmt.Errorf("%s: reply is not 8 bytes", what)
	}
	v := binary.LittleEndian.Uint64(out.Bytes())
	out.Free()
	return v, nil
}

// Checksum: the server writes the 8-byte answer over the input's first
// 8 bytes and answers with the input Buffer itself (no new block, nothing
// to release); the peer puts those 8 bytes and the length back.
func (p *Peer) Checksum(n int) (uint64, error) {
	var head [8]byte
	copy(head[:], p.buf.Bytes())
	out, err := p.c.Invoke(p.ctx, "work.checksum", p.buf)
	if err != nil {
		return 0, err
	}
	if out != p.buf || out.Len() != 8 {
		return 0, fmt.Errorf("work.checksum: reply is not 8 bytes of the request buffer")
	}
	v := binary.LittleEndian.Uint64(out.Bytes())
	if err := p.buf.SetLen(n); err != nil {
		return 0, err
	}
	copy(p.buf.Bytes(), head[:min(n, 8)])
	return v, nil
}

// Transform: the server writes the output into the input Buffer.
func (p *Peer) Transform(n int) ([]byte, error) {
	out, err := p.c.Invoke(p.ctx, "work.transform", p.buf)
	if err != nil {
		return nil, err
	}
	if out != p.buf {
		return nil, fmt.Errorf("work.transform: reply is not the request buffer")
	}
	return out.Bytes(), nil
}

// ReadCopy calls work.readcopy (the server copies the input out, as
// work.checksum does, and computes nothing): the copy's share.
func (p *Peer) ReadCopy(n int) error {
	out, err := p.c.Invoke(p.ctx, "work.readcopy", p.buf)
	if err == nil && out != nil {
		out.Free()
		return fmt.Errorf("work.readcopy answered bytes")
	}
	return err
}

// Quote: the Go client's JSON path (InvokeJSON: encoding/json into an
// arena buffer, serde_json in the Rust server, encoding/json out).
func (p *Peer) Quote(o *work.Order, q *work.Quote) error {
	return p.c.InvokeJSON(p.ctx, "work.quote", o, q)
}

// Spin is safe for concurrent use: each call takes a 16-byte Buffer from
// a pool.
func (p *Peer) Spin(iters, seed uint64) (uint64, error) {
	b, _ := p.spinBufs.Get().(*ffb.Buffer)
	if b == nil {
		var err error
		if b, err = p.c.Alloc(16); err != nil {
			return 0, err
		}
	}
	work.SpinArgs(b.Bytes(), iters, seed)
	out, err := p.c.Invoke(p.ctx, "work.spin", b)
	p.spinBufs.Put(b)
	return small(out, err, "work.spin")
}

// Settle is how long the harness sleeps after this peer's slice.
func (p *Peer) Settle() time.Duration { return Settle }
