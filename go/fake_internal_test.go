// fake_internal_test.go tests ring, registry, dispatch and buffer logic
// against the in-process fake server (no C server needed).

package ffb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func echoLoop(t *testing.T, c *Client, goroutines, calls int) {
	t.Helper()
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			buf, err := c.Alloc(16)
			if err != nil {
				errs <- err
				return
			}
			defer buf.Free()
			for i := 0; i < calls; i++ {
				want := fmt.Sprintf("g%04d call%06d", g, i)[:16]
				copy(buf.Bytes(), want)
				out, err := c.Echo(ctx, buf)
				if err != nil {
					errs <- err
					return
				}
				if out != buf || string(out.Bytes()) != want {
					errs <- fmt.Errorf("goroutine %d call %d: got %q (same buffer %v), want %q", g, i, out.Bytes(), out == buf, want)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestFakeEchoSpinAndPark(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    options
	}{
		{"spin", options{spin: time.Millisecond}},
		{"park", options{spin: 0}},
		{"spin-only", options{spinOnly: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fa := newFakeArena(t, 64, 32, 4, 128)
			c, _ := newFakeClient(t, fa, tc.o, nil)
			echoLoop(t, c, 64, 50)
			if got := c.Stats().BlocksInUse; got != 0 {
				t.Errorf("blocks in use after the test: got %d, want 0", got)
			}
			if got := c.Stats().Pending; got != 0 {
				t.Errorf("pending slots: got %d, want 0", got)
			}
		})
	}
}

func TestFakeIndicesWrapAround(t *testing.T) {
	fa := newFakeArena(t, 8, 8, 2, 16)
	fa.setIndices(^uint32(0) - 20)
	c, _ := newFakeClient(t, fa, options{spin: time.Millisecond}, nil)
	echoLoop(t, c, 4, 40)
}

func TestFakeTimeoutThenLateResponse(t *testing.T) {
	fa := newFakeArena(t, 16, 8, 2, 16)
	c, fs := newFakeClient(t, fa, options{spin: 10 * time.Microsecond}, func(fs *fakeServer, e ringEntry) (ringEntry, bool) {
		out := ringEntry{callID: e.callID, handle: e.handle, len: e.len, kind: kindResult}
		if e.len == 5 { // "late!": answer with a server block, 100 ms later
			out.handle, out.len = fa.serverHandle(3, 0, 1), 4
			fs.sendLater(out, 100*time.Millisecond)
			return out, false
		}
		return out, true
	})
	buf, _ := c.FromBytes([]byte("late!"))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := c.Echo(ctx, buf)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("got %v, want TIMEOUT", err)
	}
	if got := buf.Bytes(); got != nil {
		t.Errorf("given-up buffer exposes %d bytes, want nil", len(got))
	}
	if err := buf.Free(); !errors.Is(err, ErrStaleHandle) {
		t.Errorf("Free of a given-up buffer: got %v, want STALE_HANDLE", err)
	}
	// The late answer frees the request block and RELEASEs the server block.
	deadline := time.Now().Add(2 * time.Second)
	for {
		c.tryDrain()
		st := c.Stats()
		if st.BlocksInUse == 0 && st.Pending == 0 && st.ServerBlocksHeld == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("late response not reclaimed: %+v", st)
		}
		time.Sleep(time.Millisecond)
	}
	// The RELEASE rides with the next call.
	b2, _ := c.FromBytes([]byte("ok"))
	if _, err := c.Echo(context.Background(), b2); err != nil {
		t.Fatalf("echo after late response: %v", err)
	}
	time.Sleep(10 * time.Millisecond)
	fs.mu.Lock()
	rel, cancels := fs.release, fs.cancel
	fs.mu.Unlock()
	if rel != 1 {
		t.Errorf("RELEASE entries seen by the server: got %d, want 1", rel)
	}
	if cancels != 1 {
		t.Errorf("CANCEL entries seen by the server: got %d, want 1 (for the call that timed out)", cancels)
	}
}

