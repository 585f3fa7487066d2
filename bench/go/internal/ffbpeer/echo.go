package ffbpeer

import (
	"context"
	"fmt"
	"time"

	ffb "github.com/ffi-bridge/ffi-bridge/go"

	"github.com/ffi-bridge/ffi-bridge/bench/internal/measure"
)

// Placement of every ffi-bridge measurement.
const Placement = "C server (ffb serve) process CPU0, Go client process CPU1 (GOMAXPROCS=1, all threads pinned)"

// Mode is how both sides wait.
type Mode string

const (
	// Spin: the client never parks (ffb.WithSpinOnly) and the server is
	// started with a 2 s spin, so it stays awake through the untimed
	// verification between calls (its 50 us default would let it park
	// while a large payload is being checked, and the next call would pay
	// a wake-up that no call in a busy loop pays).
	Spin Mode = "spin"
	// Park: the client parks at once (ffb.WithSpin(0)) and the server is
	// started with --spin-us 0, so every call crosses both wake-up paths.
	Park Mode = "park"
)

// ServerSpinUs is the server's --spin-us for the mode.
func (m Mode) ServerSpinUs() int {
	if m == Park {
		return 0
	}
	return 2000000
}

// Dial connects a client in mode m.
func Dial(ctx context.Context, sock string, m Mode) (*ffb.Client, error) {
	switch m {
	case Spin:
		return ffb.Dial(ctx, sock, ffb.WithSpinOnly())
	case Park:
		return ffb.Dial(ctx, sock, ffb.WithSpin(0))
	}
	return nil, fmt.Errorf("unknown mode %q", m)
}

// RunEcho times ffi.echo round trips of size bytes. The payload lives in
// an arena Buffer; each iteration stamps it (first, middle, last 8 bytes,
// untimed, as the peers do) or, with copyIn, stamps a Go slice and copies
// it into the Buffer inside the timed region (what a caller whose data is
// in Go memory pays). Every reply must be the same Buffer (zero copy) and
// carry this call's stamps; the whole payload is compared with a private
// reference copy (untimed) on every fullEvery-th call. fullEvery 1 checks
// every byte of every call like the copying peers do, but then the next
// call pays for the cache and TLB refill after reading 2 x size bytes —
// the verifier's cost, not the transport's, which touches no payload.
func RunEcho(ctx context.Context, c *ffb.Client, m Mode, size int, copyIn bool, fullEvery int, b measure.Budget) (measure.Result, error) {
	name := fmt.Sprintf("ffb_go_%s_echo_%d", m, size)
	switch {
	case copyIn:
		name = fmt.Sprintf("ffb_go_%s_copyin_echo_%d", m, size)
	case fullEvery == 1:
		name = fmt.Sprintf("ffb_go_%s_fullcheck_echo_%d", m, size)
	}
	fullEvery = max(fullEvery, 1)
	r := measure.Result{Name: name, Transport: "ffb", Group: "ffb", Placement: Placement, Mode: string(m)}
	buf, err := c.Alloc(size)
	if err != nil {
		return r, fmt.Errorf("alloc %d: %w", size, err)
	}
	defer buf.Free()
	ref := measure.NewPayload(size)
	src := measure.NewPayload(size) // the caller's Go-memory copy (copyIn)
	copy(buf.Bytes(), ref)
	warm := b.MinIters/10 + 10
	lat := make([]float64, 0, min(b.MaxIters, 1<<20))
	var busy time.Duration
	begin := time.Now()
	var st0 ffb.Stats
	for i := 0; i < warm+b.MaxIters; i++ {
		if i == warm {
			begin, busy, lat = time.Now(), 0, lat[:0]
			st0 = c.Stats()
		}
		if i >= warm+b.MinIters && time.Since(begin) > b.Time {
			break
		}
		seq := uint64(i) + 1
		measure.Stamp(ref, seq)
		if copyIn {
			measure.Stamp(src, seq)
		} else {
			measure.Stamp(buf.Bytes(), seq)
		}
		t0 := time.Now()
		if copyIn {
			copy(buf.Bytes(), src)
		}
		reply, err := c.Echo(ctx, buf)
		d := time.Since(t0)
		if err != nil {
			return r, fmt.Errorf("echo %d bytes, call %d: %w", size, i, err)
		}
		if reply != buf {
			return r, fmt.Errorf("echo %d bytes: reply is not the request buffer (not zero copy)", size)
		}
		if i%fullEvery == 0 || i == warm+b.MaxIters-1 {
			if err := measure.Verify(reply.Bytes(), ref); err != nil {
				return r, fmt.Errorf("call %d: %w", i, err)
			}
		} else if err := measure.VerifyStamps(reply.Bytes(), ref); err != nil {
			return r, fmt.Errorf("call %d: %w", i, err)
		}
		busy += d
		lat = append(lat, float64(d.Nanoseconds()))
	}
	r.PayloadBytes = size
	r.Checked = true
	r.Timing = "per call; ops_per_s = calls / time inside calls (verification excluded)"
	if copyIn {
		r.Note = "timed region includes copying the payload from a Go slice into the arena"
	} else {
		r.Note = "payload written in place in the arena; the echo moves the handle (zero copy)"
	}
	r.Note += fmt.Sprintf("; stamps checked every call, whole payload every %d calls", fullEvery)
	r.Counters = counters(st0, c.Stats())
	measure.Summarize(&r, lat, busy)
	return r, nil
}

// counters is what the client counted between two snapshots: how often it
// parked, and how many parks ended by timeout with results waiting (the
// server published without ringing the bell).
func counters(before, after ffb.Stats) map[string]uint64 {
	return map[string]uint64{
		"client_parks":          after.Parks - before.Parks,
		"client_missed_wakeups": after.MissedWakeups - before.MissedWakeups,
	}
}
