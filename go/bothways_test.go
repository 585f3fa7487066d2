// bothways_test.go: the server calls this client's handlers (PROTOCOL.md
// §5.8) and streams go both ways (§5.7), against a real `ffb serve`:
// demo.back calls the handler a call names, demo.count streams u64s to
// the caller, demo.sum_stream consumes a stream of a client handler's.

package ffb_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ffb "github.com/ffi-bridge/ffi-bridge/go"
)

// back asks the server to call the client handler name with payload.
func back(ctx context.Context, t *testing.T, c *ffb.Client, name string, payload []byte) ([]byte, error) {
	t.Helper()
	in, err := c.FromBytes(append([]byte(name+"\n"), payload...))
	if err != nil {
		return nil, err
	}
	defer in.Free()
	out, err := c.Invoke(ctx, "demo.back", in)
	if err != nil {
		return nil, err
	}
	defer out.Free()
	return bytes.Clone(out.Bytes()), nil
}

func TestServerCallsAHandler(t *testing.T) {
	s := startServer(t)
	c := dial(t, s)
	err := c.Handle("go.upper", func(ctx context.Context, req *ffb.Request) (*ffb.Buffer, error) {
		return req.Client().FromBytes(bytes.ToUpper(req.Bytes()))
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := back(context.Background(), t, c, "go.upper", []byte("hello, shell"))
	if err != nil || string(got) != "HELLO, SHELL" {
		t.Fatalf("got %q, %v; want HELLO, SHELL", got, err)
	}
	// An empty answer and an empty input.
	c.Handle("go.empty", func(ctx context.Context, req *ffb.Request) (*ffb.Buffer, error) {
		if req.Len() != 0 {
			return nil, &ffb.Error{Code: ffb.CodeInvalidArgument, Message: "want no input"}
		}
		return nil, nil
	})
	if got, err := back(context.Background(), t, c, "go.empty", nil); err != nil || len(got) != 0 {
		t.Fatalf("go.empty: %q, %v", got, err)
	}
	// Nothing is held once the calls are over, on either heap.
	waitFor(t, "blocks to come back", func() bool {
		st := c.Stats()
		return st.BlocksInUse == 0 && st.ServerBlocksHeld == 0
	})
}

func TestHandlerErrorsCross(t *testing.T) {
	s := startServer(t)
	c := dial(t, s)
	c.Handle("go.refuse", func(ctx context.Context, req *ffb.Request) (*ffb.Buffer, error) {
		return nil, &ffb.Error{Code: ffb.CodePermissionDenied, Message: "not for " + string(req.Bytes())}
	})
	c.Handle("go.plain", func(ctx context.Context, req *ffb.Request) (*ffb.Buffer, error) {
		return nil, errors.New("a plain error")
	})
	c.Handle("go.panic", func(ctx context.Context, req *ffb.Request) (*ffb.Buffer, error) {
		panic("the shell fell over")
	})
	other := dial(t, s)
	c.Handle("go.foreign", func(ctx context.Context, req *ffb.Request) (*ffb.Buffer, error) {
		return other.FromBytes([]byte("a block of another session's"))
	})
	cases := []struct {
		name string
		code ffb.Code
		msg  string
	}{
		{"go.refuse", ffb.CodePermissionDenied, "not for you"},
		{"go.plain", ffb.CodeUnknown, "a plain error"},
		{"go.panic", ffb.CodePanic, "the shell fell over"},
		{"go.foreign", ffb.CodeInvalidArgument, ""},
		{"go.nobody", ffb.CodeNotFound, ""},
	}
	for _, tc := range cases {
		_, err := back(context.Background(), t, c, tc.name, []byte("you"))
		var e *ffb.Error
		if !errors.As(err, &e) || e.Code != tc.code || !strings.Contains(e.Message, tc.msg) {
			t.Errorf("%s: got %v, want %v with %q", tc.name, err, tc.code, tc.msg)
		}
	}
	// The client lives on: a handler still answers, and so does the server.
	c.Handle("go.ok", func(ctx context.Context, req *ffb.Request) (*ffb.Buffer, error) {
		return req.Client().FromBytes([]byte("ok"))
	})
	if got, err := back(context.Background(), t, c, "go.ok", []byte("x")); err != nil || string(got) != "ok" {
		t.Fatalf("after the panic: %q, %v", got, err)
	}
	// Unhandle: the next call finds nothing.
	if err := c.Unhandle("go.ok"); err != nil {
		t.Fatal(err)
	}
	if _, err := back(context.Background(), t, c, "go.ok", []byte("x")); ffb.CodeOf(err) != ffb.CodeNotFound {
		t.Fatalf("after Unhandle: %v, want NOT_FOUND", err)
	}
	if st := c.Stats(); st.ProtocolErrors != 0 {
		t.Fatalf("protocol errors: %+v", st)
	}
}

// 10^6 server->client calls interleaved with as many client->server
// calls, from 8 goroutines: each answer reaches its own request.
func TestReverseCallsInterleaved(t *testing.T) {
	total := 1_000_000
	if testing.Short() {
		total = 100_000
	}
	const workers = 8
	s := startServer(t)
	c := dial(t, s)
	var handled atomic.Int64
	c.Handle("go.tag", func(ctx context.Context, req *ffb.Request) (*ffb.Buffer, error) {
		handled.Add(1)
		b, err := req.Client().Alloc(req.Len() + 1)
		if err != nil {
			return nil, err
		}
		n := copy(b.Bytes(), req.Bytes())
		b.Bytes()[n] = '!'
		return b, nil
	})
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			ctx := context.Background()
			msg := make([]byte, 16)
			for i := 0; i < total/workers; i++ {
				binary.LittleEndian.PutUint64(msg, uint64(w))
				binary.LittleEndian.PutUint64(msg[8:], uint64(i))
				// Forward: the server echoes.
				in, err := c.FromBytes(msg)
				if err != nil {
					errs <- err
					return
				}
				out, err := c.Invoke(ctx, "ffi.echo", in)
				if err != nil || !bytes.Equal(out.Bytes(), msg) {
					errs <- fmt.Errorf("worker %d call %d: echo %v", w, i, err)
					return
				}
				out.Free()
				in.Free()
				// Back: the server calls go.tag with the same bytes.
				got, err := back(ctx, t, c, "go.tag", msg)
				if err != nil || len(got) != 17 || !bytes.Equal(got[:16], msg) || got[16] != '!' {
					errs <- fmt.Errorf("worker %d call %d: back got %x, %v", w, i, got, err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if h := handled.Load(); h != int64(total/workers*workers) {
		t.Fatalf("handled %d server calls, want %d", h, total)
	}
	waitFor(t, "blocks to come back", func() bool {
		st := c.Stats()
		return st.BlocksInUse == 0 && st.ServerBlocksHeld == 0
	})
	if st := c.Stats(); st.Dropped != 0 || st.ProtocolErrors != 0 {
		t.Fatalf("dropped or broken: %+v", st)
	}
}

// Go -> server -> Go -> server -> Go -> server (demo.wait), each with its
// own deadline; cancelling the outer call cancels every inner one, down
// to the server's handler at the bottom.
func TestNestedCallsCancelInward(t *testing.T) {
	s := startServer(t)
	c := dial(t, s)
	before := cancelsSeen(t, c)
	var ended sync.WaitGroup
	ended.Add(2)
	nest := func(inner string, payload func(*ffb.Client) (string, *ffb.Buffer)) ffb.Handler {
		return func(ctx context.Context, req *ffb.Request) (*ffb.Buffer, error) {
			defer ended.Done()
			ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			name, in := payload(req.Client())
			defer in.Free()
			out, err := req.Client().Invoke(ctx, name, in)
			if err == nil {
				return out, nil
			}
			if ctx.Err() == nil {
				return nil, fmt.Errorf("inner call failed before a cancel: %w", err)
			}
			return nil, err
		}
	}
	c.Handle("go.level1", nest("demo.back", func(c *ffb.Client) (string, *ffb.Buffer) {
		b, _ := c.FromBytes([]byte("go.level2\nx"))
		return "demo.back", b
	}))
	c.Handle("go.level2", nest("demo.wait", func(c *ffb.Client) (string, *ffb.Buffer) {
		return "demo.wait", u32Buffer(t, c, 10_000) // 10 s unless cancelled
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	time.AfterFunc(100*time.Millisecond, cancel)
	t0 := time.Now()
	_, err := back(ctx, t, c, "go.level1", []byte("x"))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("outer call: %v, want context.Canceled", err)
	}
	done := make(chan struct{})
	go func() { ended.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the inner handlers did not end after the outer cancel")
	}
	waitFor(t, "demo.wait to see its cancel", func() bool { return cancelsSeen(t, c) == before+1 })
	if d := time.Since(t0); d > 5*time.Second {
		t.Fatalf("the chain took %v to unwind", d)
	}

	// A deadline at the middle level ends the chain below it and answers
	// the levels above with TIMEOUT.
	c.Handle("go.short", func(ctx context.Context, req *ffb.Request) (*ffb.Buffer, error) {
		ctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		in := u32Buffer(t, req.Client(), 10_000)
		defer in.Free()
		return req.Client().Invoke(ctx, "demo.wait", in)
	})
	_, err = back(context.Background(), t, c, "go.short", []byte("x"))
	if ffb.CodeOf(err) != ffb.CodeTimeout {
		t.Fatalf("inner deadline: %v, want TIMEOUT", err)
	}
	waitFor(t, "demo.wait to see the deadline", func() bool { return cancelsSeen(t, c) == before+2 })
}

// A stream of 10^6 items into a consumer that sleeps every 1,000: every
// item once, in order, with the server's blocks bounded by the credit.
func TestStreamSlowConsumer(t *testing.T) {
	n := uint32(1_000_000)
	if testing.Short() {
		n = 100_000
	}
	s := startServer(t)
	c := dial(t, s)
	in := u32Buffer(t, c, n)
	defer in.Free()
	next, maxHeld := uint64(0), 0
	for item, err := range c.Stream(context.Background(), "demo.count", in) {
		if err != nil {
			t.Fatalf("after %d items: %v", next, err)
		}
		if v := binary.LittleEndian.Uint64(item.Bytes()); v != next {
			t.Fatalf("item %d is %d", next, v)
		}
		item.Free()
		next++
		if next%1000 == 0 {
			if h := c.Stats().ServerBlocksHeld; h > maxHeld {
				maxHeld = h
			}
			time.Sleep(time.Millisecond)
		}
	}
	if next != uint64(n) {
		t.Fatalf("got %d items, want %d", next, n)
	}
	if maxHeld > 256 { // the client's window: the producer never runs ahead of it
		t.Fatalf("the client held %d of the server's blocks at once", maxHeld)
	}
	waitFor(t, "blocks to come back", func() bool { return c.Stats().ServerBlocksHeld == 0 })
}

func TestStreamBreakStopsTheProducer(t *testing.T) {
	s := startServer(t)
	c := dial(t, s)
	before := cancelsSeen(t, c)
	in := u32Buffer(t, c, 1<<31)
	got := 0
	for item, err := range c.Stream(context.Background(), "demo.count", in) {
		if err != nil {
			t.Fatal(err)
		}
		item.Free()
		if got++; got == 10 {
			break
		}
	}
	waitFor(t, "the producer to stop", func() bool { return cancelsSeen(t, c) == before+1 })
	// The input was given up with the stream; its block comes back with
	// the stream's late end, and every item's goes back to the server.
	if err := in.Free(); ffb.CodeOf(err) != ffb.CodeStaleHandle {
		t.Fatalf("Free of an abandoned stream's input: %v, want STALE_HANDLE", err)
	}
	waitFor(t, "the blocks to come back", func() bool {
		st := c.Stats()
		return st.BlocksInUse == 0 && st.ServerBlocksHeld == 0
	})
	// A cancelled context ends a stream the same way.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	in = u32Buffer(t, c, 1<<31)
	got = 0
	var last error
	for item, err := range c.Stream(ctx, "demo.count", in) {
		if err != nil {
			last = err
			break
		}
		item.Free()
		if got++; got == 100 {
			cancel()
		}
	}
	if !errors.Is(last, context.Canceled) {
		t.Fatalf("stream after cancel: %v", last)
	}
	waitFor(t, "the producer to stop", func() bool { return cancelsSeen(t, c) == before+2 })
	// A plain call of a stream function is refused, and a stream of a
	// plain function gives its answer as its one item.
	in = u32Buffer(t, c, 1)
	defer in.Free()
	if _, err := c.Invoke(context.Background(), "demo.count", in); ffb.CodeOf(err) != ffb.CodeInvalidArgument {
		t.Fatalf("plain call of demo.count: %v", err)
	}
	items := 0
	for item, err := range c.Stream(context.Background(), "demo.cancels", nil) {
		if err != nil {
			t.Fatal(err)
		}
		items++
		item.Free()
	}
	if items != 1 {
		t.Fatalf("a plain function as a stream gave %d items, want its answer as one", items)
	}
}

// The server consumes a stream of the client's: demo.sum_stream counts
// the items of go.gen and sums their bytes.
func TestServerConsumesAClientStream(t *testing.T) {
	s := startServer(t)
	c := dial(t, s)
	const items = 100_000
	c.HandleStream("go.gen", func(ctx context.Context, req *ffb.Request, send func(*ffb.Buffer) error) error {
		for i := 0; i < items; i++ {
			b, err := req.Client().FromBytes([]byte{byte(i), 1})
			if err != nil {
				return err
			}
			if err := send(b); err != nil {
				return err
			}
		}
		return nil
	})
	in, _ := c.FromBytes([]byte("go.gen"))
	out, err := c.Invoke(context.Background(), "demo.sum_stream", in)
	if err != nil {
		t.Fatal(err)
	}
	var want uint64
	for i := 0; i < items; i++ {
		want += uint64(byte(i)) + 1
	}
	b := out.Bytes()
	if n, sum := binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:]); n != items || sum != want {
		t.Fatalf("server saw %d items summing to %d, want %d and %d", n, sum, items, want)
	}
	out.Free()
	in.Free()
	// A stream handler's error ends its stream with it.
	c.HandleStream("go.fail", func(ctx context.Context, req *ffb.Request, send func(*ffb.Buffer) error) error {
		send(nil)
		return &ffb.Error{Code: ffb.CodeBusy, Message: "no more"}
	})
	in2, _ := c.FromBytes([]byte("go.fail"))
	if _, err := c.Invoke(context.Background(), "demo.sum_stream", in2); ffb.CodeOf(err) != ffb.CodeBusy {
		t.Fatalf("failing stream: %v, want BUSY", err)
	}
	in2.Free()
	waitFor(t, "blocks to come back", func() bool {
		st := c.Stats()
		return st.BlocksInUse == 0 && st.ServerBlocksHeld == 0
	})
}

// The server killed with a handler running and a stream open: the
// handler's context ends, its answer goes nowhere, and every call and
// stream ends with PEER_GONE.
func TestServerKilledWithCallsBothWays(t *testing.T) {
	s := startServer(t)
	c := dial(t, s)
	started := make(chan struct{}, 1)
	handlerDone := make(chan error, 1)
	c.Handle("go.hold", func(ctx context.Context, req *ffb.Request) (*ffb.Buffer, error) {
		started <- struct{}{}
		<-ctx.Done()
		handlerDone <- ctx.Err()
		return req.Client().FromBytes([]byte("too late"))
	})
	backErr := make(chan error, 1)
	go func() {
		_, err := back(context.Background(), t, c, "go.hold", []byte("x"))
		backErr <- err
	}()
	<-started
	in := u32Buffer(t, c, 1<<31)
	streamErr := make(chan error, 1)
	streamed := make(chan struct{})
	go func() {
		got := 0
		for item, err := range c.Stream(context.Background(), "demo.count", in) {
			if err != nil {
				streamErr <- err
				return
			}
			item.Free()
			if got++; got == 5 {
				close(streamed)
				time.Sleep(50 * time.Millisecond) // let the credit run out
			}
		}
		streamErr <- errors.New("the stream ended with no error")
	}()
	<-streamed
	s.cmd.Process.Kill()
	for what, ch := range map[string]chan error{"demo.back": backErr, "stream": streamErr, "handler": handlerDone} {
		select {
		case err := <-ch:
			if what != "handler" && ffb.CodeOf(err) != ffb.CodePeerGone {
				t.Errorf("%s: %v, want PEER_GONE", what, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s did not end after the server was killed", what)
		}
	}
	if err := c.Close(); err != nil && ffb.CodeOf(err) != ffb.CodePeerGone {
		t.Fatalf("Close: %v", err)
	}
}

// Notifications both ways: no answer, nothing kept, every block back.
func TestNotificationsBothWays(t *testing.T) {
	s := startServer(t)
	c := dial(t, s)
	seen := make(chan string, 4)
	c.Handle("go.seen", func(ctx context.Context, req *ffb.Request) (*ffb.Buffer, error) {
		seen <- string(req.Bytes())
		return req.Client().FromBytes([]byte("an answer nobody reads"))
	})
	expect := func(want string) {
		t.Helper()
		select {
		case got := <-seen:
			if got != want {
				t.Fatalf("handler saw %q, want %q", got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("handler never saw %q", want)
		}
	}
	// Server -> client: demo.tell answers at once and notifies go.seen.
	in, _ := c.FromBytes([]byte("go.seen\nfrom the server"))
	if out, err := c.Invoke(context.Background(), "demo.tell", in); err != nil {
		t.Fatal(err)
	} else {
		out.Free()
	}
	in.Free()
	expect("from the server")
	// Client -> server: a notification of demo.back, which calls go.seen
	// and throws its answer away.
	in, _ = c.FromBytes([]byte("go.seen\nfrom the client"))
	if err := c.Notify(context.Background(), "demo.back", in); err != nil {
		t.Fatal(err)
	}
	expect("from the client")
	if err := in.Free(); ffb.CodeOf(err) != ffb.CodeStaleHandle {
		t.Fatalf("a notified Buffer: Free said %v, want STALE_HANDLE", err)
	}
	// Unknown names: nothing comes back, nothing breaks.
	in, _ = c.FromBytes([]byte("x"))
	if err := c.Notify(context.Background(), "demo.nothing", in); ffb.CodeOf(err) != ffb.CodeNotFound {
		t.Fatalf("notify of an unknown name: %v, want NOT_FOUND from its lookup", err)
	}
	in.Free()
	in, _ = c.FromBytes([]byte("go.nobody\nx"))
	if out, err := c.Invoke(context.Background(), "demo.tell", in); err != nil {
		t.Fatal(err)
	} else {
		out.Free()
	}
	in.Free()
	waitFor(t, "every block to come back", func() bool {
		st := c.Stats()
		return st.BlocksInUse == 0 && st.ServerBlocksHeld == 0 && st.Pending == 0
	})
	if st := c.Stats(); st.ProtocolErrors != 0 || st.Dropped != 0 {
		t.Fatalf("stats: %+v", st)
	}
}

// A server that grants no credit past the first 16 items stalls a Go
// stream handler in send -- without burning CPU -- until the server's
// caller gives up: then the handler's context ends and send fails.
func TestStalledServerConsumerStopsTheGoProducer(t *testing.T) {
	s := startServer(t)
	c := dial(t, s)
	sent := make(chan int, 1)
	ended := make(chan error, 1)
	c.HandleStream("go.flood", func(ctx context.Context, req *ffb.Request, send func(*ffb.Buffer) error) error {
		n := 0
		for {
			b, err := req.Client().FromBytes([]byte{1})
			if err != nil {
				return err
			}
			if err := send(b); err != nil {
				b.Free() // send takes b only when it succeeds
				sent <- n
				ended <- ctx.Err()
				return err
			}
			n++
		}
	})
	in, _ := c.FromBytes([]byte("go.flood\nstall"))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := c.Invoke(ctx, "demo.sum_stream", in)
	if ffb.CodeOf(err) != ffb.CodeTimeout {
		t.Fatalf("stalled stream: %v, want TIMEOUT", err)
	}
	select {
	case n := <-sent:
		if n != 16 {
			t.Fatalf("the producer sent %d items to a consumer that allowed 16", n)
		}
		if e := <-ended; e == nil {
			t.Fatal("send failed but the handler's context is alive")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the producer did not stop after its consumer gave up")
	}
	waitFor(t, "blocks to come back", func() bool {
		st := c.Stats()
		return st.BlocksInUse == 0 && st.ServerBlocksHeld == 0 // in's block too, by the late answer
	})
}

// A handler's own NOT_FOUND is its answer: it crosses with a message and
// the server does not call the handler again (PROTOCOL.md §7).
func TestHandlersOwnNotFoundRunsOnce(t *testing.T) {
	s := startServer(t)
	c := dial(t, s)
	var runs atomic.Int32
	c.Handle("go.lookup", func(ctx context.Context, req *ffb.Request) (*ffb.Buffer, error) {
		runs.Add(1)
		return nil, &ffb.Error{Code: ffb.CodeNotFound}
	})
	_, err := back(context.Background(), t, c, "go.lookup", []byte("key"))
	var e *ffb.Error
	if !errors.As(err, &e) || e.Code != ffb.CodeNotFound || e.Message == "" {
		t.Fatalf("got %v, want NOT_FOUND with a message", err)
	}
	if n := runs.Load(); n != 1 {
		t.Fatalf("the handler ran %d times for one call", n)
	}
	// A function of the server's answering NOT_FOUND on its own is not
	// retried either (demo.back passes the handler's answer through).
	before := runs.Load()
	if _, err := back(context.Background(), t, c, "go.lookup", nil); ffb.CodeOf(err) != ffb.CodeNotFound {
		t.Fatal(err)
	}
	if runs.Load() != before+1 {
		t.Fatal("a NOT_FOUND answer made the Go client call demo.back again")
	}
}
