package ffbpeer

import (
	"context"
	"fmt"
	"time"

	ffb "github.com/ffi-bridge/ffi-bridge/go"

	"github.com/ffi-bridge/ffi-bridge/bench/internal/measure"
)

// RunPipelined keeps up to depth ffi.echo calls of size bytes in flight
// from one goroutine: each round submits depth calls, then waits for all
// of them. The figure per iteration is the round's time divided by depth
// (the amortised cost of one call, to compare with one cgo call). Every
// reply must be its own request Buffer and carry that call's stamp; every
// payload is compared in full, untimed.
func RunPipelined(ctx context.Context, c *ffb.Client, m Mode, size, depth int, b measure.Budget) (measure.Result, error) {
	r := measure.Result{Name: fmt.Sprintf("ffb_go_%s_pipelined_d%d_echo_%d", m, depth, size), Transport: "ffb",
		Group: "ffb", Placement: Placement, Mode: string(m)}
	if max := c.MaxInflight(); depth > max {
		return r, fmt.Errorf("depth %d over the session's in-flight cap %d", depth, max)
	}
	bufs := make([]*ffb.Buffer, depth)
	refs := make([][]byte, depth)
	for i := range bufs {
		var err error
		if bufs[i], err = c.Alloc(size); err != nil {
			return r, err
		}
		defer bufs[i].Free()
		refs[i] = measure.NewPayload(size)
		copy(bufs[i].Bytes(), refs[i])
	}
	calls := make([]ffb.Call, depth)
	warm := b.MinIters/10 + 10
	var lat []float64
	var busy time.Duration
	begin := time.Now()
	seq := uint64(0)
	var st0 ffb.Stats
	for round := 0; round < warm+b.MaxIters; round++ {
		if round == warm {
			begin, busy, lat = time.Now(), 0, lat[:0]
			st0 = c.Stats()
		}
		if round >= warm+b.MinIters && time.Since(begin) > b.Time {
			break
		}
		t0 := time.Now()
		for k := range calls {
			seq++
			measure.Stamp(bufs[k].Bytes(), seq)
			var err error
			if calls[k], err = c.Submit(ctx, "ffi.echo", bufs[k]); err != nil {
				return r, fmt.Errorf("submit: %w", err)
			}
		}
		for k := range calls {
			reply, err := calls[k].Wait(ctx)
			if err != nil {
				return r, fmt.Errorf("wait: %w", err)
			}
			if reply != bufs[k] {
				return r, fmt.Errorf("pipelined reply %d is not its request buffer", k)
			}
		}
		d := time.Since(t0)
		first := seq - uint64(depth) + 1
		for k := range bufs {
			measure.Stamp(refs[k], first+uint64(k))
			if err := measure.Verify(bufs[k].Bytes(), refs[k]); err != nil {
				return r, fmt.Errorf("pipelined call %d: %w", k, err)
			}
		}
		busy += d
		lat = append(lat, float64(d.Nanoseconds())/float64(depth))
	}
	r.PayloadBytes = size
	r.Checked = true
	measure.Summarize(&r, lat, busy)
	r.Iterations *= depth
	r.OpsPerS *= float64(depth)
	r.Timing = fmt.Sprintf("per call, averaged over rounds of %d submitted-then-awaited calls", depth)
	r.Counters = counters(st0, c.Stats())
	return r, nil
}
