// lifecycle_test.go: deadlines and late responses, the server dying
// mid-call, Close, and Buffer misuse (use after free, double free,
// forgotten buffers).

package ffb_test

import (
	"context"
	"encoding/binary"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	ffb "github.com/ffi-bridge/ffi-bridge/go"
)

func sleepBuf(t *testing.T, c *ffb.Client, ms uint32) *ffb.Buffer {
	t.Helper()
	b, err := c.Alloc(4)
	if err != nil {
		t.Fatal(err)
	}
	binary.LittleEndian.PutUint32(b.Bytes(), ms)
	return b
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestTimeoutAndLateResponse(t *testing.T) {
	c := dial(t, startServer(t))
	base := c.Stats()
	in := sleepBuf(t, c, 300)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Invoke(ctx, "demo.sleep", in)
	if !errors.Is(err, ffb.ErrTimeout) {
		t.Fatalf("got %v, want TIMEOUT", err)
	}
	if el := time.Since(start); el > 250*time.Millisecond {
		t.Errorf("timeout took %v, want about 50 ms", el)
	}
	if in.Bytes() != nil {
		t.Errorf("a buffer given up to a timed-out call still exposes its bytes")
	}
	if err := in.Free(); !errors.Is(err, ffb.ErrStaleHandle) {
		t.Errorf("Free of a given-up buffer: got %v, want STALE_HANDLE", err)
	}
	// The late response is dropped and its block reclaimed; the session
	// keeps working and later calls get their own answers.
	waitFor(t, "the late response", func() bool {
		echo, _ := c.Alloc(1)
		c.Echo(context.Background(), echo)
		echo.Free()
		st := c.Stats()
		return st.Dropped == base.Dropped+1 && st.BlocksInUse == base.BlocksInUse && st.Pending == 0
	})
	out, err := c.Invoke(context.Background(), "demo.upper", mustBytes(t, c, "late"))
	if err != nil || string(out.Bytes()) != "LATE" {
		t.Fatalf("call after the late response: got (%q, %v)", out.Bytes(), err)
	}
	out.Free()
}

func mustBytes(t *testing.T, c *ffb.Client, s string) *ffb.Buffer {
	t.Helper()
	b, err := c.FromBytes([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Free() })
	return b
}

func TestServerKilledMidCall(t *testing.T) {
	for _, mode := range []struct {
		name string
		opts []ffb.Option
	}{{"park", nil}, {"spin-only", []ffb.Option{ffb.WithSpinOnly()}}} {
		t.Run(mode.name, func(t *testing.T) {
			before := runtime.NumGoroutine()
			s := startServer(t)
			c := dial(t, s, mode.opts...)
			const n = 8
			var wg sync.WaitGroup
			errs := make(chan error, n)
			for i := 0; i < n; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := c.Invoke(context.Background(), "demo.sleep", sleepBuf(t, c, 1000))
					errs <- err
				}()
			}
			time.Sleep(100 * time.Millisecond) // let the calls reach the server
			killed := time.Now()
			s.Kill()
			wg.Wait()
			if el := time.Since(killed); el > time.Second {
				t.Errorf("pending calls ended %v after the kill, want < 1 s", el)
			}
			close(errs)
			for err := range errs {
				if !errors.Is(err, ffb.ErrPeerGone) {
					t.Errorf("pending call: got %v, want PEER_GONE", err)
				}
			}
			if _, err := c.Echo(context.Background(), nil); !errors.Is(err, ffb.ErrPeerGone) {
				t.Errorf("call after the death: got %v, want PEER_GONE", err)
			}
			if err := c.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			waitFor(t, "goroutines to exit", func() bool { return runtime.NumGoroutine() <= before })
		})
	}
}

func TestGracefulStopSaysGoodbye(t *testing.T) {
	s := startServer(t)
	c := dial(t, s)
	s.Stop()
	waitFor(t, "the session to end", func() bool { return c.Err() != nil })
	if _, err := c.Echo(context.Background(), nil); !errors.Is(err, ffb.ErrClosed) && !errors.Is(err, ffb.ErrPeerGone) {
		t.Errorf("after SIGTERM: got %v, want CLOSED (goodbye) or PEER_GONE", err)
	}
	t.Logf("session ended with %v", c.Err())
}

func TestCloseFailsPendingCalls(t *testing.T) {
	s := startServer(t)
	before := runtime.NumGoroutine()
	c := dial(t, s)
	done := make(chan error, 1)
	go func() {
		_, err := c.Invoke(context.Background(), "demo.sleep", sleepBuf(t, c, 500))
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ffb.ErrClosed) {
			t.Errorf("pending call after Close: got %v, want CLOSED", err)
		}
	case <-time.After(time.Second):
		t.Fatal("pending call did not end after Close")
	}
	if err := c.Close(); !errors.Is(err, ffb.ErrClosed) {
		t.Errorf("second Close: got %v, want CLOSED", err)
	}
	if _, err := c.Alloc(8); !errors.Is(err, ffb.ErrClosed) {
		t.Errorf("Alloc after Close: got %v, want CLOSED", err)
	}
	waitFor(t, "goroutines to exit", func() bool { return runtime.NumGoroutine() <= before })
}

