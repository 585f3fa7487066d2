// Package limit drives the cache-line round-trip probe in its slices mode
// (bench/probes/cacheline_rtt slices): one long-lived probe process pair
// (echo side CPU 0, client side CPU 1, both asleep between slices) that
// measures one slice on demand, so a harness can interleave the limit
// with the figure it anchors on the same two CPUs.
package limit

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Slice is one probe slice: the pause-mode round trip over its first 90%
// and the nopause p50 over its last 10%.
type Slice struct {
	P50        float64 `json:"p50_ns"`
	P90        float64 `json:"p90_ns"`
	P99        float64 `json:"p99_ns"`
	Iterations int     `json:"iterations"`
	NopauseP50 float64 `json:"nopause_p50_ns"`
	Checked    bool    `json:"checked"`
}

// SMT siblings share one core's L1: the line never leaves it, so the
// pause round trip is short, and a nopause spinner steals issue slots
// from its sibling, so nopause is much slower than pause. On separate
// cores the two are about equal and the line crosses the interconnect.
const (
	smtMaxPauseNs   = 70.0
	smtNopauseRatio = 1.5
)

// Placement is what the slice says about the two CPUs.
func (s Slice) Placement() string {
	if s.P50 > 0 && (s.P50 < smtMaxPauseNs || s.NopauseP50 > smtNopauseRatio*s.P50) {
		return "smt-siblings"
	}
	return "separate-cores"
}

// PlacementRule says how Placement decides, for reports.
const PlacementRule = "smt-siblings if the pause p50 < 70 ns or the nopause p50 > 1.5x the pause p50 (one core's L1, spinners share issue slots); else separate-cores"

// Probe is a running `cacheline_rtt slices`.
type Probe struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

// Start runs the probe binary in slices mode.
func Start(path string) (*Probe, error) {
	cmd := exec.Command(path, "slices")
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &Probe{cmd: cmd, in: in, out: bufio.NewScanner(out)}, nil
}

// Slice measures one slice of length d and returns it; an error if the
// probe died or saw a wrong value.
func (p *Probe) Slice(d time.Duration) (Slice, error) {
	var s Slice
	if _, err := fmt.Fprintf(p.in, "%.3f\n", float64(d)/float64(time.Millisecond)); err != nil {
		return s, fmt.Errorf("cacheline probe: %w", err)
	}
	if !p.out.Scan() {
		return s, fmt.Errorf("cacheline probe exited: %v", p.out.Err())
	}
	if err := json.Unmarshal(p.out.Bytes(), &s); err != nil {
		return s, fmt.Errorf("cacheline probe: %q: %w", p.out.Text(), err)
	}
	if !s.Checked || s.Iterations == 0 {
		return s, fmt.Errorf("cacheline probe: slice not checked: %s", p.out.Text())
	}
	return s, nil
}

// Close ends the probe and reports its exit status.
func (p *Probe) Close() error {
	p.in.Close()
	return p.cmd.Wait()
}
