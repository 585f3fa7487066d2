package workload_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ffi-bridge/ffi-bridge/bench/internal/interleave"
	"github.com/ffi-bridge/ffi-bridge/bench/internal/rustcgo"
	"github.com/ffi-bridge/ffi-bridge/bench/internal/workload"
)

// The peers need bench/build (make -C bench rust wasm, and workplugin);
// FFB_WORK_BUILD overrides the directory.
func buildDir(t *testing.T) string {
	if d := os.Getenv("FFB_WORK_BUILD"); d != "" {
		return d
	}
	d, _ := filepath.Abs("../../../build")
	return d
}

var sizes = []int{1, 7, 64, 4099, 1 << 20}

func runBriefly(t *testing.T, what string, s interleave.Subject) {
	t.Helper()
	sm, err := s.Run(time.Now().Add(5 * time.Millisecond))
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if sm.Ops < workload.MinCalls {
		t.Fatalf("%s: %d calls, want at least %d", what, sm.Ops, workload.MinCalls)
	}
}

// Every peer answers every workload right, at odd and large sizes: the
// subjects check each answer (every checksum and transform byte, echo
// stamps and whole payloads, every quote field, every spin result).
func TestEveryPeerAnswersEveryWorkloadRight(t *testing.T) {
	build := buildDir(t)
	for _, name := range workload.PeerNames {
		t.Run(name, func(t *testing.T) {
			p, err := workload.Open(name, build, false)
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			defer p.Close()
			var seq uint64
			runBriefly(t, "empty", workload.Empty(p))
			for _, n := range sizes {
				runBriefly(t, "echo", workload.Echo(p, n, &seq))
				runBriefly(t, "checksum", workload.Checksum(p, n, &seq))
				runBriefly(t, "transform", workload.Transform(p, n, &seq))
			}
			if workload.Supports(p, "json") {
				runBriefly(t, "json", workload.Quote(p, &seq))
			} else if name != "wazero" {
				t.Errorf("%s has no JSON path", name)
			}
			if p.Concurrent() {
				runBriefly(t, "concurrent spin", workload.Concurrent(p, 4, workload.NewSpinTable(2000)))
			}
		})
	}
}

// wrongPeer corrupts one answer of each kind.
type wrongPeer struct{ *rustcgo.Peer }

func (w wrongPeer) Checksum(n int) (uint64, error) {
	v, err := w.Peer.Checksum(n)
	return v + 1, err
}

func (w wrongPeer) Transform(n int) ([]byte, error) {
	out, err := w.Peer.Transform(n)
	out[len(out)-1] ^= 0x20
	return out, err
}

func (w wrongPeer) Echo(n int) ([]byte, error) {
	out, err := w.Peer.Echo(n)
	out[0] ^= 1
	return out, err
}

func (w wrongPeer) Spin(i, s uint64) (uint64, error) { return 0, nil }

func TestAWrongAnswerFailsTheSlice(t *testing.T) {
	p := wrongPeer{rustcgo.NewPeer()}
	var seq uint64
	stop := time.Now().Add(time.Millisecond)
	for what, s := range map[string]interleave.Subject{
		"checksum":  workload.Checksum(p, 4096, &seq),
		"transform": workload.Transform(p, 4096, &seq),
		"echo":      workload.Echo(p, 4096, &seq),
		"spin":      workload.Concurrent(p, 2, workload.NewSpinTable(10)),
	} {
		if _, err := s.Run(stop); err == nil {
			t.Errorf("%s: a wrong answer passed", what)
		}
	}
}
