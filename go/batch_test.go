// batch_test.go: CallBatch against a real `ffb serve` — more calls than
// the in-flight cap, mixed names and replies, per-call errors, several
// batches at once, deadlines, Close, and a dead server.

package ffb_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	ffb "github.com/ffi-bridge/ffi-bridge/go"
)

// echoBatch returns n calls of ffi.echo, each with its own 64-byte buffer
// stamped with base+k.
func echoBatch(t *testing.T, c *ffb.Client, n int, base uint64) []ffb.BatchCall {
	t.Helper()
	calls := make([]ffb.BatchCall, n)
	for k := range calls {
		buf, err := c.Alloc(64)
		if err != nil {
			t.Fatal(err)
		}
		binary.LittleEndian.PutUint64(buf.Bytes(), base+uint64(k))
		calls[k] = ffb.BatchCall{Name: "ffi.echo", In: buf}
	}
	return calls
}

func checkEchoed(t *testing.T, calls []ffb.BatchCall, base uint64) {
	t.Helper()
	for k, bc := range calls {
		if bc.Err != nil {
			t.Fatalf("call %d: %v", k, bc.Err)
		}
		if bc.Out != bc.In || binary.LittleEndian.Uint64(bc.Out.Bytes()) != base+uint64(k) {
			t.Fatalf("call %d: wrong echo", k)
		}
	}
}

func TestCallBatchMoreCallsThanInflight(t *testing.T) {
	c := dial(t, startServer(t))
	n := 2*c.MaxInflight() + 37
	calls := echoBatch(t, c, n, 1000)
	for round := 0; round < 3; round++ { // the same []BatchCall, reused
		if err := c.CallBatch(context.Background(), calls); err != nil {
			t.Fatal(err)
		}
		checkEchoed(t, calls, 1000)
	}
	for _, bc := range calls {
		if err := bc.In.Free(); err != nil {
			t.Fatalf("Free after the batch: %v", err)
		}
	}
	if st := c.Stats(); st.Pending != 0 || st.BlocksInUse != 0 || st.Calls != uint64(3*n) {
		t.Errorf("after the batches: got %+v, want no pending call, no block in use, %d calls", st, 3*n)
	}
}

