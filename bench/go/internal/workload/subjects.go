package workload

import (
	"fmt"
	"time"

	"github.com/ffi-bridge/ffi-bridge/bench/internal/interleave"
	"github.com/ffi-bridge/ffi-bridge/bench/internal/measure"
	"github.com/ffi-bridge/ffi-bridge/bench/internal/work"
)

// Settler is a peer whose server spins after a call (ffi-bridge): the
// harness sleeps its Settle after the peer's slice.
type Settler interface{ Settle() time.Duration }

func subject(p work.Peer, run func(stop time.Time) (interleave.Samples, error)) interleave.Subject {
	s := interleave.Subject{Name: p.Name(), Placement: p.Placement(), Run: run}
	if st, ok := p.(Settler); ok {
		s.Settle = st.Settle()
	}
	return s
}

// Empty: no payload, no answer.
func Empty(p work.Peer) interleave.Subject {
	return subject(p, func(stop time.Time) (interleave.Samples, error) {
		return interleave.Loop(stop, MinCalls, func(int) (time.Duration, error) {
			t0 := time.Now()
			err := p.Empty()
			return time.Since(t0), err
		})
	})
}

// Echo of n bytes: the input stamped per call (first, middle, last 8
// bytes carry the call's number); stamps checked on every reply, every
// byte every FullCheckEvery calls and on a slice's first call.
func Echo(p work.Peer, n int, seq *uint64) interleave.Subject {
	ref := newStamped(n, false)
	return subject(p, func(stop time.Time) (interleave.Samples, error) {
		in, err := p.Input(n)
		if err != nil {
			return interleave.Samples{}, err
		}
		copy(in, ref.src)
		return interleave.Loop(stop, MinCalls, func(i int) (time.Duration, error) {
			*seq++
			ref.stamp(in, *seq)
			t0 := time.Now()
			out, err := p.Echo(n)
			d := time.Since(t0)
			if err != nil {
				return d, err
			}
			if i%FullCheckEvery == 0 {
				return d, checkBytes("echo", out, ref.src)
			}
			return d, measure.VerifyStamps(out, ref.src)
		})
	})
}

// Checksum of n bytes: every answer compared with the Go reference of
// this call's (stamped) input.
func Checksum(p work.Peer, n int, seq *uint64) interleave.Subject {
	ref := newStamped(n, false)
	return subject(p, func(stop time.Time) (interleave.Samples, error) {
		in, err := p.Input(n)
		if err != nil {
			return interleave.Samples{}, err
		}
		copy(in, ref.src)
		return interleave.Loop(stop, MinCalls, func(int) (time.Duration, error) {
			*seq++
			ref.stamp(in, *seq)
			t0 := time.Now()
			got, err := p.Checksum(n)
			d := time.Since(t0)
			if err != nil {
				return d, err
			}
			if want := work.Checksum(ref.src); got != want {
				return d, fmt.Errorf("checksum of %d bytes: got %#x, want %#x", n, got, want)
			}
			return d, nil
		})
	})
}

// Transform of n bytes: the whole input written before every call (the
// ffi-bridge server answers in place, over it), every output byte
// compared with the uppercase reference.
func Transform(p work.Peer, n int, seq *uint64) interleave.Subject {
	ref := newStamped(n, true)
	return subject(p, func(stop time.Time) (interleave.Samples, error) {
		in, err := p.Input(n)
		if err != nil {
			return interleave.Samples{}, err
		}
		return interleave.Loop(stop, MinCalls, func(int) (time.Duration, error) {
			*seq++
			ref.stamp(nil, *seq)
			copy(in, ref.src)
			t0 := time.Now()
			out, err := p.Transform(n)
			d := time.Since(t0)
			if err != nil {
				return d, err
			}
			return d, checkBytes("transform", out, ref.upper)
		})
	})
}

// Quote: a new Order per call, the Quote compared field by field.
func Quote(p work.Peer, seq *uint64) interleave.Subject {
	return subject(p, func(stop time.Time) (interleave.Samples, error) {
		return interleave.Loop(stop, MinCalls, func(int) (time.Duration, error) {
			*seq++
			o := work.NewOrder(*seq)
			var q work.Quote
			t0 := time.Now()
			err := p.Quote(o, &q)
			d := time.Since(t0)
			if err != nil {
				return d, err
			}
			if want := work.QuoteOf(o); q != want {
				return d, fmt.Errorf("quote: got %+v, want %+v", q, want)
			}
			return d, nil
		})
	})
}

// Supports reports whether p runs the workload (a probe call).
func Supports(p work.Peer, workload string) bool {
	if workload != "json" {
		return true
	}
	var q work.Quote
	return p.Quote(work.NewOrder(1), &q) != work.ErrUnsupported
}
