// start_test.go runs real `ffb serve` children with ffb.Start: ready and
// serving, logs, Close's exit report, the child's death with a SIGKILLed
// parent (a re-executed test binary), a crash and its restart, and that
// no socket file is left anywhere.

package ffb_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	ffb "github.com/ffi-bridge/ffi-bridge/go"
	"golang.org/x/sys/unix"
)

// startParentEnv makes the test binary a parent that Starts `ffb serve`
// (its path is the variable's value), prints the child's pid and waits.
const startParentEnv = "FFB_TEST_START_PARENT"

func startParentMain() int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.Command(os.Getenv(startParentEnv), "serve")
	cmd.Dir = os.Getenv("TMPDIR") // the test checks it stays empty
	p, err := ffb.Start(ctx, cmd, ffb.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	fmt.Println("pid", p.Pid())
	time.Sleep(time.Minute) // until the test kills us
	return 0
}

// logSink is an slog.Handler that keeps every record's message and attrs.
type logSink struct {
	mu    sync.Mutex
	lines []string
}

func (s *logSink) Enabled(context.Context, slog.Level) bool { return true }
func (s *logSink) WithAttrs([]slog.Attr) slog.Handler       { return s }
func (s *logSink) WithGroup(string) slog.Handler            { return s }
func (s *logSink) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true })
	s.mu.Lock()
	s.lines = append(s.lines, b.String())
	s.mu.Unlock()
	return nil
}

func (s *logSink) find(prefix string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.lines {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

// serveCmd is `ffb serve` run in an empty temp dir, which it must leave
// empty (the socket is abstract).
func serveCmd(t *testing.T) *exec.Cmd {
	dir := t.TempDir()
	t.Cleanup(func() {
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Errorf("files left in the child's dir: %v", ents)
		}
	})
	cmd := exec.Command(ffbBin(t), "serve", "--workers", "1")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TMPDIR="+dir)
	return cmd
}

func start(t *testing.T, cmd *exec.Cmd, opts ...ffb.StartOption) *ffb.Process {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	t0 := time.Now()
	p, err := ffb.Start(ctx, cmd, opts...)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Logf("Start to ready: %v", time.Since(t0))
	return p
}

func echo(t *testing.T, c *ffb.Client, msg string) error {
	t.Helper()
	in, err := c.FromBytes([]byte(msg))
	if err != nil {
		return err
	}
	defer in.Free()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := c.Invoke(ctx, "demo.upper", in)
	if err != nil {
		return err
	}
	defer out.Free()
	if got, want := string(out.Bytes()), strings.ToUpper(msg); got != want {
		t.Errorf("demo.upper(%q): got %q, want %q", msg, got, want)
	}
	return nil
}

func TestStartServesLogsAndClosesClean(t *testing.T) {
	sink := &logSink{}
	p := start(t, serveCmd(t), ffb.WithLogger(slog.New(sink)))
	if err := echo(t, p.Client(), "started"); err != nil {
		t.Fatalf("call: %v", err)
	}
	if !strings.HasPrefix(p.Addr(), "@") {
		t.Errorf("Addr: got %q, want an abstract address", p.Addr())
	}
	st, err := p.Stats(context.Background())
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	if st.SessionsActive != 1 || st.Results[ffb.CodeOK] < 1 {
		t.Errorf("Stats: %d sessions active, %d calls OK; want 1 and at least the echo", st.SessionsActive, st.Results[ffb.CodeOK])
	}
	if err := p.Close(); err != nil {
		t.Errorf("Close: got %v, want nil (a clean exit)", err)
	}
	if err := p.Close(); !errors.Is(err, ffb.ErrClosed) {
		t.Errorf("second Close: got %v, want ErrClosed", err)
	}
	// The ready line arrives before the handshake completes; the stop
	// line before Wait returned, which Close waited for.
	for _, want := range []string{"ready: ffb", "ffb serve: stopped: 1 sessions"} {
		if l := sink.find(want); !strings.Contains(l, "stream=stdout") {
			t.Errorf("no log record %q with stream=stdout; got %q", want, sink.lines)
		}
	}
}

func TestStartReportsUncleanExit(t *testing.T) {
	cmd := serveCmd(t)
	cmd.Args = append(cmd.Args, "--no-such-flag")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sink := &logSink{}
	_, err := ffb.Start(ctx, cmd, ffb.WithLogger(slog.New(sink)))
	var ee *exec.ExitError
	if !errors.Is(err, ffb.ErrPeerGone) || !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("Start of a failing server: got %v, want PEER_GONE with exit status 2", err)
	}
	if sink.find("usage: ffb serve") == "" {
		t.Errorf("the child's usage on stderr did not reach the logger: %q", sink.lines)
	}
}

func TestStartParentKilledChildGone(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	parent := exec.Command(self)
	parent.Env = append(os.Environ(), startParentEnv+"="+ffbBin(t), "TMPDIR="+dir)
	parent.Stderr = os.Stderr
	out, _ := parent.StdoutPipe()
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	defer parent.Wait()
	defer parent.Process.Kill()
	line, _ := bufio.NewReader(out).ReadString('\n')
	pid, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "pid ")))
	if err != nil {
		t.Fatalf("parent said %q", line)
	}
	if !alive(pid) {
		t.Fatalf("child %d not running before the parent is killed", pid)
	}
	t0 := time.Now()
	parent.Process.Signal(syscall.SIGKILL)
	for alive(pid) {
		if time.Since(t0) > time.Second {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("child %d still alive 1 s after its parent's SIGKILL", pid)
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Logf("parent SIGKILLed -> child gone in %v", time.Since(t0))
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("files left in the child's dir: %v", ents)
	}
}

