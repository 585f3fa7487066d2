// backpressure_test.go: many goroutines push sequence-numbered calls
// through one Client hard enough that the in-flight cap is reached (Submit
// waits), the rings are full, and the arena runs out at times (big
// buffers: ARENA_FULL from Alloc, or from the server's reply allocation,
// is handled by retrying). Every payload carries its goroutine id and
// sequence number in a byte pattern keyed on both; every reply is checked
// byte for byte, so a lost, duplicated or misdelivered call is counted.
//
// Calls: 2×10^5 by default; FFB_TORTURE=1 makes it 10^7 (`make torture`);
// FFB_BACKPRESSURE_CALLS=N sets it exactly.

package ffb_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ffb "github.com/ffi-bridge/ffi-bridge/go"
)

func backpressureCalls() int {
	if s := os.Getenv("FFB_BACKPRESSURE_CALLS"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			return n
		}
	}
	if os.Getenv("FFB_TORTURE") == "1" {
		return 10_000_000
	}
	return 200_000
}

// patByte is byte i of the payload of call key; the first 16 bytes hold
// the key and the length so a misdelivery names its culprit.
func patByte(key uint64, i int) byte {
	x := key*0x9E3779B97F4A7C15 + uint64(i)*0xBF58476D1CE4E5B9
	return byte(x>>56) ^ byte(i)
}

// dense is the prefix written and checked in full; past it, big payloads
// carry the pattern in the first 8 bytes of every 4 KiB and their last 64
// bytes (filling 2 MiB per call would make the test about memset).
const dense = 64 << 10

// nextPos returns the next pattern position after i in a payload of n.
func nextPos(i, n int) int {
	i++
	if i < dense || i >= n-64 || i%4096 < 8 {
		return i
	}
	if j := (i/4096 + 1) * 4096; j < n-64 {
		return j
	}
	return max(n-64, i)
}

func fillPayload(b []byte, key uint64) {
	for i := 16; i < len(b); i = nextPos(i, len(b)) {
		b[i] = patByte(key, i)
	}
	binary.LittleEndian.PutUint64(b[0:], key)
	binary.LittleEndian.PutUint64(b[8:], uint64(len(b)))
}

// checkPayload reports whether b is the payload of key (reversed if rev).
func checkPayload(b []byte, key uint64, n int, rev bool) error {
	if len(b) != n {
		return fmt.Errorf("len %d, want %d", len(b), n)
	}
	want := make([]byte, 16)
	binary.LittleEndian.PutUint64(want[0:], key)
	binary.LittleEndian.PutUint64(want[8:], uint64(n))
	at := func(i int) byte {
		if rev {
			return b[n-1-i]
		}
		return b[i]
	}
	for i := 0; i < n; i = nextPos(i, n) {
		w := patByte(key, i)
		if i < 16 {
			w = want[i]
		}
		if got := at(i); got != w {
			var head [16]byte
			for k := 0; k < 16 && k < n; k++ {
				head[k] = at(k)
			}
			return fmt.Errorf("byte %d: got %#x, want %#x (payload is key %#x len %d)", i, got, w,
				binary.LittleEndian.Uint64(head[0:]), binary.LittleEndian.Uint64(head[8:]))
		}
	}
	return nil
}

type bpCounters struct {
	ok, arenaFullAlloc, arenaFullReply, big, submitWaits atomic.Uint64
}

// bpSize picks a payload size: mostly small, 2% over 1 MiB so the big
// size classes (a handful of blocks each) run out under 64 goroutines.
func bpSize(seq uint64, g int) int {
	r := (seq*2654435761 + uint64(g)*40503) % 1024
	switch {
	case r < 20: // 2%: the 4 and 16 MiB classes hold 6 blocks
		return 1<<20 + int(r)*(64<<10) // 1 .. 2.2 MiB
	case r < 40:
		return 64<<10 + int(r)*1000 // 64 KiB ..
	case r < 200:
		return 1000 + int(r)
	default:
		return 16 + int(r%48)
	}
}

type bpCall struct {
	call ffb.Call
	in   *ffb.Buffer
	seq  uint64
	n    int
	rev  bool
}

