// main_test.go starts one shared `ffb serve` for the Example functions,
// which cannot start their own. A missing binary fails the run (it never
// skips): run `make` first.

package ffb_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// socketPath is where the shared example server listens.
var socketPath string

// serverBin is the `ffb serve` binary, for Examples that Start their own.
var serverBin string

func TestMain(m *testing.M) {
	if os.Getenv(startParentEnv) != "" { // a parent process for start_test.go
		os.Exit(startParentMain())
	}
	os.Exit(runWithServer(m))
}

func runWithServer(m *testing.M) int {
	bin := os.Getenv("FFB_BIN")
	if bin == "" {
		bin, _ = filepath.Abs(filepath.Join("..", "build", "ffb"))
	}
	if _, err := os.Stat(bin); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: ffb server binary not found at %s: run `make` in the repository root first, or set FFB_BIN\n", bin)
		return 1
	}
	serverBin = bin
	dir, err := os.MkdirTemp("", "ffbex")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	socketPath = filepath.Join(dir, "s.sock")
	cmd := exec.Command(bin, "serve", "--socket", socketPath)
	cmd.Stderr = os.Stderr
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "start ffb serve:", err)
		return 1
	}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		sent := false
		for sc.Scan() {
			if !sent && strings.HasPrefix(sc.Text(), "ready") {
				ready <- true
				sent = true
			}
		}
		if !sent {
			ready <- false
		}
	}()
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
		}
	}()
	select {
	case ok := <-ready:
		if !ok {
			fmt.Fprintln(os.Stderr, "FAIL: ffb serve exited before printing ready")
			return 1
		}
	case <-time.After(10 * time.Second):
		fmt.Fprintln(os.Stderr, "FAIL: ffb serve did not print ready within 10 s")
		return 1
	}
	return m.Run()
}
