// Command ffbwork is the bench's second round: Go calling the Rust work
// functions (bench/rust/work) through ffi-bridge and through the peers a
// Go team would otherwise pick — cgo and purego into the Rust library,
// wazero running it as wasm, a go-plugin process — with every figure
// interleaved with the cache-line limit probe (package interleave).
//
//	ffbwork run  [-build DIR] [-workloads empty,echo,checksum,transform,json,pipelined,breakdown]
//	             [-sizes 64,...] [-peers ffb,cgo,purego,wazero,goplugin] [-rounds 10] [-slice 100ms]
//	ffbwork concurrency [-build DIR] [-goroutines 1,2,8,64] [-spin-us 50] [-rounds 10] [-slice 100ms]
//	ffbwork bothways [-build DIR] [-ffb PATH] [-rounds 10] [-slice 100ms]
//	ffbwork loop -peer NAME -workload checksum|transform|echo|empty|json [-size N] [-count N]
//
// run pins itself to CPU 1 (servers and the plugin on CPU 0); concurrency
// runs unpinned on both CPUs (GOMAXPROCS = 2) with unpinned servers, as
// cgo's threads do; loop is one whole process for hyperfine (start-up,
// connection or module compile, count checked calls). One JSON line per
// subject per cell; a failed cell is a line with checked=false.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/ffi-bridge/ffi-bridge/bench/internal/interleave"
	"github.com/ffi-bridge/ffi-bridge/bench/internal/limit"
	"github.com/ffi-bridge/ffi-bridge/bench/internal/work"
	"github.com/ffi-bridge/ffi-bridge/bench/internal/workload"
)

type opts struct {
	fs                      *flag.FlagSet
	build, workloads, sizes *string
	peers, goroutines       *string
	rounds                  *int
	slice, warm             *time.Duration
	spinUs                  *float64
	peer, work              *string
	size, count             *int
	profile                 *string
	ffb                     *string
}

func newOpts(name string) opts {
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	self, _ := os.Executable()
	return opts{fs: fs,
		build:      fs.String("build", filepath.Dir(self), "bench build directory (ffb-work-server, libffbwork.so, work.wasm, workplugin, probes/)"),
		workloads:  fs.String("workloads", "empty,echo,checksum,transform,json,pipelined,breakdown", "workloads"),
		sizes:      fs.String("sizes", "64,4096,65536,1048576,16777216", "payload sizes"),
		peers:      fs.String("peers", strings.Join(workload.PeerNames, ","), "peers"),
		goroutines: fs.String("goroutines", "1,2,8,64", "goroutine counts (concurrency)"),
		rounds:     fs.Int("rounds", 10, "rounds of interleaved slices per cell"),
		slice:      fs.Duration("slice", 100*time.Millisecond, "slice length"),
		warm:       fs.Duration("warm", 20*time.Millisecond, "untimed warm-up slice per subject per cell"),
		spinUs:     fs.Float64("spin-us", 50, "target duration of one spin_work call (concurrency)"),
		peer:       fs.String("peer", "ffb", "peer (loop)"),
		work:       fs.String("workload", "checksum", "workload (loop)"),
		size:       fs.Int("size", 65536, "payload bytes (loop)"),
		count:      fs.Int("count", 10000, "calls (loop)"),
		profile:    fs.String("cpuprofile", "", "write a CPU profile of this process (the client side) to this file"),
		ffb:        fs.String("ffb", "../build/ffb", "the ffb tool (ffb serve) for bothways"),
	}
}

func ints(s string) []int {
	var v []int
	for _, f := range strings.Split(s, ",") {
		if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && n > 0 {
			v = append(v, n)
		}
	}
	return v
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: ffbwork run|concurrency|bothways|loop [flags]")
		os.Exit(2)
	}
	o := newOpts(os.Args[1])
	o.fs.Parse(os.Args[2:])
	if *o.profile != "" {
		f, err := os.Create(*o.profile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "ffbwork:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	var err error
	switch os.Args[1] {
	case "run":
		err = cmdRun(o)
	case "concurrency":
		err = cmdConcurrency(o)
	case "bothways":
		err = cmdBothways(o)
	case "loop":
		err = cmdLoop(o)
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "ffbwork:", err)
		os.Exit(1)
	}
}

func (o opts) config() interleave.Config {
	return interleave.Config{Rounds: *o.rounds, Slice: *o.slice, Warm: *o.warm}
}

// openPeers opens each named peer; a peer that fails to open is reported
// and left out (the run goes on).
func openPeers(o opts, pinned bool) map[string]work.Peer {
	m := map[string]work.Peer{}
	for _, name := range strings.Split(*o.peers, ",") {
		p, err := workload.Open(name, *o.build, pinned)
		if err != nil {
			fail("work_open_"+name, err)
			fmt.Fprintln(os.Stderr, "ffbwork:", err)
			continue
		}
		m[name] = p
	}
	return m
}

func closeAll(m map[string]work.Peer) {
	for _, p := range m {
		p.Close()
	}
}

func startProbe(o opts) (*limit.Probe, error) {
	return limit.Start(filepath.Join(*o.build, "probes", "cacheline_rtt"))
}
