package interleave_test

import (
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ffi-bridge/ffi-bridge/bench/internal/interleave"
	"github.com/ffi-bridge/ffi-bridge/bench/internal/limit"
)

func probe(t *testing.T) *limit.Probe {
	dir := os.Getenv("FFB_WORK_BUILD")
	if dir == "" {
		dir, _ = filepath.Abs("../../../build")
	}
	p, err := limit.Start(filepath.Join(dir, "probes", "cacheline_rtt"))
	if err != nil {
		t.Fatalf("start probe (make -C bench probes): %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// fixed is a subject whose calls all take d.
func fixed(name string, d float64) interleave.Subject {
	return interleave.Subject{Name: name, Run: func(stop time.Time) (interleave.Samples, error) {
		return interleave.Samples{Lat: []float64{d, d, d}, Ops: 3, Wall: time.Millisecond}, nil
	}}
}

func TestRatiosArePerRoundAndAgainstTheProbeSliceBefore(t *testing.T) {
	p := probe(t)
	res, err := interleave.Run(p, []interleave.Subject{fixed("a", 300), fixed("b", 100)}, interleave.P50,
		interleave.Config{Rounds: 3, Slice: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(res.Limit); got != 6 {
		t.Fatalf("got %d probe slices, want 6 (one before each subject slice)", got)
	}
	a := res.Subjects[0]
	if v := a.Vs["b"]; v.Median != 3 || v.Min != 3 || v.Max != 3 || v.N != 3 {
		t.Errorf("a vs b: got %+v, want 3 in every round", v)
	}
	for i, lim := range a.SliceLimit {
		if lim <= 0 {
			t.Fatalf("round %d: no probe figure", i)
		}
	}
	if want := 300 / a.SliceLimit[0]; a.LimitRatio.Min > want+1e-9 || a.LimitRatio.Max < want-1e-9 {
		t.Errorf("limit ratio %+v does not contain round 0's 300/%v", a.LimitRatio, a.SliceLimit[0])
	}
	n := 0
	for _, c := range res.Placement {
		n += c
	}
	if n != 6 {
		t.Errorf("placement counted %d slices, want 6", n)
	}
}

func TestCallsPerSecondCompareHigherAsBetter(t *testing.T) {
	p := probe(t)
	slow := interleave.Subject{Name: "slow", Run: func(time.Time) (interleave.Samples, error) {
		return interleave.Samples{Lat: []float64{1}, Ops: 10, Wall: time.Second}, nil
	}}
	fast := interleave.Subject{Name: "fast", Run: func(time.Time) (interleave.Samples, error) {
		return interleave.Samples{Lat: []float64{1}, Ops: 40, Wall: time.Second}, nil
	}}
	res, err := interleave.Run(p, []interleave.Subject{slow, fast}, interleave.CallsPerS,
		interleave.Config{Rounds: 2, Slice: 2 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if v := res.Subjects[0].Vs["fast"].Median; math.Abs(v-0.25) > 1e-9 {
		t.Errorf("slow vs fast calls/s: got %v, want 0.25", v)
	}
}

func TestSpreadOf(t *testing.T) {
	s := interleave.SpreadOf([]float64{4, 1, 3, 2})
	if s.Median != 2.5 || s.Min != 1 || s.Max != 4 || s.N != 4 {
		t.Errorf("got %+v", s)
	}
}
