package measure_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ffi-bridge/ffi-bridge/bench/internal/measure"
)

func TestSummarizeNearestRankPercentiles(t *testing.T) {
	lat := make([]float64, 1000)
	for i := range lat {
		lat[i] = float64(1000 - i) // 1..1000, reversed
	}
	var r measure.Result
	measure.Summarize(&r, lat, time.Second)
	if r.P50 != 500 || r.P99 != 990 || r.P999 != 999 || r.Min != 1 || r.Max != 1000 {
		t.Fatalf("got p50=%v p99=%v p999=%v min=%v max=%v, want 500 990 999 1 1000",
			r.P50, r.P99, r.P999, r.Min, r.Max)
	}
	if r.OpsPerS != 1000 || r.Iterations != 1000 {
		t.Fatalf("got ops/s=%v iterations=%d, want 1000 1000", r.OpsPerS, r.Iterations)
	}
}

func TestVerifyCatchesAStaleReply(t *testing.T) {
	for _, n := range []int{4, 64, 4096} {
		want := measure.NewPayload(n)
		measure.Stamp(want, 7)
		stale := append([]byte(nil), want...)
		measure.Stamp(want, 8)
		if err := measure.Verify(stale, want); err == nil {
			t.Errorf("size %d: Verify accepted the previous call's reply", n)
		}
		if err := measure.VerifyStamps(stale, want); err == nil {
			t.Errorf("size %d: VerifyStamps accepted the previous call's reply", n)
		}
		if err := measure.Verify(want, want[:n-1]); err == nil {
			t.Errorf("size %d: Verify accepted a wrong length", n)
		}
	}
}

func TestEmitWritesOneJSONLineWithTheContractFields(t *testing.T) {
	var buf bytes.Buffer
	r := measure.Result{Name: "x", Transport: "t", PayloadBytes: 64, Placement: "p", Checked: true}
	if err := measure.Emit(&buf, r); err != nil {
		t.Fatal(err)
	}
	if strings.Count(buf.String(), "\n") != 1 {
		t.Fatalf("got %q, want one line", buf.String())
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"name", "payload_bytes", "placement", "p50_ns", "p99_ns", "p999_ns", "ops_per_s", "iterations", "checked"} {
		if _, ok := m[k]; !ok {
			t.Errorf("field %q missing from %s", k, buf.String())
		}
	}
}
