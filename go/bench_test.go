// bench_test.go: round-trip benchmarks against a real `ffb serve`. Each
// iteration writes a fresh value into the payload and checks it came back
// in the same block, so the numbers measure a verified round trip. Nothing
// is pinned; on a shared 2-core machine expect noise.

package ffb_test

import (
	"context"
	"encoding/binary"
	"slices"
	"testing"
	"time"

	ffb "github.com/ffi-bridge/ffi-bridge/go"
)

func benchEcho(b *testing.B, size int, opts ...ffb.Option) {
	c := dial(b, startServer(b), opts...)
	ctx := context.Background()
	buf, err := c.Alloc(size)
	if err != nil {
		b.Fatal(err)
	}
	defer buf.Free()
	lat := make([]int64, b.N) // per-call round trips, for percentiles
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		p := buf.Bytes()
		binary.LittleEndian.PutUint64(p, uint64(i))
		p[len(p)-1] = byte(i)
		out, err := c.Echo(ctx, buf)
		if err != nil {
			b.Fatal(err)
		}
		q := out.Bytes()
		if out != buf || binary.LittleEndian.Uint64(q) != uint64(i) || q[len(q)-1] != byte(i) {
			b.Fatalf("iteration %d: wrong echo", i)
		}
		lat[i] = int64(time.Since(t0))
	}
	b.StopTimer()
	reportPercentiles(b, lat)
}

// reportPercentiles adds p50/p99 round-trip metrics: on a shared machine
// the mean (ns/op) is dominated by rare multi-millisecond preemptions.
func reportPercentiles(b *testing.B, lat []int64) {
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2]), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100]), "p99-ns")
}

// BenchmarkEchoSpin: 64-byte echo, the waiter busy-polls (never parks).
func BenchmarkEchoSpin(b *testing.B) { benchEcho(b, 64, ffb.WithSpinOnly()) }

// BenchmarkEchoPark: 64-byte echo, the waiter parks at once through the
// netpoller (the server rings the client bell every time).
func BenchmarkEchoPark(b *testing.B) { benchEcho(b, 64, ffb.WithSpin(0)) }

// BenchmarkEcho1MiB: zero-copy echo of 1 MiB (a handle moves, not bytes).
func BenchmarkEcho1MiB(b *testing.B) { benchEcho(b, 1<<20) }

// BenchmarkEchoPipelined: one goroutine keeps `depth` 64-byte echoes in
// flight; ns/op is per call.
func BenchmarkEchoPipelined(b *testing.B) {
	c := dial(b, startServer(b))
	ctx := context.Background()
	depth := 32
	if m := c.MaxInflight(); m < depth {
		depth = m
	}
	bufs := make([]*ffb.Buffer, depth)
	calls := make([]ffb.Call, depth)
	for i := range bufs {
		var err error
		if bufs[i], err = c.Alloc(64); err != nil {
			b.Fatal(err)
		}
		defer bufs[i].Free()
	}
	lat := make([]int64, 0, b.N/depth+1) // per-call cost of each round
	b.SetBytes(64)
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		t0 := time.Now()
		n := min(depth, b.N-done)
		for k := 0; k < n; k++ {
			binary.LittleEndian.PutUint64(bufs[k].Bytes(), uint64(done+k))
			var err error
			if calls[k], err = c.Submit(ctx, "ffi.echo", bufs[k]); err != nil {
				b.Fatal(err)
			}
		}
		for k := 0; k < n; k++ {
			out, err := calls[k].Wait(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if out != bufs[k] || binary.LittleEndian.Uint64(out.Bytes()) != uint64(done+k) {
				b.Fatalf("call %d: wrong echo", done+k)
			}
		}
		done += n
		lat = append(lat, int64(time.Since(t0))/int64(n))
	}
	b.StopTimer()
	reportPercentiles(b, lat)
}

// benchEchoBatch: one goroutine runs CallBatch over `depth` 64-byte echoes
// at a time; ns/op is per call.
func benchEchoBatch(b *testing.B, depth int) {
	c := dial(b, startServer(b))
	ctx := context.Background()
	calls := make([]ffb.BatchCall, depth)
	for k := range calls {
		buf, err := c.Alloc(64)
		if err != nil {
			b.Fatal(err)
		}
		defer buf.Free()
		calls[k] = ffb.BatchCall{Name: "ffi.echo", In: buf}
	}
	lat := make([]int64, 0, b.N/depth+1) // per-call cost of each batch
	b.SetBytes(64)
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		t0 := time.Now()
		n := min(depth, b.N-done)
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
		done += n
		lat = append(lat, int64(time.Since(t0))/int64(n))
	}
	b.StopTimer()
	reportPercentiles(b, lat)
}

// BenchmarkEchoBatch32 / 128 / 1024: CallBatch with that many echoes per call (at most
// MaxInflight of them in flight at a time).
func BenchmarkEchoBatch32(b *testing.B)   { benchEchoBatch(b, 32) }
func BenchmarkEchoBatch128(b *testing.B)  { benchEchoBatch(b, 128) }
func BenchmarkEchoBatch1024(b *testing.B) { benchEchoBatch(b, 1024) }

// BenchmarkServerCallsGo: the server's 64-byte calls of a Go handler
// (demo.pingback, 1000 back-to-back calls per iteration, each timed on the
// server); ns/op is per server call, p50-ns the server's own median.
// Compare with BenchmarkEchoSpin of the same run.
func BenchmarkServerCallsGo(b *testing.B) {
	c := dial(b, startServer(b), ffb.WithSpinOnly())
	ctx := context.Background()
	if err := c.Handle("bench.back", func(ctx context.Context, req *ffb.Request) (*ffb.Buffer, error) {
		return req.Client().FromBytes(req.Bytes())
	}); err != nil {
		b.Fatal(err)
	}
	const per = 1000
	in, err := c.FromBytes(append(binary.LittleEndian.AppendUint32(nil, per), "bench.back"...))
	if err != nil {
		b.Fatal(err)
	}
	defer in.Free()
	var rtts []int64
	b.ResetTimer()
	for i := 0; i < b.N; i += per {
		out, err := c.Invoke(ctx, "demo.pingback", in)
		if err != nil {
			b.Fatal(err)
		}
		p := out.Bytes()
		if len(p) != 8*per {
			b.Fatalf("demo.pingback answered %d bytes", len(p))
		}
		for k := 0; k < per; k++ {
			rtts = append(rtts, int64(binary.LittleEndian.Uint64(p[8*k:])))
		}
		out.Free()
	}
	b.StopTimer()
	reportPercentiles(b, rtts)
}