func TestBufferMisuse(t *testing.T) {
	c := dial(t, startServer(t))
	ctx := context.Background()
	b := mustBytes(t, c, "payload")
	h := b.Handle()
	if err := b.Free(); err != nil {
		t.Fatalf("Free: %v", err)
	}
	if err := b.Free(); !errors.Is(err, ffb.ErrDoubleFree) {
		t.Errorf("double Free: got %v, want DOUBLE_FREE", err)
	}
	if got := b.Bytes(); got != nil {
		t.Errorf("Bytes after Free: got %q, want nil", got)
	}
	if got := b.Len(); got != 0 {
		t.Errorf("Len after Free: got %d, want 0", got)
	}
	var v any
	if err := b.ToJSON(&v); !errors.Is(err, ffb.ErrStaleHandle) {
		t.Errorf("ToJSON after Free: got %v, want STALE_HANDLE", err)
	}
	if _, err := c.Echo(ctx, b); !errors.Is(err, ffb.ErrStaleHandle) {
		t.Errorf("Echo of a freed buffer: got %v, want STALE_HANDLE", err)
	}
	// The block is recycled under a new generation: the old Buffer still
	// cannot see it.
	b2, _ := c.FromBytes([]byte("someone else's data"))
	defer b2.Free()
	if b2.Handle() == h {
		t.Errorf("recycled block kept its handle %#x; the generation must change", h)
	}
	if b.Bytes() != nil {
		t.Errorf("freed Buffer reads a recycled block")
	}
	// Reply buffers: double free is caught locally, never sent to the server.
	out, err := c.Invoke(ctx, "demo.upper", b2)
	if err != nil {
		t.Fatal(err)
	}
	if err := out.Free(); err != nil {
		t.Fatalf("Free reply: %v", err)
	}
	if err := out.Free(); !errors.Is(err, ffb.ErrDoubleFree) {
		t.Errorf("double Free of a reply: got %v, want DOUBLE_FREE", err)
	}
	if _, err := c.Echo(ctx, b2); err != nil {
		t.Fatalf("session must survive buffer misuse: %v", err)
	}
	var nilBuf *ffb.Buffer
	if nilBuf.Bytes() != nil || nilBuf.Len() != 0 || nilBuf.Free() != nil {
		t.Errorf("nil Buffer methods must be safe")
	}
}

func TestForgottenBufferIsFreedByTheGC(t *testing.T) {
	c := dial(t, startServer(t))
	base := c.Stats().BlocksInUse
	func() {
		for i := 0; i < 10; i++ {
			if _, err := c.Alloc(100); err != nil {
				t.Fatal(err)
			}
		}
	}()
	if got := c.Stats().BlocksInUse; got != base+10 {
		t.Fatalf("blocks in use: got %d, want %d", got, base+10)
	}
	waitFor(t, "cleanups to free forgotten buffers", func() bool {
		runtime.GC()
		return c.Stats().BlocksInUse == base
	})
}

func TestDialRefusedAndMissing(t *testing.T) {
	s := startServer(t, "--max-sessions", "1")
	dial(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if c, err := ffb.Dial(ctx, s.Socket); !errors.Is(err, ffb.ErrTooManySessions) {
		if c != nil {
			c.Close()
		}
		t.Errorf("second session over a cap of 1: got %v, want TOO_MANY_SESSIONS", err)
	}
	if _, err := ffb.Dial(ctx, s.Socket+".missing"); !errors.Is(err, ffb.ErrSystem) {
		t.Errorf("no listener: got %v, want SYSTEM", err)
	}
}

// TestParkedCallsAreWokenByTheServer: a parked client must be woken by the
// server's client-bell write (PROTOCOL.md §6), not by its own bounded
// re-check. Stats.MissedWakeups counts sleeps that ended by timeout while
// results sat unannounced in the ring.
func TestParkedCallsAreWokenByTheServer(t *testing.T) {
	for _, mode := range []struct {
		name string
		args []string
	}{{"futex", nil}, {"eventfd", []string{"--eventfd"}}} {
		t.Run(mode.name, func(t *testing.T) {
			c := dial(t, startServer(t, mode.args...), ffb.WithSpin(0))
			buf := mustBytes(t, c, "park")
			for i := 0; i < 50; i++ {
				if _, err := c.Echo(context.Background(), buf); err != nil {
					t.Fatal(err)
				}
			}
			st := c.Stats()
			if st.Parks == 0 {
				t.Errorf("parks: got 0, want the client to have slept")
			}
			if st.MissedWakeups != 0 {
				t.Errorf("missed wake-ups: got %d of %d parks, want 0 (the server published results without ringing the client bell)", st.MissedWakeups, st.Parks)
			}
		})
	}
}

func TestCloseWhileSpinning(t *testing.T) {
	s := startServer(t)
	for round := 0; round < 5; round++ {
		c := dial(t, s, ffb.WithSpinOnly())
		var wg sync.WaitGroup
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				b, err := c.Alloc(64)
				if err != nil {
					return
				}
				for {
					if _, err := c.Echo(context.Background(), b); err != nil {
						if !errors.Is(err, ffb.ErrClosed) {
							t.Errorf("echo racing Close: got %v, want CLOSED", err)
						}
						return
					}
				}
			}()
		}
		time.Sleep(20 * time.Millisecond)
		if err := c.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		wg.Wait()
	}
}
