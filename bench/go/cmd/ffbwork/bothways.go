package main

// bothways: calls from the server to the Go client and streams, against
// the C server (`ffb serve`, its demo callbacks) on CPU 0 with this
// process on CPU 1, in spin mode, each cell interleaved with the limit
// probe:
//
//   - bothways_call_64: the Go client's 64-byte ffi.echo round trip
//     (timed in Go) against the server's 64-byte call of a Go handler
//     (demo.pingback: timed on the server, from its ffb_session_call to
//     its answer callback; every answer is checked there);
//   - pool_echo_64: 64-byte echo by the inline built-in ffi.echo against
//     demo.echo, the same echo from a pool worker;
//   - bothways_stream_64: items per second of a credit-paced stream of
//     64-byte items (demo.count; every byte of every item checked)
//     against pipelined 64-byte echo calls, 32 in flight.

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"time"

	ffb "github.com/ffi-bridge/ffi-bridge/go"

	"github.com/ffi-bridge/ffi-bridge/bench/internal/ffbpeer"
	"github.com/ffi-bridge/ffi-bridge/bench/internal/interleave"
	"github.com/ffi-bridge/ffi-bridge/bench/internal/measure"
	"github.com/ffi-bridge/ffi-bridge/bench/internal/pin"
)

const bothPlacement = "C server (ffb serve) process CPU0, Go client process CPU1, spin mode"

// pingBatch is how many server->client calls one demo.pingback makes.
const pingBatch = 2000

func cmdBothways(o opts) error {
	if err := pin.PinProcess(pin.Client); err != nil {
		return err
	}
	// PinProcess locks this goroutine to its thread; a handler goroutine
	// would then need another thread (an OS switch per call on one CPU).
	// Measure from an unlocked goroutine, as an application would.
	errc := make(chan error, 1)
	go func() { errc <- bothways(o) }()
	return <-errc
}

func bothways(o opts) error {
	probe, err := startProbe(o)
	if err != nil {
		return err
	}
	defer probe.Close()
	srv, err := ffbpeer.StartServer(*o.ffb, ffbpeer.Spin.ServerSpinUs())
	if err != nil {
		return err
	}
	defer srv.Stop()
	ctx := context.Background()
	c, err := ffbpeer.Dial(ctx, srv.Socket, ffbpeer.Spin)
	if err != nil {
		return err
	}
	defer c.Close()
	// The handler answers with a copy of the server's 64 bytes (the
	// server checks every answer).
	if err := c.Handle("bench.back", func(ctx context.Context, req *ffb.Request) (*ffb.Buffer, error) {
		return req.Client().FromBytes(req.Bytes())
	}); err != nil {
		return err
	}

	calls := []interleave.Subject{echoSubject(ctx, c), pingbackSubject(ctx, c)}
	fmt.Fprintln(os.Stderr, "ffbwork: bothways call 64")
	if res, err := interleave.Run(probe, calls, interleave.P50, o.config()); err != nil {
		fail("bothways_call_64", err)
	} else {
		emitCell("bothways_call_64", 64, interleave.P50, o.config(), res)
	}
	// Issue 12: a pooled callback's 64 B echo (demo.echo, answered from
	// a worker) against the inline built-in.
	pool := []interleave.Subject{namedEchoSubject(ctx, c, "inline_ffi.echo", "ffi.echo"),
		namedEchoSubject(ctx, c, "pooled_demo.echo", "demo.echo")}
	fmt.Fprintln(os.Stderr, "ffbwork: pooled echo 64")
	if res, err := interleave.Run(probe, pool, interleave.P50, o.config()); err != nil {
		fail("pool_echo_64", err)
	} else {
		emitCell("pool_echo_64", 64, interleave.P50, o.config(), res)
	}
	rate := []interleave.Subject{streamSubject(ctx, c), pipelinedSubject(ctx, c, 32)}
	fmt.Fprintln(os.Stderr, "ffbwork: bothways stream 64")
	if res, err := interleave.Run(probe, rate, interleave.CallsPerS, o.config()); err != nil {
		fail("bothways_stream_64", err)
	} else {
		emitCell("bothways_stream_64", 64, interleave.CallsPerS, o.config(), res)
	}
	return nil
}

func echoSubject(ctx context.Context, c *ffb.Client) interleave.Subject {
	return namedEchoSubject(ctx, c, "go_to_server", "ffi.echo")
}

