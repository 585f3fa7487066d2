package cgopeer

import (
	"fmt"
	"time"

	"github.com/ffi-bridge/ffi-bridge/bench/internal/measure"
)

// Placement of the cgo measurements: one process, no second side.
const Placement = "one process CPU1 (cgo: caller and callee on the same thread)"

// RunEmpty times empty cgo calls in batches of batch calls (a single call
// is shorter than the clock's resolution) and reports per-call figures.
func RunEmpty(batch int, b measure.Budget) measure.Result {
	r := measure.Result{Name: "cgo_empty_call", Transport: "cgo", Group: "peer", Placement: Placement}
	lat := make([]float64, 0, b.MaxIters)
	var busy time.Duration
	begin := time.Now()
	for i := 0; i < b.MaxIters && (i < b.MinIters || time.Since(begin) < b.Time); i++ {
		t0 := time.Now()
		for k := 0; k < batch; k++ {
			Empty()
		}
		d := time.Since(t0)
		busy += d
		lat = append(lat, float64(d.Nanoseconds())/float64(batch))
	}
	r.Checked = true // nothing to answer; the call happened batch times
	measure.Summarize(&r, lat, busy)
	r.Iterations *= batch
	r.OpsPerS *= float64(batch)
	r.Timing = fmt.Sprintf("per call, averaged over batches of %d calls", batch)
	return r
}

// RunEcho times cgo echo calls of size bytes (Go buffer -> C memcpy -> Go
// buffer) and verifies each reply in full.
func RunEcho(size int, b measure.Budget) (measure.Result, error) {
	r := measure.Result{Name: fmt.Sprintf("cgo_echo_%d", size), Transport: "cgo", Group: "peer", Placement: Placement}
	out := make([]byte, size)
	err := measure.RunEcho(&r, func(req []byte) ([]byte, error) { return Echo(req, out), nil }, size, b)
	return r, err
}
