package workload

import (
	"context"
	"fmt"
	"time"

	ffb "github.com/ffi-bridge/ffi-bridge/go"

	"github.com/ffi-bridge/ffi-bridge/bench/internal/interleave"
	"github.com/ffi-bridge/ffi-bridge/bench/internal/work"
)

// EmptyBatch is pipelined empty calls: rounds of ffb.Client.CallBatch of
// depth calls of fn with no input (work.empty, the Rust callback; or
// ffi.echo, the core's C built-in, which answers an empty input with
// nothing); each sample is a round's time over depth. Every call must
// answer empty with no error.
func EmptyBatch(name string, p work.Peer, c *ffb.Client, fn string, depth int) interleave.Subject {
	calls := make([]ffb.BatchCall, depth)
	for k := range calls {
		calls[k] = ffb.BatchCall{Name: fn}
	}
	ctx := context.Background()
	s := subject(p, func(stop time.Time) (interleave.Samples, error) {
		var sm interleave.Samples
		begin := time.Now()
		for r := 0; r < MinCalls || time.Now().Before(stop); r++ {
			t0 := time.Now()
			err := c.CallBatch(ctx, calls)
			d := time.Since(t0)
			if err != nil {
				return sm, fmt.Errorf("CallBatch: %w", err)
			}
			for k := range calls {
				if calls[k].Err != nil || calls[k].Out != nil {
					return sm, fmt.Errorf("batched %s %d: out %v, err %v", fn, k, calls[k].Out, calls[k].Err)
				}
			}
			sm.Lat = append(sm.Lat, float64(d.Nanoseconds())/float64(depth))
			sm.Ops += depth
		}
		sm.Wall = time.Since(begin)
		return sm, nil
	})
	s.Name = name
	return s
}

// EmptyLoop is back-to-back empty calls of an in-process peer, timed in
// groups of group calls (one call is near the clock's resolution); each
// sample is a group's time over group.
func EmptyLoop(name string, p work.Peer, group int) interleave.Subject {
	s := subject(p, func(stop time.Time) (interleave.Samples, error) {
		var sm interleave.Samples
		begin := time.Now()
		for r := 0; r < MinCalls || time.Now().Before(stop); r++ {
			t0 := time.Now()
			for k := 0; k < group; k++ {
				if err := p.Empty(); err != nil {
					return sm, err
				}
			}
			sm.Lat = append(sm.Lat, float64(time.Since(t0).Nanoseconds())/float64(group))
			sm.Ops += group
		}
		sm.Wall = time.Since(begin)
		return sm, nil
	})
	s.Name = name
	return s
}
