// server_test.go starts real `ffb serve` processes for the black-box tests.
// The binary comes from $FFB_BIN (set by `make test`) or ../build/ffb; if
// neither exists the test fails and says to run make. It never skips.

package ffb_test

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	ffb "github.com/ffi-bridge/ffi-bridge/go"
)

func ffbBin(t testing.TB) string {
	t.Helper()
	bin := os.Getenv("FFB_BIN")
	if bin == "" {
		var err error
		if bin, err = filepath.Abs(filepath.Join("..", "build", "ffb")); err != nil {
			t.Fatalf("locate ffb: %v", err)
		}
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("ffb server binary not found at %s (%v): run `make` in the repository root first, or set FFB_BIN", bin, err)
	}
	return bin
}

// testServer is one `ffb serve` process listening on its own socket.
type testServer struct {
	cmd    *exec.Cmd
	Socket string
	done   chan struct{}
}

// startServer runs `ffb serve --socket DIR/s.sock extra...` and waits for
// its "ready" line. The process is stopped (SIGTERM, then SIGKILL) at the
// end of the test.
func startServer(t testing.TB, extra ...string) *testServer {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "s.sock")
	if len(sock) >= 100 { // sun_path holds 108 bytes: fall back to a short path
		dir, err := os.MkdirTemp("", "ffbgo")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		sock = filepath.Join(dir, "s.sock")
	}
	args := append([]string{"serve", "--socket", sock}, extra...)
	if cpu := os.Getenv("FFB_SERVER_CPU"); cpu != "" { // for pinned benchmark runs
		args = append(args, "--cpu", cpu)
	}
	cmd := exec.Command(ffbBin(t), args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start ffb serve: %v", err)
	}
	s := &testServer{cmd: cmd, Socket: sock, done: make(chan struct{})}
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
		cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() { s.Stop() })
	select {
	case ok := <-ready:
		if !ok {
			t.Fatalf("ffb serve exited before printing ready")
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("ffb serve did not print ready within 10 s")
	}
	return s
}

// Stop ends the server gracefully (SIGTERM), forcefully after 5 s.
func (s *testServer) Stop() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}

// Kill ends the server with SIGKILL and waits for it.
func (s *testServer) Kill() {
	s.cmd.Process.Kill()
	<-s.done
}

// dial connects a client to s and closes it at the end of the test.
func dial(t testing.TB, s *testServer, opts ...ffb.Option) *ffb.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := ffb.Dial(ctx, s.Socket, opts...)
	if err != nil {
		t.Fatalf("Dial %s: %v", s.Socket, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
