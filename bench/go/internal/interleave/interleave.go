// Package interleave measures several subjects in alternating short
// slices with the limit probe — L S1 L S2 ... L Sk, k subjects, for a
// number of rounds — so that every subject's figure has a cache-line
// round trip measured right before it on the same two CPUs under the
// same load, and every pair of subjects has figures from the same round.
// Ratios are taken per slice pair (per round), then summarised by their
// median and spread; the pooled per-call latencies give p50/p90/p99.
package interleave

import (
	"fmt"
	"slices"
	"time"

	"github.com/ffi-bridge/ffi-bridge/bench/internal/limit"
)

// Samples is what a subject's slice produced: per-call latencies in ns
// (the timed region only) and how many calls completed in Wall.
type Samples struct {
	Lat  []float64
	Ops  int
	Wall time.Duration
}

// Subject is one transport in a cell. Run makes checked calls until
// stop (at least a few, even past stop) and returns their samples; a
// wrong answer is an error. Settle, if set, is slept after the subject's
// slice so that a spinning server parks before the probe runs.
type Subject struct {
	Name      string
	Placement string
	Run       func(stop time.Time) (Samples, error)
	Settle    time.Duration
}

// Metric says which per-slice figure is compared: the slice's p50
// latency (lower is better) or its calls per second (higher is better).
type Metric string

const (
	P50       Metric = "p50_ns"
	CallsPerS Metric = "calls_per_s"
)

// Config is the shape of a run.
type Config struct {
	Rounds int
	Slice  time.Duration
	Warm   time.Duration // one untimed slice per subject first
}

// SubjectResult is one subject's figures over the cell.
type SubjectResult struct {
	Name       string
	Placement  string
	Lat        []float64 // pooled over every slice
	Ops        int
	Wall       time.Duration
	SliceValue []float64 // per round: the compared metric
	SliceLimit []float64 // per round: the probe p50 right before
	LimitRatio Spread    // per round: p50 / probe p50 (latency metric only)
	Vs         map[string]Spread
}

// Spread summarises per-round ratios.
type Spread struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	P25    float64 `json:"p25"`
	P75    float64 `json:"p75"`
	N      int     `json:"n"`
}

// SpreadOf summarises v (sorted in place).
func SpreadOf(v []float64) Spread {
	if len(v) == 0 {
		return Spread{}
	}
	slices.Sort(v)
	at := func(q float64) float64 { return v[int(q*float64(len(v)-1)+0.5)] }
	return Spread{Median: median(v), Min: v[0], Max: v[len(v)-1], P25: at(0.25), P75: at(0.75), N: len(v)}
}

func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// Result is a cell: the subjects' results and the probe slices.
type Result struct {
	Subjects  []SubjectResult
	Limit     []limit.Slice
	Placement map[string]int // inferred placement -> probe slices saying so
}

func sliceValue(m Metric, s Samples) float64 {
	if m == CallsPerS {
		return float64(s.Ops) / s.Wall.Seconds()
	}
	v := slices.Clone(s.Lat)
	slices.Sort(v)
	return v[int(0.5*float64(len(v)-1))]
}

// Run measures every subject in cfg.Rounds rounds of alternating slices.
// The order of subjects rotates from round to round.
func Run(p *limit.Probe, subjects []Subject, m Metric, cfg Config) (Result, error) {
	res := Result{Placement: map[string]int{}}
	k := len(subjects)
	out := make([]SubjectResult, k)
	for i, s := range subjects {
		out[i] = SubjectResult{Name: s.Name, Placement: s.Placement, Vs: map[string]Spread{}}
	}
	for _, s := range subjects {
		if cfg.Warm > 0 {
			if _, err := s.Run(time.Now().Add(cfg.Warm)); err != nil {
				return res, fmt.Errorf("%s (warm-up): %w", s.Name, err)
			}
			time.Sleep(s.Settle)
		}
	}
	for round := 0; round < cfg.Rounds; round++ {
		for j := 0; j < k; j++ {
			i := (j + round) % k
			ls, err := p.Slice(cfg.Slice)
			if err != nil {
				return res, err
			}
			res.Limit = append(res.Limit, ls)
			res.Placement[ls.Placement()]++
			sm, err := subjects[i].Run(time.Now().Add(cfg.Slice))
			if err != nil {
				return res, fmt.Errorf("%s: %w", subjects[i].Name, err)
			}
			if len(sm.Lat) == 0 && sm.Ops == 0 {
				return res, fmt.Errorf("%s: a slice with no calls", subjects[i].Name)
			}
			time.Sleep(subjects[i].Settle)
			o := &out[i]
			o.Lat = append(o.Lat, sm.Lat...)
			o.Ops += sm.Ops
			o.Wall += sm.Wall
			o.SliceValue = append(o.SliceValue, sliceValue(m, sm))
			o.SliceLimit = append(o.SliceLimit, ls.P50)
		}
	}
	for i := range out {
		if m == P50 {
			r := make([]float64, len(out[i].SliceValue))
			for j := range r {
				r[j] = out[i].SliceValue[j] / out[i].SliceLimit[j]
			}
			out[i].LimitRatio = SpreadOf(r)
		}
		for j := range out {
			if i == j {
				continue
			}
			r := make([]float64, cfg.Rounds)
			for x := range r {
				r[x] = out[i].SliceValue[x] / out[j].SliceValue[x]
			}
			out[i].Vs[out[j].Name] = SpreadOf(r)
		}
	}
	res.Subjects = out
	return res, nil
}

// Loop runs call until stop, at least minCalls times, and collects the
// durations it returns (each call times its own timed region).
func Loop(stop time.Time, minCalls int, call func(i int) (time.Duration, error)) (Samples, error) {
	var s Samples
	begin := time.Now()
	for i := 0; i < minCalls || time.Now().Before(stop); i++ {
		d, err := call(i)
		if err != nil {
			return s, err
		}
		s.Lat = append(s.Lat, float64(d.Nanoseconds()))
		s.Ops++
	}
	s.Wall = time.Since(begin)
	return s, nil
}