func TestFakeServerBlockLifecycle(t *testing.T) {
	fa := newFakeArena(t, 16, 8, 2, 16)
	var next uint32
	c, fs := newFakeClient(t, fa, options{spin: time.Millisecond}, func(fs *fakeServer, e ringEntry) (ringEntry, bool) {
		next++
		copy(fa.arena[fa.layout.heaps[1].classes[0].offset+uint64(next%16)*64:], "REPLY")
		return ringEntry{callID: e.callID, handle: fa.serverHandle(9, 0, next%16), len: 5, kind: kindResult}, true
	})
	in, _ := c.FromBytes([]byte("x"))
	out, err := c.Echo(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if out == in || !bytes.Equal(out.Bytes(), []byte("REPLY")) {
		t.Fatalf("got %q (same buffer %v), want a new buffer holding REPLY", out.Bytes(), out == in)
	}
	if err := out.Free(); err != nil {
		t.Fatalf("first Free: %v", err)
	}
	if err := out.Free(); !errors.Is(err, ErrDoubleFree) {
		t.Fatalf("second Free: got %v, want DOUBLE_FREE", err)
	}
	if c.heaps.give(out.h) == nil {
		t.Fatal("heaps accepted a second release of the same server block")
	}
	c.flushReleases()
	time.Sleep(10 * time.Millisecond)
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.release != 1 {
		t.Errorf("RELEASE entries: got %d, want exactly 1", fs.release)
	}
}

func TestFakeHostileResults(t *testing.T) {
	fa := newFakeArena(t, 16, 8, 2, 16)
	var mode atomic.Int32 // the fake server runs on another goroutine
	c, _ := newFakeClient(t, fa, options{spin: time.Millisecond}, func(fs *fakeServer, e ringEntry) (ringEntry, bool) {
		out := ringEntry{callID: e.callID, handle: e.handle, len: e.len, kind: kindResult}
		switch mode.Load() {
		case 1: // a forged call id first, then the real answer
			fs.push(ringEntry{callID: e.callID + 1<<32, kind: kindResult})
			fs.push(ringEntry{callID: 12345, kind: kindResult})
		case 2: // a client block the client did not lend
			out.handle = makeHandle(1, fa.tag, heapClient, 1, 3)
		case 3: // a foreign tag
			out.handle = makeHandle(1, fa.tag+1, heapServer, 0, 0)
		case 4: // zero-copy reply longer than the block
			out.len = 1 << 20
		}
		return out, true
	})
	for _, tc := range []struct {
		mode    int
		wantErr *Error
	}{{1, nil}, {2, ErrProtocol}, {3, ErrProtocol}, {4, ErrProtocol}, {0, nil}} {
		mode.Store(int32(tc.mode))
		buf, _ := c.FromBytes([]byte("abc"))
		out, err := c.Echo(context.Background(), buf)
		if tc.wantErr == nil && (err != nil || out != buf) {
			t.Errorf("mode %d: got (%v, %v), want the echo", tc.mode, out, err)
		}
		if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
			t.Errorf("mode %d: got %v, want %v", tc.mode, err, tc.wantErr)
		}
		if err := buf.Free(); err != nil {
			t.Errorf("mode %d: free after the call: %v", tc.mode, err)
		}
	}
	if got := c.Stats().Dropped; got != 2 {
		t.Errorf("dropped results: got %d, want 2", got)
	}
	if c.Err() != nil {
		t.Errorf("per-call violations must not end the session: %v", c.Err())
	}
}

func TestFakeCorruptTailFailsSession(t *testing.T) {
	fa := newFakeArena(t, 16, 8, 2, 16)
	c, _ := newFakeClient(t, fa, options{spin: time.Millisecond}, func(fs *fakeServer, e ringEntry) (ringEntry, bool) {
		atomic.AddUint32(fs.resp.pTail, 1000) // a tail far beyond the ring
		fs.bell.Write(bellOne[:])             // and wake a parked client
		return ringEntry{}, false
	})
	buf, _ := c.Alloc(8)
	_, err := c.Echo(context.Background(), buf)
	if !errors.Is(err, ErrProtocol) {
		t.Fatalf("got %v, want PROTOCOL", err)
	}
	if _, err := c.Alloc(8); !errors.Is(err, ErrProtocol) {
		t.Fatalf("Alloc after the violation: got %v, want PROTOCOL", err)
	}
}

func TestFakeInflightCap(t *testing.T) {
	fa := newFakeArena(t, 16, 2, 2, 64)
	c, _ := newFakeClient(t, fa, options{spin: time.Millisecond}, nil)
	var calls []Call
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		b, _ := c.Alloc(4)
		call, err := c.Submit(ctx, "ffi.echo", b)
		if err != nil {
			t.Fatal(err)
		}
		calls = append(calls, call)
	}
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	b, _ := c.Alloc(4)
	if _, err := c.Submit(short, "ffi.echo", b); !errors.Is(err, ErrTimeout) {
		t.Fatalf("third submit over a cap of 2: got %v, want TIMEOUT", err)
	}
	for _, call := range calls {
		if _, err := call.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Submit(ctx, "ffi.echo", b); err != nil {
		t.Fatalf("submit after the cap freed: %v", err)
	}
}

