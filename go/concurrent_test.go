// concurrent_test.go: many goroutines and pipelined calls on one Client;
// every response must reach its own call.

package ffb_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	ffb "github.com/ffi-bridge/ffi-bridge/go"
)

func TestConcurrentCallsMatchTheirResponses(t *testing.T) {
	for _, mode := range []struct {
		name       string
		serverArgs []string
		opts       []ffb.Option
	}{
		{"default", nil, nil},
		{"park", nil, []ffb.Option{ffb.WithSpin(0)}},
		{"eventfd-bell-park", []string{"--eventfd"}, []ffb.Option{ffb.WithSpin(0)}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			c := dial(t, startServer(t, mode.serverArgs...), mode.opts...)
			const goroutines, calls = 64, 150
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			go func() {
				select {
				case <-time.After(10 * time.Second):
					t.Logf("STUCK: %s", ffb.DebugState(c))
				case <-ctx.Done():
				}
			}()
			var wg sync.WaitGroup
			errs := make(chan error, goroutines)
			for g := 0; g < goroutines; g++ {
				wg.Add(1)
				go func(g int) {
					defer wg.Done()
					errs <- worker(ctx, c, g, calls)
				}(g)
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			if st := c.Stats(); st.Dropped != 0 || st.ProtocolErrors != 0 || st.Pending != 0 || st.BlocksInUse != 0 {
				t.Errorf("after the run: got %+v, want nothing dropped, pending or in use", st)
			}
		})
	}
}

// worker mixes zero-copy echoes (checked by handle and content) and
// demo.reverse calls (checked by content) tagged with its own id.
func worker(ctx context.Context, c *ffb.Client, g, calls int) error {
	buf, err := c.Alloc(24)
	if err != nil {
		return err
	}
	defer buf.Free()
	for i := 0; i < calls; i++ {
		msg := []byte(fmt.Sprintf("g=%03d i=%05d %08x", g, i, g*calls+i))[:24]
		copy(buf.Bytes(), msg)
		if i%3 == 2 {
			out, err := c.Invoke(ctx, "demo.reverse", buf)
			if err != nil {
				return fmt.Errorf("goroutine %d call %d: %v", g, i, err)
			}
			want := bytes.Clone(msg)
			for a, b := 0, len(want)-1; a < b; a, b = a+1, b-1 {
				want[a], want[b] = want[b], want[a]
			}
			if !bytes.Equal(out.Bytes(), want) {
				return fmt.Errorf("goroutine %d call %d: got %q, want %q", g, i, out.Bytes(), want)
			}
			out.Free()
			continue
		}
		out, err := c.Echo(ctx, buf)
		if err != nil {
			return fmt.Errorf("goroutine %d call %d: %v", g, i, err)
		}
		if out != buf || !bytes.Equal(out.Bytes(), msg) {
			return fmt.Errorf("goroutine %d call %d: got %q (own buffer %v), want %q", g, i, out.Bytes(), out == buf, msg)
		}
	}
	return nil
}

func TestPipelinedSubmitWait(t *testing.T) {
	c := dial(t, startServer(t))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const depth, rounds = 32, 50
	bufs := make([]*ffb.Buffer, depth)
	for i := range bufs {
		var err error
		if bufs[i], err = c.Alloc(8); err != nil {
			t.Fatal(err)
		}
		defer bufs[i].Free()
	}
	calls := make([]ffb.Call, depth)
	for r := 0; r < rounds; r++ {
		for i, b := range bufs {
			binary.LittleEndian.PutUint64(b.Bytes(), uint64(r*depth+i))
			var err error
			if calls[i], err = c.Submit(ctx, "ffi.echo", b); err != nil {
				t.Fatalf("round %d submit %d: %v", r, i, err)
			}
		}
		// Collect in reverse order: results arrive in order, waits don't.
		for i := depth - 1; i >= 0; i-- {
			out, err := calls[i].Wait(ctx)
			if err != nil {
				t.Fatalf("round %d wait %d: %v", r, i, err)
			}
			if out != bufs[i] || binary.LittleEndian.Uint64(out.Bytes()) != uint64(r*depth+i) {
				t.Fatalf("round %d call %d: got %d (own buffer %v), want %d", r, i, binary.LittleEndian.Uint64(out.Bytes()), out == bufs[i], r*depth+i)
			}
		}
	}
	if _, err := calls[0].Wait(ctx); !errors.Is(err, ffb.ErrInvalidArgument) {
		t.Errorf("second Wait on a Call: got %v, want INVALID_ARGUMENT", err)
	}
}