// namedEchoSubject times 64-byte calls of fn, an echo (the same block
// back, its stamp checked).
func namedEchoSubject(ctx context.Context, c *ffb.Client, subject, fn string) interleave.Subject {
	var seq uint64
	return interleave.Subject{Name: subject, Placement: bothPlacement, Run: func(stop time.Time) (interleave.Samples, error) {
		in, err := c.Alloc(64)
		if err != nil {
			return interleave.Samples{}, err
		}
		defer in.Free()
		return interleave.Loop(stop, 100, func(int) (time.Duration, error) {
			seq++
			measure.Stamp(in.Bytes(), seq)
			t0 := time.Now()
			out, err := c.Invoke(ctx, fn, in)
			d := time.Since(t0)
			if err != nil {
				return 0, err
			}
			if out != in || binary.LittleEndian.Uint64(out.Bytes()) != seq {
				return 0, fmt.Errorf("echo %d: wrong answer", seq)
			}
			return d, nil
		})
	}}
}

func pingbackSubject(ctx context.Context, c *ffb.Client) interleave.Subject {
	return interleave.Subject{Name: "server_to_go", Placement: bothPlacement, Run: func(stop time.Time) (interleave.Samples, error) {
		arg := binary.LittleEndian.AppendUint32(nil, pingBatch)
		arg = append(arg, "bench.back"...)
		var s interleave.Samples
		begin := time.Now()
		for s.Ops == 0 || time.Now().Before(stop) {
			in, err := c.FromBytes(arg)
			if err != nil {
				return s, err
			}
			out, err := c.Invoke(ctx, "demo.pingback", in)
			in.Free()
			if err != nil {
				return s, fmt.Errorf("demo.pingback: %w", err)
			}
			b := out.Bytes()
			if len(b) != 8*pingBatch {
				out.Free()
				return s, fmt.Errorf("demo.pingback answered %d bytes", len(b))
			}
			for i := 0; i < pingBatch; i++ {
				s.Lat = append(s.Lat, float64(binary.LittleEndian.Uint64(b[8*i:])))
			}
			s.Ops += pingBatch
			out.Free()
		}
		s.Wall = time.Since(begin)
		return s, nil
	}}
}

func streamSubject(ctx context.Context, c *ffb.Client) interleave.Subject {
	return interleave.Subject{Name: "stream_items", Placement: bothPlacement, Run: func(stop time.Time) (interleave.Samples, error) {
		var s interleave.Samples
		arg := binary.LittleEndian.AppendUint32(nil, 1<<31)
		arg = binary.LittleEndian.AppendUint32(arg, 64)
		in, err := c.FromBytes(arg)
		if err != nil {
			return s, err
		}
		begin := time.Now()
		next := uint64(0)
		for item, err := range c.Stream(ctx, "demo.count", in) {
			if err != nil {
				return s, err
			}
			b := item.Bytes()
			ok := len(b) == 64 && binary.LittleEndian.Uint64(b) == next
			for j := 8; ok && j < 64; j++ {
				ok = b[j] == byte(next+uint64(j))
			}
			item.Free()
			if !ok {
				return s, fmt.Errorf("stream item %d is wrong", next)
			}
			next++
			if next&255 == 0 && time.Now().After(stop) {
				break // cancels the stream on the server
			}
		}
		s.Wall = time.Since(begin)
		s.Ops = int(next)
		s.Lat = []float64{float64(s.Wall.Nanoseconds()) / float64(next)}
		// in was given up with the stream; the late end frees its block.
		return s, nil
	}}
}

func pipelinedSubject(ctx context.Context, c *ffb.Client, depth int) interleave.Subject {
	return interleave.Subject{Name: fmt.Sprintf("pipelined_d%d", depth), Placement: bothPlacement, Run: func(stop time.Time) (interleave.Samples, error) {
		var s interleave.Samples
		bufs := make([]*ffb.Buffer, depth)
		for i := range bufs {
			var err error
			if bufs[i], err = c.Alloc(64); err != nil {
				return s, err
			}
			defer bufs[i].Free()
		}
		calls := make([]ffb.Call, depth)
		seq := uint64(0)
		begin := time.Now()
		for s.Ops == 0 || time.Now().Before(stop) {
			t0 := time.Now()
			for k := range calls {
				seq++
				measure.Stamp(bufs[k].Bytes(), seq)
				var err error
				if calls[k], err = c.Submit(ctx, "ffi.echo", bufs[k]); err != nil {
					return s, err
				}
			}
			for k := range calls {
				out, err := calls[k].Wait(ctx)
				if err != nil {
					return s, err
				}
				if out != bufs[k] || binary.LittleEndian.Uint64(out.Bytes()) != seq-uint64(depth-1-k) {
					return s, fmt.Errorf("pipelined call %d: wrong answer", k)
				}
			}
			s.Lat = append(s.Lat, float64(time.Since(t0).Nanoseconds())/float64(depth))
			s.Ops += depth
		}
		s.Wall = time.Since(begin)
		return s, nil
	}}
}