func TestFakeOutOfOrderResponses(t *testing.T) {
	fa := newFakeArena(t, 32, 16, 2, 32)
	var held []ringEntry
	c, _ := newFakeClient(t, fa, options{spin: time.Millisecond}, func(fs *fakeServer, e ringEntry) (ringEntry, bool) {
		held = append(held, ringEntry{callID: e.callID, handle: e.handle, len: e.len, kind: kindResult})
		if len(held) == 8 { // answer the batch backwards
			for i := len(held) - 1; i >= 0; i-- {
				fs.push(held[i])
			}
			held = held[:0]
		}
		return ringEntry{}, false
	})
	ctx := context.Background()
	for round := 0; round < 5; round++ {
		var calls [8]Call
		var bufs [8]*Buffer
		for i := range calls {
			bufs[i], _ = c.FromBytes([]byte{byte(round), byte(i)})
			var err error
			if calls[i], err = c.Submit(ctx, "ffi.echo", bufs[i]); err != nil {
				t.Fatal(err)
			}
		}
		for i, call := range calls {
			out, err := call.Wait(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if out != bufs[i] || out.Bytes()[1] != byte(i) {
				t.Fatalf("round %d call %d: got %v, want its own buffer", round, i, out.Bytes())
			}
			out.Free()
		}
	}
}

func TestFakeReResolveOnNotFound(t *testing.T) {
	fa := newFakeArena(t, 16, 8, 2, 16)
	var lookups, current atomic.Uint32
	current.Store(0x20002)
	c, _ := newFakeClient(t, fa, options{spin: time.Millisecond}, func(fs *fakeServer, e ringEntry) (ringEntry, bool) {
		out := ringEntry{callID: e.callID, handle: e.handle, len: e.len, kind: kindResult}
		switch {
		case e.kind == kindLookup:
			lookups.Add(1)
			out.handle, out.len = 0, current.Load() // OK: the function id in len
		case e.fnOrStatus != current.Load():
			// no function of that id: NOT_FOUND with no message
			out.handle, out.len, out.fnOrStatus = 0, 0, uint32(CodeNotFound)
		}
		return out, true
	})
	ctx := context.Background()
	b, _ := c.FromBytes([]byte("v"))
	if _, err := c.Invoke(ctx, "my.handler", b); err != nil {
		t.Fatalf("first call: %v", err)
	}
	if _, err := c.Invoke(ctx, "my.handler", b); err != nil {
		t.Fatalf("cached call: %v", err)
	}
	if got := lookups.Load(); got != 1 {
		t.Fatalf("lookups after two calls: got %d, want 1 (cached)", got)
	}
	current.Store(0x30002) // re-registered under a new generation
	if _, err := c.Invoke(ctx, "my.handler", b); err != nil {
		t.Fatalf("call after re-registration: got %v, want a transparent re-resolve", err)
	}
	if got := lookups.Load(); got != 2 {
		t.Errorf("lookups: got %d, want 2", got)
	}
}

func TestFakeHostileBellCannotBlockTheClient(t *testing.T) {
	fa := newFakeArena(t, 16, 8, 2, 16)
	c, fs := newFakeClient(t, fa, options{spin: 0}, func(fs *fakeServer, e ringEntry) (ringEntry, bool) {
		// Ring the client, then take the count back before the client
		// reads it, on a bell whose shared O_NONBLOCK we cleared.
		fs.push(ringEntry{callID: e.callID, handle: e.handle, len: e.len, kind: kindResult})
		var b [8]byte
		unix.Preadv2(int(fs.bell.Fd()), [][]byte{b[:]}, -1, unix.RWF_NOWAIT)
		return ringEntry{}, false
	})
	if err := unix.SetNonblock(int(fs.bell.Fd()), false); err != nil {
		t.Fatal(err)
	}
	buf, _ := c.Alloc(8)
	for i := 0; i < 20; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		_, err := c.Echo(ctx, buf)
		cancel()
		if err != nil && !errors.Is(err, ErrTimeout) {
			t.Fatalf("call %d: got %v, want success or TIMEOUT", i, err)
		}
		if err != nil {
			break // the buffer was given up
		}
	}
	closed := make(chan struct{})
	go func() { c.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(2 * time.Second):
		t.Fatal("Close blocked: a bell read is stuck in the kernel")
	}
}
