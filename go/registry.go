// registry.go is the resolve registry (the seed's cloakroom): a fixed
// table of pending-call slots, one per call the server lets us have in
// flight. A call id is slot | generation<<32; the slot's generation and
// state share one atomic word, so a late, duplicate or forged result is
// matched against both at once and never delivered to another call.
// Slots and their wake channels are reused: no allocation per call.

package ffb

import (
	"context"
	"sync"
	"sync/atomic"
)

// Slot states (low 32 bits of callSlot.word; the generation is the high 32).
const (
	slotFree      = iota // on the free list
	slotPending          // submitted, result not yet in
	slotClaimed          // one writer is filling in the result
	slotDone             // result ready for the waiter
	slotAbandoned        // the waiter gave up; the late result is reclaimed
)

func slotWord(gen uint32, state uint32) uint64 { return uint64(gen)<<32 | uint64(state) }

// callResult is what the dispatcher hands a waiter.
type callResult struct {
	status Code
	handle uint64 // 0, the lent input handle, or a server block now held
	len    uint32
	aux    uint32
	err    *Error // transport failure (peer gone, protocol, closed)
}

// callSlot is one pending call. Fields other than word and parked are
// written only by the single party that owns the slot in its current
// state; word transitions publish them (Go atomics order them for the
// race detector and for the CPU).
type callSlot struct {
	word   atomic.Uint64 // gen<<32 | state
	parked atomic.Uint32 // 1 while the waiter sleeps on wake
	wake   chan struct{} // buffered(1): dispatcher -> parked waiter
	gen    uint32        // owned by the registry under mu
	kind   uint32
	in     *Buffer // lent input, or nil
	inH    uint64  // its handle (0 if none)
	res    callResult
	_      [24]byte // keep neighbouring slots' hot words apart
}

// registry is the table of call slots. acquire and release are safe for
// concurrent use.
type registry struct {
	mu    sync.Mutex
	slots []callSlot
	free  []uint32
	avail chan struct{} // buffered(1): a slot was released
}

func newRegistry(n uint32) *registry {
	r := &registry{slots: make([]callSlot, n), free: make([]uint32, n), avail: make(chan struct{}, 1)}
	for i := range r.slots {
		r.slots[i].wake = make(chan struct{}, 1)
		r.free[i] = n - 1 - uint32(i)
	}
	return r
}

// tryAcquire takes a free slot and gives it a fresh generation (never 0).
func (r *registry) tryAcquire() (uint32, uint32, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.free) == 0 {
		return 0, 0, false
	}
	i := r.free[len(r.free)-1]
	r.free = r.free[:len(r.free)-1]
	s := &r.slots[i]
	s.gen++
	if s.gen == 0 {
		s.gen = 1
	}
	return i, s.gen, true
}

// acquire waits for a free slot: the in-flight cap is the table size.
// Blocks until a slot is free, ctx is done or done is closed.
func (r *registry) acquire(ctx context.Context, done <-chan struct{}) (uint32, uint32, error) {
	for {
		if i, g, ok := r.tryAcquire(); ok {
			return i, g, nil
		}
		select {
		case <-r.avail:
		case <-ctx.Done():
			return 0, 0, ctxError(ctx)
		case <-done:
			return 0, 0, ErrClosed
		}
	}
}

// release puts slot i back (its waiter or reclaimer is done with it).
func (r *registry) release(i uint32) {
	s := &r.slots[i]
	s.in, s.inH, s.res = nil, 0, callResult{}
	select { // a wake token left over from a race is dropped here
	case <-s.wake:
	default:
	}
	r.mu.Lock()
	s.word.Store(slotWord(s.gen, slotFree))
	r.free = append(r.free, i)
	r.mu.Unlock()
	select {
	case r.avail <- struct{}{}:
	default:
	}
}

// complete stores res into slot s (which the caller has claimed for gen)
// and wakes its waiter if it sleeps.
func (s *callSlot) complete(gen uint32, res callResult) {
	s.res = res
	s.word.Store(slotWord(gen, slotDone))
	if s.parked.Load() != 0 {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// pending counts slots that are not free.
func (r *registry) pending() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.slots) - len(r.free)
}

// ctxError maps a finished context to TIMEOUT (deadline) or CLOSED
// (cancelled), wrapping the context's error.
func ctxError(ctx context.Context) *Error {
	err := ctx.Err()
	if err == context.DeadlineExceeded {
		return &Error{Code: CodeTimeout, Message: "deadline exceeded", err: err}
	}
	return &Error{Code: CodeClosed, Message: "context cancelled", err: err}
}