// alive: pid exists and is not a zombie (a reparented child may wait to
// be reaped).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i > 0 && i+2 < len(b) && b[i+2] != 'Z' && b[i+2] != 'X'
}

func TestStartRestartAfterCrash(t *testing.T) {
	p := start(t, serveCmd(t), ffb.WithLogger(slog.New(&logSink{})),
		ffb.WithRestart(ffb.RestartPolicy{Backoff: 10 * time.Millisecond}))
	defer p.Close()
	old, oldPid := p.Client(), p.Pid()
	in, err := old.FromBytes([]byte{0xe8, 0x03, 0, 0}) // demo.sleep 1000 ms
	if err != nil {
		t.Fatal(err)
	}
	call, err := old.Submit(context.Background(), "demo.sleep", in)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // the call reaches its worker
	syscall.Kill(oldPid, syscall.SIGKILL)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := call.Wait(ctx); !errors.Is(err, ffb.ErrPeerGone) {
		t.Errorf("pending call across the crash: got %v, want PEER_GONE", err)
	}
	t0 := time.Now()
	for p.Client() == old {
		if time.Since(t0) > 5*time.Second {
			t.Fatalf("no new client 5 s after the crash")
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("crash -> new client in %v", time.Since(t0))
	if p.Pid() == oldPid {
		t.Errorf("Pid after restart: still %d", oldPid)
	}
	if err := echo(t, p.Client(), "restarted"); err != nil {
		t.Errorf("call after restart: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("Close after restart: %v", err)
	}
}

func TestStartCrashWithoutRestartEnds(t *testing.T) {
	p := start(t, serveCmd(t), ffb.WithLogger(slog.New(&logSink{})))
	syscall.Kill(p.Pid(), syscall.SIGKILL)
	select {
	case <-p.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed after the crash")
	}
	if err := echo(t, p.Client(), "x"); !errors.Is(err, ffb.ErrPeerGone) {
		t.Errorf("call after the crash: got %v, want PEER_GONE", err)
	}
	var ee *exec.ExitError
	if err := p.Close(); !errors.As(err, &ee) {
		t.Errorf("Close after a crash: got %v, want the exit status", err)
	}
}

func TestStartServeRefusesNonListeningFD(t *testing.T) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET, 0) // never listens
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "not-listening")
	defer f.Close()
	cmd := exec.Command(ffbBin(t), "serve")
	cmd.ExtraFiles = []*os.File{f}
	cmd.Env = append(os.Environ(), "FFB_LISTEN_FD=3")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Errorf("ffb serve on a non-listening fd: got %v, want exit status 1", err)
	}
	if !strings.Contains(stderr.String(), "FFB_LISTEN_FD is not a listening Unix SOCK_SEQPACKET socket") {
		t.Errorf("stderr: got %q, want it to say the fd is not a listening socket", stderr.String())
	}
}

func TestDialRetryWaitsForTheServer(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "late.sock")
	if len(sock) >= 100 {
		t.Skip("temp dir too long for a socket path")
	}
	if _, err := ffb.Dial(context.Background(), sock); err == nil {
		t.Fatal("Dial without retry on a missing socket: got nil error")
	}
	cmd := exec.Command(ffbBin(t), "serve", "--socket", sock, "--workers", "1")
	started := make(chan error, 1)
	go func() {
		time.Sleep(100 * time.Millisecond)
		started <- cmd.Start()
	}()
	defer func() {
		if <-started == nil {
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := ffb.Dial(ctx, sock, ffb.WithDialRetry(5*time.Second))
	if err != nil {
		t.Fatalf("Dial with retry: %v", err)
	}
	c.Close()
}

func TestStartCloseKillsAfterTheGracePeriod(t *testing.T) {
	// sh ignores SIGTERM and keeps ffb serve as its child, which its own
	// death signal then stops (the wrapper case of FFB_PARENT_PID).
	cmd := serveCmd(t)
	cmd.Args = []string{"sh", "-c", `trap "" TERM; "$0" serve --workers 1; exit 0`, cmd.Path}
	cmd.Path = "/bin/sh"
	p := start(t, cmd, ffb.WithLogger(slog.New(&logSink{})), ffb.WithGracePeriod(200*time.Millisecond))
	if err := echo(t, p.Client(), "wrapped"); err != nil {
		t.Fatalf("call through a wrapper: %v", err)
	}
	t0 := time.Now()
	err := p.Close()
	if took := time.Since(t0); took < 200*time.Millisecond || took > 3*time.Second {
		t.Errorf("Close took %v, want the 200 ms grace period and a little", took)
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || !strings.Contains(err.Error(), "killed after the grace period") {
		t.Errorf("Close of a child that ignores SIGTERM: got %v, want killed after the grace period", err)
	}
}
