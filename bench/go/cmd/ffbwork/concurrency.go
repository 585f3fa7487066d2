package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/ffi-bridge/ffi-bridge/bench/internal/ffbwork"
	"github.com/ffi-bridge/ffi-bridge/bench/internal/interleave"
	"github.com/ffi-bridge/ffi-bridge/bench/internal/limit"
	"github.com/ffi-bridge/ffi-bridge/bench/internal/rustcgo"
	"github.com/ffi-bridge/ffi-bridge/bench/internal/work"
	"github.com/ffi-bridge/ffi-bridge/bench/internal/workload"
)

// calibrate returns the spin_work iterations of one ~target call and the
// median time of a call of that many (cgo, medians of 51, twice).
func calibrate(target time.Duration) (uint64, time.Duration) {
	timeOf := func(iters uint64) time.Duration {
		var d []time.Duration
		for i := 0; i < 51; i++ {
			t0 := time.Now()
			rustcgo.Spin(iters, uint64(i)+1)
			d = append(d, time.Since(t0))
		}
		slices.Sort(d)
		return d[25]
	}
	iters := uint64(20000)
	for k := 0; k < 2; k++ {
		iters = uint64(float64(iters) * float64(target) / float64(timeOf(iters)))
	}
	return iters, timeOf(iters)
}

func cmdConcurrency(o opts) error {
	runtime.GOMAXPROCS(runtime.NumCPU())
	probe, err := startProbe(o)
	if err != nil {
		return err
	}
	defer probe.Close()
	iters, took := calibrate(time.Duration(*o.spinUs * float64(time.Microsecond)))
	fmt.Fprintf(os.Stderr, "ffbwork: spin_work %d iterations ~ %v\n", iters, took)
	table := workload.NewSpinTable(iters)
	peers := openPeers(o, false)
	if _, ok := peers["ffb"]; ok {
		// the same server with a client that parks at once: whether
		// spinning waiters take CPU from the server's thread
		if p, err := ffbwork.StartParking(filepath.Join(*o.build, "ffb-work-server")); err == nil {
			peers["ffb-parking"] = p
		} else {
			fail("work_open_ffb_parking", err)
		}
	}
	defer closeAll(peers)
	var order []work.Peer
	for _, name := range append(strings.Split(*o.peers, ","), "ffb-parking") {
		if p, ok := peers[name]; ok && p.Concurrent() {
			order = append(order, p)
		}
	}
	for _, g := range ints(*o.goroutines) {
		var s []interleave.Subject
		for _, p := range order {
			s = append(s, workload.Concurrent(p, g, table))
		}
		fmt.Fprintf(os.Stderr, "ffbwork: concurrency %d goroutines: %d subjects\n", g, len(s))
		res, err := interleave.Run(probe, s, interleave.CallsPerS, o.config())
		if err != nil {
			fail(fmt.Sprintf("work_concurrency_g%d", g), err)
			continue
		}
		emit("concurrency", 16, g, interleave.CallsPerS, o.config(), res)
	}
	workersCell(o, probe)
	b, _ := json.Marshal(map[string]any{"name": "work_concurrency_spin_calibration", "group": "meta",
		"spin_iters": iters, "spin_call_ns": took.Nanoseconds(), "target_ns": int64(*o.spinUs * 1000), "checked": true,
		"note": "spin_work iterations per call, and a cgo call's median time at that count, measured before the cells"})
	fmt.Println(string(b))
	return nil
}

// workersCell: 8 goroutines calling a ~200 us CPU-bound pooled callback
// (spin_work) on the work server with 1 and with 2 pool workers, clients
// that park at once (their waiting takes no CPU from the workers).
func workersCell(o opts, probe *limit.Probe) {
	iters, took := calibrate(200 * time.Microsecond)
	fmt.Fprintf(os.Stderr, "ffbwork: workers cell: spin_work %d iterations ~ %v\n", iters, took)
	table := workload.NewSpinTable(iters)
	var s []interleave.Subject
	for _, n := range []int{1, 2} {
		p, err := ffbwork.StartWorkers(filepath.Join(*o.build, "ffb-work-server"), n)
		if err != nil {
			fail(fmt.Sprintf("work_open_ffb_%dworkers", n), err)
			return
		}
		defer p.Close()
		s = append(s, workload.Concurrent(p, 8, table))
	}
	res, err := interleave.Run(probe, s, interleave.CallsPerS, o.config())
	if err != nil {
		fail("work_workers_g8", err)
		return
	}
	emitCell("work_workers_g8", 16, interleave.CallsPerS, o.config(), res)
}
