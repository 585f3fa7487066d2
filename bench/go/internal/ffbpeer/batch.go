package ffbpeer

import (
	"context"
	"fmt"
	"time"

	ffb "github.com/ffi-bridge/ffi-bridge/go"

	"github.com/ffi-bridge/ffi-bridge/bench/internal/measure"
)

// RunCallBatch times ffb.Client.CallBatch over depth ffi.echo calls of
// size bytes (the client publishes groups of entries with one tail store).
// The figure per iteration is the batch's time divided by depth. Every
// reply must be its own request Buffer carrying that call's stamps; every
// payload is compared in full, untimed.
func RunCallBatch(ctx context.Context, c *ffb.Client, m Mode, size, depth int, b measure.Budget) (measure.Result, error) {
	r := measure.Result{Name: fmt.Sprintf("ffb_go_%s_callbatch_d%d_echo_%d", m, depth, size), Transport: "ffb",
		Group: "ffb", Placement: Placement, Mode: string(m)}
	calls := make([]ffb.BatchCall, depth)
	refs := make([][]byte, depth)
	for k := range calls {
		buf, err := c.Alloc(size)
		if err != nil {
			return r, err
		}
		defer buf.Free()
		refs[k] = measure.NewPayload(size)
		copy(buf.Bytes(), refs[k])
		calls[k] = ffb.BatchCall{Name: "ffi.echo", In: buf}
	}
	warm := b.MinIters/10 + 10
	var lat []float64
	var busy time.Duration
	var st0 ffb.Stats
	begin := time.Now()
	seq := uint64(0)
	for round := 0; round < warm+b.MaxIters; round++ {
		if round == warm {
			begin, busy, lat = time.Now(), 0, lat[:0]
			st0 = c.Stats()
		}
		if round >= warm+b.MinIters && time.Since(begin) > b.Time {
			break
		}
		first := seq + 1
		for k := range calls {
			seq++
			measure.Stamp(calls[k].In.Bytes(), seq)
			measure.Stamp(refs[k], seq)
		}
		t0 := time.Now()
		err := c.CallBatch(ctx, calls)
		d := time.Since(t0)
		if err != nil {
			return r, fmt.Errorf("CallBatch: %w", err)
		}
		for k := range calls {
			if calls[k].Out != calls[k].In {
				return r, fmt.Errorf("batched call %d: reply is not its request buffer", first+uint64(k))
			}
			if err := measure.Verify(calls[k].Out.Bytes(), refs[k]); err != nil {
				return r, fmt.Errorf("batched call %d: %w", first+uint64(k), err)
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
	r.Timing = fmt.Sprintf("per call, averaged over CallBatch rounds of %d calls", depth)
	r.Counters = counters(st0, c.Stats())
	return r, nil
}
