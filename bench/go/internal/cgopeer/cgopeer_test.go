package cgopeer_test

import (
	"strconv"
	"testing"

	"github.com/ffi-bridge/ffi-bridge/bench/internal/cgopeer"
	"github.com/ffi-bridge/ffi-bridge/bench/internal/measure"
)

var sizes = []int{64, 4096, 65536, 1 << 20, 16 << 20}

func TestEchoReturnsInput(t *testing.T) {
	for _, n := range sizes {
		in := measure.NewPayload(n)
		measure.Stamp(in, 42)
		got := cgopeer.Echo(in, make([]byte, n))
		if err := measure.Verify(got, in); err != nil {
			t.Fatalf("size %d: %v", n, err)
		}
	}
}

func BenchmarkCgoEmpty(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		cgopeer.Empty()
	}
}

func BenchmarkCgoEcho(b *testing.B) {
	for _, n := range sizes {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			in := measure.NewPayload(n)
			out := make([]byte, n)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			seq := uint64(0)
			for b.Loop() {
				seq++
				measure.Stamp(in, seq)
				got := cgopeer.Echo(in, out)
				// check the stamps every call and everything now and then
				if got[0] != in[0] || got[n-1] != in[n-1] || (seq%1024 == 0 && measure.Verify(got, in) != nil) {
					b.Fatalf("echo of %d bytes returned different bytes", n)
				}
			}
		})
	}
}
