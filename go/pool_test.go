// pool_test.go: a real `ffb serve` doing real work -- a cancelled context
// reaches the handler, answers from other threads in any order reach
// their own calls, and a vector of slow pooled calls runs side by side.

package ffb_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	ffb "github.com/ffi-bridge/ffi-bridge/go"
)

func u32Buffer(t testing.TB, c *ffb.Client, v uint32) *ffb.Buffer {
	t.Helper()
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], v)
	buf, err := c.FromBytes(b[:])
	if err != nil {
		t.Fatal(err)
	}
	return buf
}

// cancelsSeen asks the server how many cancellations demo.wait saw.
func cancelsSeen(t testing.TB, c *ffb.Client) uint64 {
	t.Helper()
	out, err := c.Invoke(context.Background(), "demo.cancels", nil)
	if err != nil {
		t.Fatalf("demo.cancels: %v", err)
	}
	defer out.Free()
	return binary.LittleEndian.Uint64(out.Bytes())
}

func TestCancelledContextReachesTheHandler(t *testing.T) {
	s := startServer(t)
	c := dial(t, s)
	before := cancelsSeen(t, c)
	baseline := c.Stats().BlocksInUse
	in := u32Buffer(t, c, 5000) // demo.wait: up to 5 s, or until cancelled
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(30*time.Millisecond, cancel)
	t0 := time.Now()
	_, err := c.Invoke(ctx, "demo.wait", in)
	returned := time.Since(t0)
	if !errors.Is(err, context.Canceled) || !errors.Is(err, ffb.ErrClosed) {
		t.Fatalf("got %v, want the context's error (CLOSED wrapping context.Canceled)", err)
	}
	if returned > 500*time.Millisecond {
		t.Errorf("Invoke returned %v after its context was cancelled at 30 ms", returned)
	}
	// The handler saw the cancel and stopped early.
	deadline := time.Now().Add(2 * time.Second)
	for cancelsSeen(t, c) != before+1 {
		if time.Now().After(deadline) {
			t.Fatalf("demo.wait never saw its call cancelled")
		}
		time.Sleep(time.Millisecond)
	}
	if time.Since(t0) > 2*time.Second {
		t.Errorf("the handler stopped %v after the call, long after the cancel", time.Since(t0))
	}
	// The input comes back to the client only once the server is done with
	// it: the late answer frees it.
	for c.Stats().BlocksInUse != baseline || c.Stats().Pending != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the given-up input was never reclaimed: %+v", c.Stats())
		}
		c.Flush()
		c.Invoke(context.Background(), "ffi.version", nil)
		time.Sleep(time.Millisecond)
	}
	// A deadline tells the server too.
	tctx, tcancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer tcancel()
	if _, err := c.Invoke(tctx, "demo.wait", u32Buffer(t, c, 5000)); !errors.Is(err, ffb.ErrTimeout) {
		t.Fatalf("got %v, want TIMEOUT", err)
	}
	for cancelsSeen(t, c) != before+2 {
		if time.Now().After(deadline.Add(2 * time.Second)) {
			t.Fatalf("demo.wait never saw the timed-out call cancelled")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestDeferredAnswersOutOfOrder: 10^6 calls from 8 goroutines to
// demo.defer, which hands each call to one of two threads that answer
// batches in a shuffled order; every answer carries its own call's bytes,
// none is lost or doubled. (-race in make test.)
func TestDeferredAnswersOutOfOrder(t *testing.T) {
	total := 1_000_000
	if testing.Short() {
		total = 50_000
	}
	const goroutines, window = 8, 32
	s := startServer(t)
	c := dial(t, s)
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			errs <- deferCalls(c, g, total/goroutines, window)
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if st := c.Stats(); st.Pending != 0 || st.Dropped != 0 || st.ProtocolErrors != 0 {
		t.Fatalf("after every answer: %+v", st)
	}
}

// deferCalls keeps `window` calls of goroutine g in flight until n are
// answered, each tagged (g, i) and checked against its answer.
func deferCalls(c *ffb.Client, g, n, window int) error {
	ctx := context.Background()
	type slot struct {
		call ffb.Call
		buf  *ffb.Buffer
		tag  uint64
	}
	slots := make([]slot, window)
	for i := range slots {
		b, err := c.Alloc(8)
		if err != nil {
			return err
		}
		slots[i].buf = b
	}
	sent, done := 0, 0
	submit := func(s *slot) error {
		s.tag = uint64(g)<<40 | uint64(sent)
		binary.LittleEndian.PutUint64(s.buf.Bytes()[:8], s.tag)
		var err error
		s.call, err = c.Submit(ctx, "demo.defer", s.buf)
		sent++
		return err
	}
	for i := range slots {
		if err := submit(&slots[i]); err != nil {
			return err
		}
	}
	for done < n {
		for i := range slots {
			s := &slots[i]
			if s.call == (ffb.Call{}) {
				continue
			}
			out, err := s.call.Wait(ctx)
			if err != nil {
				return fmt.Errorf("goroutine %d call %x: %v", g, s.tag, err)
			}
			if out != s.buf || len(out.Bytes()) != 8 || binary.LittleEndian.Uint64(out.Bytes()) != s.tag {
				return fmt.Errorf("goroutine %d: call %x got another call's answer", g, s.tag)
			}
			done++
			s.call = ffb.Call{}
			if sent < n {
				if err := submit(s); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// TestVectorOfSlowPooledCallsRunsSideBySide: a CallBatch of 8 demo.sleep
// (50 ms each) answers in a few sleeps' time (the server's workers run
// them together), not in 400 ms, and every answer is right.
func TestVectorOfSlowPooledCallsRunsSideBySide(t *testing.T) {
	s := startServer(t, "--workers", "8")
	c := dial(t, s)
	calls := make([]ffb.BatchCall, 8)
	for i := range calls {
		calls[i] = ffb.BatchCall{Name: "demo.sleep", In: u32Buffer(t, c, 50)}
	}
	// The name is resolved on the first call: warm it up.
	if _, err := c.Invoke(context.Background(), "demo.sleep", u32Buffer(t, c, 0)); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	if err := c.CallBatch(context.Background(), calls); err != nil {
		t.Fatal(err)
	}
	took := time.Since(t0)
	for i, call := range calls {
		if call.Out != call.In || binary.LittleEndian.Uint32(call.Out.Bytes()) != 50 {
			t.Errorf("call %d: got %v, want its input back", i, call.Out)
		}
	}
	if took > 300*time.Millisecond {
		t.Errorf("8 pooled 50 ms sleeps in one vector took %v: want them side by side", took)
	}
	t.Logf("a CALLV of 8 x 50 ms pooled sleeps on 8 workers: %v", took)
}

// TestStoppedServerEndsKeptCalls: a server told to stop (SIGTERM) while
// calls wait in pooled and deferred handlers cancels them, answers every
// one CLOSED (or the client sees the goodbye: CLOSED too, or PEER_GONE),
// and exits cleanly.
func TestStoppedServerEndsKeptCalls(t *testing.T) {
	s := startServer(t)
	c := dial(t, s)
	ctx := context.Background()
	var calls []ffb.Call
	for i := 0; i < 4; i++ {
		call, err := c.Submit(ctx, "demo.wait", u32Buffer(t, c, 10000))
		if err != nil {
			t.Fatal(err)
		}
		calls = append(calls, call)
	}
	c.Flush()
	time.Sleep(50 * time.Millisecond) // they are waiting on workers
	t0 := time.Now()
	s.Stop()
	for i, call := range calls {
		_, err := call.Wait(ctx)
		if !errors.Is(err, ffb.ErrClosed) && !errors.Is(err, ffb.ErrPeerGone) {
			t.Errorf("call %d: got %v, want CLOSED or PEER_GONE", i, err)
		}
	}
	if took := time.Since(t0); took > 2*time.Second {
		t.Errorf("the calls ended %v after the stop", took)
	}
	if !s.cmd.ProcessState.Success() {
		t.Errorf("ffb serve exited with %v", s.cmd.ProcessState)
	}
}