func TestCallBatchMixedCallsAndErrors(t *testing.T) {
	c := dial(t, startServer(t))
	ctx := context.Background()
	mk := func(s string) *ffb.Buffer {
		b, err := c.FromBytes([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	freed := mk("freed")
	freed.Free()
	dup := mk("dup")
	calls := []ffb.BatchCall{
		{Name: "demo.upper", In: mk("abc")},
		{Name: "ffi.echo", In: mk("same")},
		{Name: "no.such.callback", In: mk("x")},
		{Name: "demo.fail", In: mk("x")},
		{Name: "ffi.echo", In: freed},
		{Name: "ffi.echo", In: dup},
		{Name: "ffi.echo", In: dup},
		{Name: "demo.reverse", In: mk("abc")},
		{Name: "ffi.echo"},
		{Name: "", In: mk("x")},
	}
	err := c.CallBatch(ctx, calls)
	if !errors.Is(err, ffb.ErrNotFound) {
		t.Errorf("CallBatch: got %v, want the first per-call error (NOT_FOUND)", err)
	}
	str := func(k int) string { return string(calls[k].Out.Bytes()) }
	if calls[0].Err != nil || str(0) != "ABC" || calls[0].Out == calls[0].In {
		t.Errorf("demo.upper: got (%v, %v)", calls[0].Out, calls[0].Err)
	}
	if calls[1].Err != nil || calls[1].Out != calls[1].In || str(1) != "same" {
		t.Errorf("ffi.echo: got (%v, %v)", calls[1].Out, calls[1].Err)
	}
	for k, want := range map[int]ffb.Code{2: ffb.CodeNotFound, 4: ffb.CodeStaleHandle, 6: ffb.CodeBusy, 9: ffb.CodeInvalidArgument} {
		if ffb.CodeOf(calls[k].Err) != want || calls[k].Out != nil {
			t.Errorf("call %d (%s): got (%v, %v), want %v", k, calls[k].Name, calls[k].Out, calls[k].Err, want)
		}
	}
	var fe *ffb.Error
	if !errors.As(calls[3].Err, &fe) || !strings.Contains(fe.Message, "failing on purpose") {
		t.Errorf("demo.fail: got %v", calls[3].Err)
	}
	if calls[5].Err != nil || calls[5].Out != dup {
		t.Errorf("first use of a buffer: got (%v, %v)", calls[5].Out, calls[5].Err)
	}
	if calls[7].Err != nil || str(7) != "cba" {
		t.Errorf("demo.reverse: got (%v, %v)", calls[7].Out, calls[7].Err)
	}
	if calls[8].Err != nil || calls[8].Out != nil {
		t.Errorf("echo of nil: got (%v, %v)", calls[8].Out, calls[8].Err)
	}
	for _, bc := range calls {
		if bc.Out != nil && bc.Out != bc.In {
			bc.Out.Free()
		}
		if bc.In != nil && bc.In != freed {
			bc.In.Free()
		}
	}
	if _, err := c.Version(ctx); err != nil { // flushes the RELEASEs
		t.Fatal(err)
	}
	if st := c.Stats(); st.Pending != 0 || st.BlocksInUse != 0 || st.ServerBlocksHeld != 0 {
		t.Errorf("after freeing everything: got %+v", st)
	}
}

func TestCallBatchConcurrentBatches(t *testing.T) {
	c := dial(t, startServer(t))
	const workers, rounds = 4, 20
	n := c.MaxInflight() // together the workers want 4x the in-flight cap
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		base := uint64(w) << 32
		calls := echoBatch(t, c, n, base)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < rounds; r++ {
				if err := c.CallBatch(context.Background(), calls); err != nil {
					errs <- err
					return
				}
				for k, bc := range calls {
					if bc.Out != bc.In || binary.LittleEndian.Uint64(bc.Out.Bytes()) != base+uint64(k) {
						errs <- fmt.Errorf("worker %d call %d: wrong echo", base>>32, k)
						return
					}
				}
			}
		}()
	}
	// A plain caller alongside the batches.
	buf, _ := c.FromBytes([]byte("solo"))
	for r := 0; r < 100; r++ {
		if out, err := c.Echo(context.Background(), buf); err != nil || out != buf {
			t.Fatalf("Echo beside the batches: (%v, %v)", out, err)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if st := c.Stats(); st.Pending != 0 {
		t.Errorf("after the batches: %d calls pending", st.Pending)
	}
}

func TestCallBatchDeadline(t *testing.T) {
	c := dial(t, startServer(t))
	ms := func(d uint32) *ffb.Buffer {
		b, _ := c.Alloc(4)
		binary.LittleEndian.PutUint32(b.Bytes(), d)
		return b
	}
	calls := []ffb.BatchCall{{Name: "demo.sleep", In: ms(500)}, {Name: "demo.sleep", In: ms(500)}}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	err := c.CallBatch(ctx, calls)
	if el := time.Since(t0); el > 400*time.Millisecond {
		t.Errorf("CallBatch returned after %v, want about the 100 ms deadline", el)
	}
	if !errors.Is(err, ffb.ErrTimeout) {
		t.Errorf("CallBatch: got %v, want TIMEOUT", err)
	}
	for k := range calls {
		if !errors.Is(calls[k].Err, ffb.ErrTimeout) {
			t.Errorf("call %d: got %v, want TIMEOUT", k, calls[k].Err)
		}
		if calls[k].In.Bytes() != nil {
			t.Errorf("call %d: a given-up input still exposes its bytes", k)
		}
	}
	// The late results come back and are reclaimed; the session goes on.
	deadline := time.Now().Add(5 * time.Second)
	for c.Stats().Pending != 0 && time.Now().Before(deadline) {
		if _, err := c.Version(context.Background()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st := c.Stats(); st.Pending != 0 || st.BlocksInUse != 0 {
		t.Errorf("late results not reclaimed (inputs still held): %+v", st)
	}
}

func TestCallBatchPeerGoneAndClosed(t *testing.T) {
	s := startServer(t)
	c := dial(t, s)
	calls := echoBatch(t, c, 8, 0)
	if err := c.CallBatch(context.Background(), calls); err != nil {
		t.Fatal(err)
	}
	s.Kill()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.CallBatch(ctx, calls); !errors.Is(err, ffb.ErrPeerGone) {
		t.Errorf("after the server died: got %v, want PEER_GONE", err)
	}
	for k, bc := range calls {
		if !errors.Is(bc.Err, ffb.ErrPeerGone) || bc.Out != nil {
			t.Errorf("call %d after the server died: got (%v, %v)", k, bc.Out, bc.Err)
		}
	}

	c2 := dial(t, startServer(t))
	calls2 := echoBatch(t, c2, 4, 0)
	c2.Close()
	if err := c2.CallBatch(context.Background(), calls2); !errors.Is(err, ffb.ErrClosed) {
		t.Errorf("after Close: got %v, want CLOSED", err)
	}
}

func TestCallBatchParked(t *testing.T) {
	for _, mode := range []struct {
		name string
		args []string
	}{{"futex", nil}, {"eventfd", []string{"--eventfd"}}} {
		t.Run(mode.name, func(t *testing.T) {
			c := dial(t, startServer(t, mode.args...), ffb.WithSpin(0))
			calls := echoBatch(t, c, 2*c.MaxInflight()+5, 7)
			if err := c.CallBatch(context.Background(), calls); err != nil {
				t.Fatal(err)
			}
			checkEchoed(t, calls, 7)
			// Slow calls: the batch sleeps until the server rings.
			slow := make([]ffb.BatchCall, 3)
			for k := range slow {
				in, _ := c.Alloc(4)
				binary.LittleEndian.PutUint32(in.Bytes(), 20)
				slow[k] = ffb.BatchCall{Name: "demo.sleep", In: in}
			}
			if err := c.CallBatch(context.Background(), slow); err != nil {
				t.Fatal(err)
			}
			if st := c.Stats(); st.Pending != 0 || st.Parks == 0 {
				t.Errorf("after parked batches: %+v, want no pending call and some parks", st)
			}
		})
	}
}