// bpWorker issues calls seq = 0..calls-1 of goroutine g in windows of
// `window` pipelined calls, waiting in order.
func bpWorker(ctx context.Context, c *ffb.Client, g, calls, window int, cnt *bpCounters) error {
	pend := make([]bpCall, 0, window)
	finish := func(p bpCall) (retry bool, err error) {
		key := uint64(g)<<40 | p.seq
		out, err := p.call.Wait(ctx)
		if ffb.CodeOf(err) == ffb.CodeArenaFull && p.rev {
			cnt.arenaFullReply.Add(1) // the server's heap is full: retry
			p.in.Free()
			return true, nil
		}
		if err != nil {
			return false, fmt.Errorf("goroutine %d seq %d (len %d, reverse %v): %v", g, p.seq, p.n, p.rev, err)
		}
		if !p.rev && out != p.in {
			return false, fmt.Errorf("goroutine %d seq %d: echo returned another buffer", g, p.seq)
		}
		if err := checkPayload(out.Bytes(), key, p.n, p.rev); err != nil {
			return false, fmt.Errorf("goroutine %d seq %d (reverse %v): misdelivered: %v", g, p.seq, p.rev, err)
		}
		if out != p.in {
			out.Free()
		}
		p.in.Free()
		cnt.ok.Add(1)
		return false, nil
	}
	drain := func() ([]uint64, error) {
		var again []uint64
		for _, p := range pend {
			retry, err := finish(p)
			if err != nil {
				return nil, err
			}
			if retry {
				again = append(again, p.seq)
			}
		}
		pend = pend[:0]
		return again, nil
	}
	var todo []uint64 // retries first, then the next new seq
	next := uint64(0)
	for next < uint64(calls) || len(todo) > 0 || len(pend) > 0 {
		if len(pend) == window || (next >= uint64(calls) && len(todo) == 0) {
			again, err := drain()
			if err != nil {
				return err
			}
			todo = append(todo, again...)
			continue
		}
		var seq uint64
		if len(todo) > 0 {
			seq, todo = todo[0], todo[1:]
		} else {
			seq = next
			next++
		}
		n := bpSize(seq, g)
		in, err := c.Alloc(n)
		for tries := 0; ffb.CodeOf(err) == ffb.CodeArenaFull; tries++ {
			// Give back what this goroutine holds before retrying, so
			// the goroutines cannot starve each other.
			cnt.arenaFullAlloc.Add(1)
			again, derr := drain()
			if derr != nil {
				return derr
			}
			todo = append(todo, again...)
			if tries < 16 {
				runtime.Gosched()
			} else { // others' big calls are slow: don't burn the CPU they need
				time.Sleep(100 * time.Microsecond)
			}
			if ctx.Err() != nil {
				return fmt.Errorf("goroutine %d seq %d: arena full until the deadline", g, seq)
			}
			in, err = c.Alloc(n)
		}
		if err != nil {
			return fmt.Errorf("goroutine %d seq %d: alloc %d: %v", g, seq, n, err)
		}
		if n >= 1<<20 {
			cnt.big.Add(1)
		}
		fillPayload(in.Bytes(), uint64(g)<<40|seq)
		rev := seq%3 == 1
		name := "ffi.echo"
		if rev {
			name = "demo.reverse"
		}
		// The cap is below what the goroutines want in flight, and a
		// call holds its slot until it is waited for: a Submit that
		// waits too long gives its own finished calls back first (else
		// all could wait for each other's slots).
		var call ffb.Call
		for {
			sctx, scancel := context.WithTimeout(ctx, 2*time.Millisecond)
			call, err = c.Submit(sctx, name, in)
			scancel()
			if ffb.CodeOf(err) != ffb.CodeTimeout || ctx.Err() != nil {
				break
			}
			cnt.submitWaits.Add(1)
			again, derr := drain()
			if derr != nil {
				return derr
			}
			todo = append(todo, again...)
		}
		if err != nil {
			return fmt.Errorf("goroutine %d seq %d: submit: %v", g, seq, err)
		}
		pend = append(pend, bpCall{call: call, in: in, seq: seq, n: n, rev: rev})
	}
	return nil
}

func TestBackpressureNoCallLostDuplicatedOrMisdelivered(t *testing.T) {
	total := backpressureCalls()
	const goroutines, window = 64, 8 // 512 wanted in flight: over the cap of 256
	per := (total + goroutines - 1) / goroutines
	c := dial(t, startServer(t))
	if c.MaxInflight() >= goroutines*window {
		t.Fatalf("in-flight cap %d: the test wants more than %d in flight to hit it", c.MaxInflight(), goroutines*window)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Minute)
	defer cancel()
	// Resolve the name once now: a LOOKUP under a Submit's 2 ms deadline
	// could time out, and its late answer would count as dropped.
	if out, err := c.Invoke(ctx, "demo.reverse", nil); err != nil {
		t.Fatalf("demo.reverse: %v", err)
	} else {
		out.Free()
	}
	var cnt bpCounters
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			if err := bpWorker(ctx, c, g, per, window, &cnt); err != nil {
				errs <- err
				cancel()
			}
		}(g)
	}
	stuck := make(chan struct{})
	go func() { // no progress for 30 s: show where everyone is
		last := uint64(0)
		for {
			select {
			case <-stuck:
				return
			case <-time.After(30 * time.Second):
			}
			if now := cnt.ok.Load(); now != last {
				last = now
				continue
			}
			buf := make([]byte, 8<<20)
			buf = buf[:runtime.Stack(buf, true)]
			fmt.Fprintf(os.Stderr, "STUCK after %d calls: %s\n%s\n", last, ffb.DebugState(c), buf)
			os.Exit(2)
		}
	}()
	wg.Wait()
	close(stuck)
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	el := time.Since(start)
	st := c.Stats()
	want := uint64(per * goroutines)
	t.Logf("%d calls from %d goroutines in %v (%.0f calls/s): %d verified, %d big; cap reached (Submit waited 2 ms) %d times; ARENA_FULL retries: %d alloc, %d server reply; dropped %d, protocol errors %d, parks %d",
		want, goroutines, el.Round(time.Millisecond), float64(want)/el.Seconds(), cnt.ok.Load(), cnt.big.Load(),
		cnt.submitWaits.Load(), cnt.arenaFullAlloc.Load(), cnt.arenaFullReply.Load(), st.Dropped, st.ProtocolErrors, st.Parks)
	if t.Failed() {
		return
	}
	if got := cnt.ok.Load(); got != want {
		t.Errorf("verified %d calls, want %d: %d lost", got, want, int64(want)-int64(got))
	}
	if st.Dropped != 0 || st.ProtocolErrors != 0 {
		t.Errorf("dropped (duplicate or late) results %d, protocol errors %d: want 0", st.Dropped, st.ProtocolErrors)
	}
	if st.Pending != 0 || st.BlocksInUse != 0 {
		t.Errorf("after the run: %d calls pending, %d blocks in use: want 0", st.Pending, st.BlocksInUse)
	}
	if cnt.submitWaits.Load() == 0 {
		t.Errorf("Submit never waited: the test did not reach the in-flight cap")
	}
	if cnt.arenaFullAlloc.Load() == 0 {
		t.Errorf("the arena never ran out: the test did not exercise ARENA_FULL")
	}
}
