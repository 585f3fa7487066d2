// Package ffbpeer measures ffi-bridge itself: the pure-Go client (package
// ffb in go/) calling the C server (`ffb serve`, built by the top-level
// make) — echo in spin and park mode, with and without copying the payload
// in from Go memory, and pipelined calls — in the same JSON lines as the
// peers.
package ffbpeer

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ffi-bridge/ffi-bridge/bench/internal/pin"
)

// Server is a running `ffb serve` child pinned to CPU 0.
type Server struct {
	Socket string
	dir    string
	cmd    *exec.Cmd
}

// StartServer runs `ffbPath serve` on a socket in a fresh temporary
// directory, pinned to CPU 0, and waits for its "ready" line. spinUs < 0
// keeps the server's default spin before parking.
func StartServer(ffbPath string, spinUs int) (*Server, error) {
	return StartServerOn(ffbPath, spinUs, pin.Server)
}

// StartServerOn is StartServer on CPU cpu, or unpinned (the caller's
// affinity) for cpu < 0; extra arguments go to the server as they are.
func StartServerOn(ffbPath string, spinUs, cpu int, extra ...string) (*Server, error) {
	dir, err := os.MkdirTemp("", "ffbbench-ffb-")
	if err != nil {
		return nil, err
	}
	s := &Server{Socket: filepath.Join(dir, "ffb.sock"), dir: dir}
	args := []string{"serve", "--socket", s.Socket, "--quiet"}
	if cpu >= 0 {
		args = append(args, "--cpu", strconv.Itoa(cpu))
	}
	if spinUs >= 0 {
		args = append(args, "--spin-us", strconv.Itoa(spinUs))
	}
	args = append(args, extra...)
	s.cmd = exec.Command(ffbPath, args...)
	s.cmd.Stderr = os.Stderr
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	start := s.cmd.Start
	if cpu >= 0 {
		start = func() error { return pin.StartPinned(s.cmd, cpu) }
	}
	if err := start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "ready:") {
				ready <- nil
				for sc.Scan() { // drain until exit
				}
				return
			}
		}
		ready <- fmt.Errorf("ffb serve exited before it was ready")
	}()
	select {
	case err = <-ready:
	case <-time.After(10 * time.Second):
		err = fmt.Errorf("ffb serve not ready after 10 s")
	}
	if err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// Stop asks the server to stop (SIGTERM), waits for it, and removes its
// directory.
func (s *Server) Stop() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
	os.RemoveAll(s.dir)
}
