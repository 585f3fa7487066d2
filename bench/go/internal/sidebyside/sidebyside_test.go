// Package sidebyside puts the cgo baseline and ffi-bridge's pipelined Go
// calls in one `go test -bench` run, so the two per-call figures come from
// the same process, placement and load:
//
//	cd bench/go && taskset -c 1 go test -run '^$' -bench . -count 5 ./internal/sidebyside
//
// The ffb server (FFB_BIN, default ../build/ffb from the repository root)
// is started once, pinned to CPU 0; taskset pins the benchmark (the
// client) to CPU 1. ns/op is per call in every benchmark; p50-ns/call is
// the median of per-call times over samples of 1024 calls (cgo) or one
// batch (ffb), the figure to compare on a loaded machine.
package sidebyside

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ffi-bridge/ffi-bridge/bench/internal/cgopeer"
	"github.com/ffi-bridge/ffi-bridge/bench/internal/ffbpeer"
	ffb "github.com/ffi-bridge/ffi-bridge/go"
)

var server *ffbpeer.Server

func TestMain(m *testing.M) {
	bin := os.Getenv("FFB_BIN")
	if bin == "" {
		bin, _ = filepath.Abs("../../../../build/ffb")
	}
	s, err := ffbpeer.StartServer(bin, -1)
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: start ffb serve:", err)
		os.Exit(1)
	}
	server = s
	code := m.Run()
	s.Stop()
	os.Exit(code)
}

// chunk is how many calls each timed sample covers: the p50-ns/call
// metric is the median over samples, robust to the preemptions a shared
// machine adds to the mean (ns/op).
const chunk = 1024

// BenchmarkCgoEmpty is the baseline: one cgo call to an empty C function.
func BenchmarkCgoEmpty(b *testing.B) {
	lat := make([]int64, 0, b.N/chunk+1)
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(chunk, b.N-done)
		t0 := time.Now()
		for k := 0; k < n; k++ {
			cgopeer.Empty()
		}
		lat = append(lat, int64(time.Since(t0))/int64(n))
		done += n
	}
	b.StopTimer()
	reportP50(b, lat)
}

// reportP50 adds the median per-call time over the timed samples.
func reportP50(b *testing.B, lat []int64) {
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2]), "p50-ns/call")
}

func dial(b *testing.B) *ffb.Client {
	c, err := ffb.Dial(context.Background(), server.Socket)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

// benchBatch runs CallBatch over depth 64-byte ffi.echo calls at a time,
// each stamped and checked.
func benchBatch(b *testing.B, depth int) {
	c := dial(b)
	calls := make([]ffb.BatchCall, depth)
	for k := range calls {
		buf, err := c.Alloc(64)
		if err != nil {
			b.Fatal(err)
		}
		defer buf.Free()
		calls[k] = ffb.BatchCall{Name: "ffi.echo", In: buf}
	}
	ctx := context.Background()
	lat := make([]int64, 0, b.N/depth+1)
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(depth, b.N-done)
		t0 := time.Now()
		for k := 0; k < n; k++ {
			binary.LittleEndian.PutUint64(calls[k].In.Bytes(), uint64(done+k))
		}
		if err := c.CallBatch(ctx, calls[:n]); err != nil {
			b.Fatal(err)
		}
		for k := 0; k < n; k++ {
			if calls[k].Out != calls[k].In || binary.LittleEndian.Uint64(calls[k].Out.Bytes()) != uint64(done+k) {
				b.Fatalf("call %d: wrong echo", done+k)
			}
		}
		lat = append(lat, int64(time.Since(t0))/int64(n))
		done += n
	}
	b.StopTimer()
	reportP50(b, lat)
}

// BenchmarkFFBEchoBatch1024: CallBatch of 1024 echoes (up to MaxInflight
// in flight); ns/op per call.
func BenchmarkFFBEchoBatch1024(b *testing.B) { benchBatch(b, 1024) }

// BenchmarkFFBEchoPipelined32: the per-call API, Submit x32 then Wait x32.
func BenchmarkFFBEchoPipelined32(b *testing.B) {
	c := dial(b)
	const depth = 32
	var bufs [depth]*ffb.Buffer
	var calls [depth]ffb.Call
	for k := range bufs {
		var err error
		if bufs[k], err = c.Alloc(64); err != nil {
			b.Fatal(err)
		}
		defer bufs[k].Free()
	}
	ctx := context.Background()
	lat := make([]int64, 0, b.N/depth+1)
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(depth, b.N-done)
		t0 := time.Now()
		for k := 0; k < n; k++ {
			binary.LittleEndian.PutUint64(bufs[k].Bytes(), uint64(done+k))
			var err error
			if calls[k], err = c.Submit(ctx, "ffi.echo", bufs[k]); err != nil {
				b.Fatal(err)
			}
		}
		for k := 0; k < n; k++ {
			out, err := calls[k].Wait(ctx)
			if err != nil || out != bufs[k] || binary.LittleEndian.Uint64(out.Bytes()) != uint64(done+k) {
				b.Fatalf("call %d: wrong echo (%v)", done+k, err)
			}
		}
		lat = append(lat, int64(time.Since(t0))/int64(n))
		done += n
	}
	b.StopTimer()
	reportP50(b, lat)
}
