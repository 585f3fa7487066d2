// dial_test.go: Dial's connect timeout covers connect() into a server whose
// listen backlog is full, as the C client's does.

package ffb_test

import (
	"context"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	ffb "github.com/ffi-bridge/ffi-bridge/go"
	"golang.org/x/sys/unix"
)

// fillBacklog connects to path without a hello until the backlog is full;
// the sockets are closed at the end of the test.
func fillBacklog(t *testing.T, path string) int {
	t.Helper()
	n := 0
	for ; n < 1024; n++ {
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := unix.Connect(fd, &unix.SockaddrUnix{Name: path}); err != nil {
			unix.Close(fd)
			if err != unix.EAGAIN {
				t.Fatalf("filling the backlog: %v", err)
			}
			break
		}
		t.Cleanup(func() { unix.Close(fd) })
	}
	if n == 1024 {
		t.Fatal("the backlog never filled")
	}
	return n
}

// Before issue 17 Dial failed at once with SYSTEM (EAGAIN): it never waited.
func TestDialTimesOutWhileTheBacklogStaysFull(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.sock")
	l, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(l)
	if err := unix.Bind(l, &unix.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(l, 0); err != nil { // never accepts
		t.Fatal(err)
	}
	fillBacklog(t, path)
	start := time.Now()
	_, err = ffb.Dial(context.Background(), path, ffb.WithConnectTimeout(300*time.Millisecond))
	took := time.Since(start)
	if ffb.CodeOf(err) != ffb.CodeTimeout || took < 250*time.Millisecond || took > 2*time.Second {
		t.Fatalf("Dial into a full backlog: got %v after %v, want TIMEOUT after about 300 ms", err, took)
	}
}

// A server frozen long enough for its backlog to fill, then thawed: a
// Dial made meanwhile gets in.
func TestDialGetsInOnceTheBacklogDrains(t *testing.T) {
	s := startServer(t)
	if err := s.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	thawed := false
	defer func() {
		if !thawed {
			s.cmd.Process.Signal(syscall.SIGCONT)
		}
	}()
	n := fillBacklog(t, s.Socket)
	done := make(chan error, 1)
	go func() {
		c, err := ffb.Dial(context.Background(), s.Socket, ffb.WithConnectTimeout(10*time.Second))
		if err == nil {
			_, err = c.Version(context.Background())
			c.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("Dial returned %v while the server was frozen with %d connections in its backlog", err, n)
	case <-time.After(300 * time.Millisecond):
	}
	s.cmd.Process.Signal(syscall.SIGCONT)
	thawed = true
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Dial after the backlog drained: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Dial did not return within 10 s of the thaw")
	}
}
