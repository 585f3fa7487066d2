package main

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/ffi-bridge/ffi-bridge/bench/internal/interleave"
	"github.com/ffi-bridge/ffi-bridge/bench/internal/limit"
	"github.com/ffi-bridge/ffi-bridge/bench/internal/measure"
)

// Row is one subject of one cell: the usual measurement fields plus the
// interleaving's per-round figures and ratios (bench/README.md).
type Row struct {
	measure.Result
	Workload   string                       `json:"workload"`
	Peer       string                       `json:"peer"`
	Goroutines int                          `json:"goroutines,omitempty"`
	CellBytes  int                          `json:"cell_bytes"`
	Metric     string                       `json:"metric"`
	Rounds     int                          `json:"rounds"`
	SliceMs    float64                      `json:"slice_ms"`
	SliceValue []float64                    `json:"slice_value"`
	SliceLimit []float64                    `json:"slice_limit_p50_ns"`
	LimitP50   float64                      `json:"limit_p50_ns"`
	LimitRatio *interleave.Spread           `json:"limit_ratio,omitempty"`
	CallsPerS  float64                      `json:"calls_per_s_median,omitempty"`
	Vs         map[string]interleave.Spread `json:"vs"`
	Inferred   string                       `json:"placement_inferred"`
	Rule       string                       `json:"placement_rule"`
}

func slug(s string) string {
	return strings.NewReplacer(",", "", " ", "_", "-", "_", ".", "_").Replace(strings.ToLower(s))
}

func majority(m map[string]int) string {
	best, n := "", -1
	var all []string
	for k, v := range m {
		all = append(all, fmt.Sprintf("%s %d", k, v))
		if v > n {
			best, n = k, v
		}
	}
	slices.Sort(all)
	if len(m) > 1 {
		return best + " (mixed: " + strings.Join(all, ", ") + " probe slices)"
	}
	return best
}

// emit prints one Row per subject of res, and one for the probe.
func emit(workload string, size, goroutines int, m interleave.Metric, cfg interleave.Config, res interleave.Result) {
	cell := fmt.Sprintf("work_%s_%d", workload, size)
	if goroutines > 0 {
		cell = fmt.Sprintf("work_%s_g%d", workload, goroutines)
	}
	emitRows(cell, workload, size, goroutines, m, cfg, res)
}

// emitCell prints a cell that is not one of the work rows (bothways).
func emitCell(cell string, size int, m interleave.Metric, cfg interleave.Config, res interleave.Result) {
	emitRows(cell, cell, size, 0, m, cfg, res)
}

func emitRows(cell, workload string, size, goroutines int, m interleave.Metric, cfg interleave.Config, res interleave.Result) {
	place := majority(res.Placement)
	for _, s := range res.Subjects {
		r := Row{Workload: workload, Peer: s.Name, Goroutines: goroutines, CellBytes: size, Metric: string(m), Rounds: cfg.Rounds,
			SliceMs: float64(cfg.Slice.Microseconds()) / 1000, SliceValue: s.SliceValue, SliceLimit: s.SliceLimit,
			Vs: s.Vs, Inferred: place, Rule: limit.PlacementRule}
		r.Name = cell + "_" + slug(s.Name)
		r.Transport, r.Group, r.PayloadBytes, r.Placement = s.Name, "work", size, s.Placement
		r.Checked = true
		r.Timing = "per call (timed region only), pooled over every slice; ratios per round from interleaved slices"
		measure.Summarize(&r.Result, s.Lat, s.Wall)
		r.OpsPerS = float64(s.Ops) / s.Wall.Seconds()
		r.Iterations = s.Ops
		lim := slices.Clone(s.SliceLimit)
		r.LimitP50 = interleave.SpreadOf(lim).Median
		if m == interleave.P50 {
			lr := s.LimitRatio
			r.LimitRatio = &lr
		} else {
			r.CallsPerS = interleave.SpreadOf(slices.Clone(s.SliceValue)).Median
		}
		out(r)
	}
	var lat []float64
	r := Row{Workload: workload, Peer: "limit", Goroutines: goroutines, CellBytes: size, Metric: "p50_ns", Rounds: cfg.Rounds,
		SliceMs: float64(cfg.Slice.Microseconds()) / 1000, Inferred: place, Rule: limit.PlacementRule}
	for _, ls := range res.Limit {
		r.SliceValue = append(r.SliceValue, ls.P50)
		lat = append(lat, ls.P50)
		r.Iterations += ls.Iterations
	}
	r.Name, r.Transport, r.Group, r.PayloadBytes = cell+"_limit", "cacheline", "limit", 64
	r.Placement = "probe echo process CPU0, probe client process CPU1 (cacheline_rtt slices, pause)"
	r.Checked = true
	r.Timing = "per slice p50 of the cache-line round trip; p50/p90/p99 here are over the slice p50s"
	measure.Summarize(&r.Result, lat, 0)
	r.Iterations = 0
	for _, ls := range res.Limit {
		r.Iterations += ls.Iterations
	}
	r.Mean = 0
	out(r)
}

func out(r any) {
	b, err := json.Marshal(r)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ffbwork:", err)
		return
	}
	fmt.Println(string(b))
}

func fail(name string, err error) {
	b, _ := json.Marshal(map[string]any{"name": name, "error": err.Error(), "checked": false})
	fmt.Println(string(b))
}

// clockRow measures the Go clock's step here: the smallest non-zero
// difference of two successive time.Now readings (single calls shorter
// than a few steps are coarse; the report says so).
func clockRow() map[string]any {
	step := time.Hour
	for i := 0; i < 100000; i++ {
		a := time.Now()
		b := time.Now()
		if d := b.Sub(a); d > 0 && d < step {
			step = d
		}
	}
	return map[string]any{"name": "work_clock", "group": "meta", "go_clock_step_ns": step.Nanoseconds(),
		"checked": true, "note": "smallest non-zero step of time.Now in this process"}
}
