package ffbpeer

import (
	"fmt"
	"os/exec"
	"regexp"
	"strconv"

	"github.com/ffi-bridge/ffi-bridge/bench/internal/measure"
	"github.com/ffi-bridge/ffi-bridge/bench/internal/pin"
)

var (
	pingRTT  = regexp.MustCompile(`p50=(\d+) p90=(\d+) p99=(\d+) p99\.9=(\d+) max=(\d+)`)
	pingRate = regexp.MustCompile(`throughput: (\d+) calls/s`)
	pingOK   = regexp.MustCompile(`\(zero copy\).* 0 mismatches`)
)

// RunCPing runs the C client `ffb ping` (pinned to CPU 1) against s and
// turns its text into a Result: the C-to-C floor of ffi-bridge. ffb ping
// verifies the stamps of every reply and the whole payload now and then,
// and exits non-zero on a mismatch.
func RunCPing(ffbPath string, s *Server, m Mode, size, count int) (measure.Result, error) {
	r := measure.Result{Name: fmt.Sprintf("ffb_c_%s_echo_%d", m, size), Transport: "ffb-c", Group: "ffb",
		Placement: "C server (ffb serve) process CPU0, C client (ffb ping) process CPU1", Mode: string(m),
		PayloadBytes: size, Clock: "ffb ping: clock_gettime per call",
		Timing: "per call (ffb ping's own percentiles; p99.9 as printed)"}
	out, err := exec.Command(ffbPath, "ping", "--socket", s.Socket, "--size", strconv.Itoa(size),
		"--count", strconv.Itoa(count), "--mode", string(m), "--cpu", strconv.Itoa(pin.Client)).CombinedOutput()
	if err != nil {
		return r, fmt.Errorf("ffb ping: %v: %s", err, out)
	}
	mm := pingRTT.FindSubmatch(out)
	rate := pingRate.FindSubmatch(out)
	if mm == nil || rate == nil || !pingOK.Match(out) {
		return r, fmt.Errorf("ffb ping: unexpected output: %s", out)
	}
	f := func(b []byte) float64 { v, _ := strconv.ParseFloat(string(b), 64); return v }
	r.P50, r.P99, r.P999, r.Max = f(mm[1]), f(mm[3]), f(mm[4]), f(mm[5])
	r.OpsPerS = f(rate[1])
	r.Iterations = count
	r.Checked = true
	return r, nil
}
