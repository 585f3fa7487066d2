// Command ffbclient measures ffi-bridge: the Go client (package ffb)
// calling the C server (`ffb serve`) it starts pinned to CPU 0, while it
// runs pinned to CPU 1. It prints the same JSON lines as ffbbench.
//
//	ffbclient run      -server build/ffb -mode spin|park [-sizes ...] [-time 1s] [-min 200] [-copyin] [-fullcheck]
//	ffbclient pipeline -server build/ffb -mode spin|park [-size 64] [-depths 8,32,128] [-time 1s]
//	                   (Submit+Wait with that many in flight, then CallBatch of that many)
//	ffbclient cping    -server build/ffb -mode spin|park [-sizes ...] [-count 100000]
//	ffbclient loop     -server build/ffb -mode spin|park [-size 64] [-count 1000000]
//
// loop makes count checked echo calls and prints nothing (for hyperfine).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/ffi-bridge/ffi-bridge/bench/internal/ffbpeer"
	"github.com/ffi-bridge/ffi-bridge/bench/internal/measure"
	"github.com/ffi-bridge/ffi-bridge/bench/internal/pin"
)

type flags struct {
	fs       *flag.FlagSet
	server   *string
	mode     *string
	sizes    *string
	size     *int
	depths   *string
	perSize  *time.Duration
	minIters *int
	maxIters *int
	count    *int
	copyIn   *bool
	full     *bool
	every    *int
	profile  *string
}

func newFlags(name string) flags {
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	return flags{
		fs:       fs,
		server:   fs.String("server", "build/ffb", "path of the ffb tool (ffb serve)"),
		mode:     fs.String("mode", "spin", "spin or park"),
		sizes:    fs.String("sizes", "64,4096,65536,1048576,16777216", "payload sizes"),
		size:     fs.Int("size", 64, "payload size (pipeline, loop)"),
		depths:   fs.String("depths", "8,32,128", "calls in flight (pipeline)"),
		perSize:  fs.Duration("time", time.Second, "time budget per measurement"),
		minIters: fs.Int("min", 200, "minimum timed iterations (>= 1 MiB: min/10, at least 20)"),
		maxIters: fs.Int("max", 1000000, "maximum timed iterations"),
		count:    fs.Int("count", 100000, "calls (cping, loop)"),
		copyIn:   fs.Bool("copyin", false, "also measure copying the payload in from Go memory"),
		full:     fs.Bool("fullcheck", false, "also measure with every byte of every reply checked"),
		every:    fs.Int("check-every", 64, "check the whole payload every N calls (stamps: every call)"),
		profile:  fs.String("cpuprofile", "", "write a CPU profile of the client to this file"),
	}
}

func ints(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("bad number %q", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: ffbclient run|pipeline|cping|loop [flags]")
		os.Exit(2)
	}
	f := newFlags(os.Args[1])
	f.fs.Parse(os.Args[2:])
	if *f.profile != "" {
		out, err := os.Create(*f.profile)
		if err == nil {
			err = pprof.StartCPUProfile(out)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "ffbclient:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if err := run(os.Args[1], f); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "ffbclient:", err)
		os.Exit(1)
	}
}

func run(cmd string, f flags) error {
	m := ffbpeer.Mode(*f.mode)
	if m != ffbpeer.Spin && m != ffbpeer.Park {
		return fmt.Errorf("mode must be spin or park")
	}
	if err := pin.PinProcess(pin.Client); err != nil {
		return err
	}
	budget := func(size int) measure.Budget {
		b := measure.Budget{Time: *f.perSize, MinIters: *f.minIters, MaxIters: *f.maxIters}
		if size >= 1<<20 {
			b.MinIters = max(20, b.MinIters/10)
		}
		return b
	}
	srv, err := ffbpeer.StartServer(*f.server, m.ServerSpinUs())
	if err != nil {
		return err
	}
	defer srv.Stop()
	ctx := context.Background()

	if cmd == "cping" {
		sizes, err := ints(*f.sizes)
		if err != nil {
			return err
		}
		for _, n := range sizes {
			count := *f.count
			if m == ffbpeer.Park {
				count = max(1000, count/10)
			}
			r, err := ffbpeer.RunCPing(*f.server, srv, m, n, count)
			if err != nil {
				return err
			}
			measure.Emit(os.Stdout, r)
		}
		return nil
	}

	c, err := ffbpeer.Dial(ctx, srv.Socket, m)
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	defer c.Close()
	switch cmd {
	case "run":
		sizes, err := ints(*f.sizes)
		if err != nil {
			return err
		}
		for _, n := range sizes {
			variants := []struct {
				copyIn bool
				every  int
				on     bool
			}{{false, *f.every, true}, {false, 1, *f.full}, {true, 1, *f.copyIn}}
			for _, v := range variants {
				if !v.on {
					continue
				}
				r, err := ffbpeer.RunEcho(ctx, c, m, n, v.copyIn, v.every, budget(n))
				if err != nil {
					return err
				}
				measure.Emit(os.Stdout, r)
			}
		}
	case "pipeline":
		depths, err := ints(*f.depths)
		if err != nil {
			return err
		}
		for _, d := range depths {
			if d > c.MaxInflight() {
				fmt.Fprintf(os.Stderr, "ffbclient: depth %d over the in-flight cap %d, skipped\n", d, c.MaxInflight())
				continue
			}
			r, err := ffbpeer.RunPipelined(ctx, c, m, *f.size, d, budget(*f.size))
			if err != nil {
				return err
			}
			measure.Emit(os.Stdout, r)
		}
		for _, d := range depths {
			r, err := ffbpeer.RunCallBatch(ctx, c, m, *f.size, d, budget(*f.size))
			if err != nil {
				return err
			}
			measure.Emit(os.Stdout, r)
		}
	case "loop":
		b := measure.Budget{Time: time.Duration(1 << 62), MinIters: *f.count, MaxIters: *f.count}
		_, err := ffbpeer.RunEcho(ctx, c, m, *f.size, false, *f.every, b)
		return err
	default:
		return fmt.Errorf("unknown command %q", cmd)
	}
	return nil
}
