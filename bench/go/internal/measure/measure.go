// Package measure turns per-iteration timings into the JSON lines every
// ffi-bridge benchmark prints: one line per measurement with name,
// transport, payload size, placement, p50/p99/p99.9, ops/s, iteration count
// and checked=true (the answers were verified).
package measure

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"time"
)

// Result is one measurement. Field names are the contract with
// bench/report.py and the C probes' output.
type Result struct {
	Name         string  `json:"name"`
	Transport    string  `json:"transport"`
	Group        string  `json:"group"`
	PayloadBytes int     `json:"payload_bytes"`
	Placement    string  `json:"placement"`
	P50          float64 `json:"p50_ns"`
	P90          float64 `json:"p90_ns,omitempty"`
	P99          float64 `json:"p99_ns"`
	P999         float64 `json:"p999_ns"`
	Mean         float64 `json:"mean_ns"`
	Min          float64 `json:"min_ns"`
	Max          float64 `json:"max_ns"`
	OpsPerS      float64 `json:"ops_per_s"`
	Iterations   int     `json:"iterations"`
	Checked      bool    `json:"checked"`
	Clock        string  `json:"clock"`
	Timing       string  `json:"timing,omitempty"`
	Mode         string  `json:"mode,omitempty"`
	Note         string  `json:"note,omitempty"`
	// Counters are transport statistics over the timed iterations (e.g.
	// ffi-bridge client parks and missed wake-ups).
	Counters map[string]uint64 `json:"counters,omitempty"`
}

// Summarize fills the statistics of r from per-iteration latencies in ns
// (sorted in place) and the wall time the iterations took.
func Summarize(r *Result, lat []float64, wall time.Duration) {
	r.Iterations = len(lat)
	r.Clock = "go time.Now (monotonic)"
	if len(lat) == 0 {
		return
	}
	sort.Float64s(lat)
	sum := 0.0
	for _, v := range lat {
		sum += v
	}
	at := func(q float64) float64 { return lat[int(q*float64(len(lat)-1))] }
	r.P50, r.P90, r.P99, r.P999 = at(0.50), at(0.90), at(0.99), at(0.999)
	r.Mean = sum / float64(len(lat))
	r.Min, r.Max = lat[0], lat[len(lat)-1]
	if wall > 0 {
		r.OpsPerS = float64(len(lat)) / wall.Seconds()
	}
}

// Emit writes r as one JSON line.
func Emit(w io.Writer, r Result) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}
