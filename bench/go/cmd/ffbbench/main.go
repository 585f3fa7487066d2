// Command ffbbench measures the alternative transports ("peers") that a
// user would pick instead of ffi-bridge and prints one JSON line per
// measurement (see bench/README.md for the fields).
//
//	ffbbench run  -peer cgo|uds|grpc|shmipc[,...] [-sizes 64,4096,...] [-time 1s] [-min 200] [-max 1000000]
//	ffbbench loop -peer uds|grpc|shmipc|cgo -size 64 -count 1000000
//	ffbbench serve -peer NAME -socket PATH   (started by run/loop, pinned to CPU 0)
//
// run and loop pin themselves to CPU 1 and start their server as a child
// process pinned to CPU 0; loop does `count` checked echo calls and prints
// nothing (for hyperfine's whole-process timing). The exit status is 0 only
// when every answer was right.
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ffi-bridge/ffi-bridge/bench/internal/cgopeer"
	"github.com/ffi-bridge/ffi-bridge/bench/internal/measure"
	"github.com/ffi-bridge/ffi-bridge/bench/internal/peers"
	"github.com/ffi-bridge/ffi-bridge/bench/internal/pin"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "run":
		err = cmdRun(os.Args[2:])
	case "loop":
		err = cmdLoop(os.Args[2:])
	case "serve":
		err = cmdServe(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ffbbench:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: ffbbench run|loop|serve [flags]; peers:", strings.Join(peers.Names(), ","), "+ cgo")
	os.Exit(2)
}

func parseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("bad size %q", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func cmdServe(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	name := fs.String("peer", "", "peer to serve")
	sock := fs.String("socket", "", "Unix socket path")
	fs.Parse(args)
	p, err := peers.Lookup(*name)
	if err != nil {
		return err
	}
	if err := pin.PinProcess(pin.Server); err != nil {
		return err
	}
	return p.Serve(*sock)
}

func cmdRun(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	names := fs.String("peer", "cgo,uds,grpc,shmipc", "comma-separated peers")
	sizeList := fs.String("sizes", "64,4096,65536,1048576,16777216", "payload sizes in bytes")
	perSize := fs.Duration("time", time.Second, "time budget per measurement")
	minIters := fs.Int("min", 200, "minimum timed iterations (large payloads: min/10, at least 20)")
	maxIters := fs.Int("max", 1000000, "maximum timed iterations")
	fs.Parse(args)
	sizes, err := parseSizes(*sizeList)
	if err != nil {
		return err
	}
	if err := pin.PinProcess(pin.Client); err != nil {
		return err
	}
	budget := func(size int) measure.Budget {
		b := measure.Budget{Time: *perSize, MinIters: *minIters, MaxIters: *maxIters}
		if size >= 1<<20 {
			b.MinIters = max(20, b.MinIters/10)
		}
		return b
	}
	for _, name := range strings.Split(*names, ",") {
		if name == "cgo" {
			measure.Emit(os.Stdout, cgopeer.RunEmpty(1000, budget(0)))
			for _, n := range sizes {
				r, err := cgopeer.RunEcho(n, budget(n))
				if err != nil {
					return fmt.Errorf("cgo echo %d: %w", n, err)
				}
				measure.Emit(os.Stdout, r)
			}
			continue
		}
		err := withServer(name, func(echo measure.Echo) error {
			for _, n := range sizes {
				r := measure.Result{Name: fmt.Sprintf("%s_echo_%d", name, n), Transport: name, Group: "peer",
					Placement: placement}
				if err := measure.RunEcho(&r, echo, n, budget(n)); err != nil {
					return fmt.Errorf("%s echo %d: %w", name, n, err)
				}
				measure.Emit(os.Stdout, r)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func cmdLoop(args []string) error {
	fs := flag.NewFlagSet("loop", flag.ExitOnError)
	name := fs.String("peer", "uds", "peer")
	size := fs.Int("size", 64, "payload bytes")
	count := fs.Int("count", 1000000, "echo calls")
	fs.Parse(args)
	if err := pin.PinProcess(pin.Client); err != nil {
		return err
	}
	loop := func(echo measure.Echo) error {
		req := measure.NewPayload(*size)
		for i := 0; i < *count; i++ {
			measure.Stamp(req, uint64(i)+1)
			got, err := echo(req)
			if err != nil {
				return err
			}
			if err := measure.Verify(got, req); err != nil {
				return fmt.Errorf("call %d: %w", i, err)
			}
		}
		return nil
	}
	if *name == "cgo" {
		out := make([]byte, *size)
		return loop(func(req []byte) ([]byte, error) { return cgopeer.Echo(req, out), nil })
	}
	return withServer(*name, loop)
}
