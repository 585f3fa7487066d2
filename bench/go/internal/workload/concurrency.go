package workload

import (
	"fmt"
	"sync"
	"time"

	"github.com/ffi-bridge/ffi-bridge/bench/internal/interleave"
	"github.com/ffi-bridge/ffi-bridge/bench/internal/work"
)

// SpinTable is spin_work's expected results for a few seeds, computed
// once (in Go) so that the concurrent callers check every answer without
// redoing the work.
type SpinTable struct {
	Iters uint64
	Want  [16]uint64
}

// NewSpinTable computes the table for iters.
func NewSpinTable(iters uint64) *SpinTable {
	t := &SpinTable{Iters: iters}
	for k := range t.Want {
		t.Want[k] = work.Spin(iters, uint64(k)+1)
	}
	return t
}

// Concurrent is g goroutines each calling p.Spin back to back until the
// slice ends; every answer checked against the table. The slice's figure
// is calls per second over its wall time.
func Concurrent(p work.Peer, g int, t *SpinTable) interleave.Subject {
	return subject(p, func(stop time.Time) (interleave.Samples, error) {
		var mu sync.Mutex
		var sm interleave.Samples
		var first error
		var wg sync.WaitGroup
		begin := time.Now()
		for w := 0; w < g; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				var lat []float64
				var err error
				for i := 0; i < 1 || time.Now().Before(stop); i++ {
					k := (w*7 + i) % len(t.Want)
					t0 := time.Now()
					var v uint64
					v, err = p.Spin(t.Iters, uint64(k)+1)
					lat = append(lat, float64(time.Since(t0).Nanoseconds()))
					if err == nil && v != t.Want[k] {
						err = fmt.Errorf("spin(%d, %d): got %#x, want %#x", t.Iters, k+1, v, t.Want[k])
					}
					if err != nil {
						break
					}
				}
				mu.Lock()
				sm.Lat = append(sm.Lat, lat...)
				sm.Ops += len(lat)
				if err != nil && first == nil {
					first = err
				}
				mu.Unlock()
			}(w)
		}
		wg.Wait()
		sm.Wall = time.Since(begin)
		return sm, first
	})
}
