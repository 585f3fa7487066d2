package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/ffi-bridge/ffi-bridge/bench/internal/ffbwork"
	"github.com/ffi-bridge/ffi-bridge/bench/internal/interleave"
	"github.com/ffi-bridge/ffi-bridge/bench/internal/pin"
	"github.com/ffi-bridge/ffi-bridge/bench/internal/work"
	"github.com/ffi-bridge/ffi-bridge/bench/internal/workload"
)

// BreakdownSize is the payload of the cost breakdown cell (the size of
// the checksum and transform targets).
const BreakdownSize = 1 << 20

func cmdRun(o opts) error {
	if err := pin.PinProcess(pin.Client); err != nil {
		return err
	}
	probe, err := startProbe(o)
	if err != nil {
		return err
	}
	defer probe.Close()
	peers := openPeers(o, true)
	defer closeAll(peers)
	order := []work.Peer{}
	for _, name := range strings.Split(*o.peers, ",") {
		if p, ok := peers[name]; ok {
			order = append(order, p)
		}
	}
	out(clockRow())
	var seq uint64
	cell := func(wl string, size int, subjects []interleave.Subject) {
		fmt.Fprintf(os.Stderr, "ffbwork: %s %d: %d subjects\n", wl, size, len(subjects))
		res, err := interleave.Run(probe, subjects, interleave.P50, o.config())
		if err != nil {
			fail(fmt.Sprintf("work_%s_%d", wl, size), err)
			fmt.Fprintln(os.Stderr, "ffbwork:", wl, size, err)
			return
		}
		emit(wl, size, 0, interleave.P50, o.config(), res)
	}
	for _, wl := range strings.Split(*o.workloads, ",") {
		switch wl {
		case "empty", "json":
			var s []interleave.Subject
			for _, p := range order {
				if !workload.Supports(p, wl) {
					continue
				}
				if wl == "empty" {
					s = append(s, workload.Empty(p))
				} else {
					s = append(s, workload.Quote(p, &seq))
				}
			}
			cell(wl, 0, s)
		case "echo", "checksum", "transform":
			for _, n := range ints(*o.sizes) {
				var s []interleave.Subject
				for _, p := range order {
					switch wl {
					case "echo":
						s = append(s, workload.Echo(p, n, &seq))
					case "checksum":
						s = append(s, workload.Checksum(p, n, &seq))
					default:
						s = append(s, workload.Transform(p, n, &seq))
					}
				}
				cell(wl, n, s)
			}
		case "pipelined":
			cell(wl, 0, pipelined(peers))
		case "breakdown":
			if f, ok := peers["ffb"].(*ffbwork.Peer); ok {
				cell(wl, BreakdownSize, breakdown(f, peers, &seq))
			}
		default:
			fail("work_"+wl, fmt.Errorf("unknown workload %q", wl))
		}
	}
	return nil
}

// pipelined: CallBatch of empty calls at three depths (and of the C
// built-in at the deepest) and one synchronous empty call, against empty
// cgo and purego calls.
func pipelined(peers map[string]work.Peer) []interleave.Subject {
	var s []interleave.Subject
	if f, ok := peers["ffb"].(*ffbwork.Peer); ok {
		c := f.Client()
		s = append(s, workload.EmptyBatch("ffi-bridge CallBatch d64", f, c, "work.empty", 64),
			workload.EmptyBatch("ffi-bridge CallBatch d256", f, c, "work.empty", 256),
			workload.EmptyBatch("ffi-bridge CallBatch d1024", f, c, "work.empty", 1024),
			// the same batches of the core's C built-in: what the Rust
			// callback path (trampoline, catch_unwind, Reply) adds per call
			workload.EmptyBatch("ffi-bridge CallBatch d1024 of C ffi.echo", f, c, "ffi.echo", 1024),
			workload.Empty(f))
	}
	for _, name := range []string{"cgo", "purego"} {
		if p, ok := peers[name]; ok {
			s = append(s, workload.EmptyLoop(p.Name(), p, 1000))
		}
	}
	return s
}

// breakdown: where an ffi-bridge checksum's or transform's time goes at
// 1 MiB — the empty call, the echo (same handle back), the server copying
// the input out (work.readcopy), the whole checksum and transform — beside
// cgo's.
func breakdown(f *ffbwork.Peer, peers map[string]work.Peer, seq *uint64) []interleave.Subject {
	n := BreakdownSize
	empty := workload.Empty(f)
	empty.Name = "ffi-bridge empty call"
	echo := workload.Echo(f, n, seq)
	echo.Name = "ffi-bridge echo"
	rc := interleave.Subject{Name: "ffi-bridge readcopy", Placement: f.Placement(), Settle: f.Settle(),
		Run: func(stop time.Time) (interleave.Samples, error) {
			if _, err := f.Input(n); err != nil {
				return interleave.Samples{}, err
			}
			return interleave.Loop(stop, workload.MinCalls, func(int) (time.Duration, error) {
				t0 := time.Now()
				err := f.ReadCopy(n)
				return time.Since(t0), err
			})
		}}
	sum := workload.Checksum(f, n, seq)
	sum.Name = "ffi-bridge checksum"
	tr := workload.Transform(f, n, seq)
	tr.Name = "ffi-bridge transform"
	s := []interleave.Subject{empty, echo, rc, sum, tr}
	if p, ok := peers["cgo"]; ok {
		c := workload.Checksum(p, n, seq)
		c.Name = "cgo-rust checksum"
		t := workload.Transform(p, n, seq)
		t.Name = "cgo-rust transform"
		s = append(s, c, t)
	}
	return s
}
