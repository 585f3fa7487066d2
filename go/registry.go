// registry.go is the resolve registry (the seed's cloakroom): a fixed
// table of pending-call slots, one per call the server lets us have in
// flight. A call id is slot | generation<<32; the slot's generation and
// state share one atomic word, so a late, duplicate or forged result is
// matched against both at once and never delivered to another call.
// Slots and their wake channels are reused: no allocation per call.
// (Not the C src/registry.c, which is the server's table of callback
// names and function ids.)

package ffb

import (
	"context"
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

// callResult is what the dispatcher hands a waiter. It keeps to four
// fields so that the compiler holds it in registers: a larger struct is
// copied through memory with wide loads of narrower stores, which stall.
type callResult struct {
	status Code
	handle uint64 // 0, the lent input handle, or a server block now held
	len    uint32 // the reply's length; a LOOKUP's answer: the function id
	err    *Error // transport failure (peer gone, protocol, closed)
}

// callSlot is one pending call. Fields other than word and parked are
// written only by the single party that owns the slot in its current
// state; word transitions publish them (Go atomics order them for the
// race detector and for the CPU).
type callSlot struct {
	word   atomic.Uint64 // gen<<32 | state
	parked atomic.Uint32 // 1 while the waiter sleeps on wake
	active atomic.Uint32 // 1 while a waiter may touch the mapped arena
	wake   chan struct{} // buffered(1): dispatcher -> parked waiter
	gen    uint32        // set by whoever holds the slot off the free list
	kind   uint32
	in     *Buffer // lent input, or nil
	inH    uint64  // its handle (0 if none)
	res    callResult
	vec    *vecBlock // a CALLV's records (nil for other kinds)
	_      [16]byte  // keep neighbouring slots' hot words apart
}

// registry is the table of call slots with a lock-free free list (a
// Treiber stack whose head carries an ABA tag). acquire and release are
// safe for concurrent use and take no lock.
type registry struct {
	slots   []callSlot
	next    []atomic.Uint32 // free-list links, slotNil terminates
	head    atomic.Uint64   // tag<<32 | index of the first free slot
	waiters atomic.Int32
	avail   chan struct{} // buffered(1): a slot was released while someone waited
}

const slotNil = ^uint32(0)

func newRegistry(n uint32) *registry {
	r := &registry{slots: make([]callSlot, n), next: make([]atomic.Uint32, n), avail: make(chan struct{}, 1)}
	for i := range r.slots {
		r.slots[i].wake = make(chan struct{}, 1)
		if i+1 < int(n) {
			r.next[i].Store(uint32(i + 1))
		} else {
			r.next[i].Store(slotNil)
		}
	}
	r.head.Store(0)
	return r
}

// tryAcquire takes a free slot and gives it a fresh generation (never 0).
func (r *registry) tryAcquire() (uint32, uint32, bool) {
	for {
		h := r.head.Load()
		i := uint32(h)
		if i == slotNil {
			return 0, 0, false
		}
		nx := r.next[i].Load()
		if r.head.CompareAndSwap(h, (h>>32+1)<<32|uint64(nx)) {
			return i, r.newGen(i), true
		}
	}
}

// newGen gives slot i, just taken off the free list, its next generation
// (never 0).
func (r *registry) newGen(i uint32) uint32 {
	s := &r.slots[i]
	g := uint32(s.word.Load()>>32) + 1
	if g == 0 {
		g = 1
	}
	s.gen = g
	return g
}

// acquire waits for a free slot: the in-flight cap is the table size.
// Blocks until a slot is free, ctx is done or done is closed.
func (r *registry) acquire(ctx context.Context, done <-chan struct{}) (uint32, uint32, error) {
	if i, g, ok := r.tryAcquire(); ok {
		return i, g, nil
	}
	r.waiters.Add(1)
	defer r.waiters.Add(-1)
	for {
		if i, g, ok := r.tryAcquire(); ok {
			if uint32(r.head.Load()) != slotNil { // pass the baton to another waiter
				r.signal()
			}
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

func (r *registry) signal() {
	select {
	case r.avail <- struct{}{}:
	default:
	}
}

// release puts slot i back (its waiter or reclaimer is done with it).
func (r *registry) release(i uint32) {
	s := &r.slots[i]
	s.in, s.inH, s.res, s.vec = nil, 0, callResult{}, nil
	if len(s.wake) != 0 { // a wake token left over from a race
		select {
		case <-s.wake:
		default:
		}
	}
	storeRelU64(&s.word, slotWord(s.gen, slotFree)) // release: the head CAS below publishes the slot
	for {
		h := r.head.Load()
		storeRelU32(&r.next[i], uint32(h)) // ordered before the CAS that publishes it
		if r.head.CompareAndSwap(h, (h>>32+1)<<32|uint64(i)) {
			break
		}
	}
	if r.waiters.Load() != 0 {
		r.signal()
	}
}

// complete stores res into slot s (which the caller has claimed for gen)
// and wakes its waiter if it sleeps.
func (s *callSlot) complete(gen uint32, res callResult) {
	s.res = res
	s.word.Store(slotWord(gen, slotDone))
	s.wakeWaiter()
}

// wakeWaiter wakes the waiter of s if it sleeps on s.wake.
func (s *callSlot) wakeWaiter() {
	if s.parked.Load() != 0 {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// pending counts slots that are not free (a snapshot; O(slots)).
func (r *registry) pending() int {
	n := 0
	for i := range r.slots {
		if uint32(r.slots[i].word.Load()) != slotFree {
			n++
		}
	}
	return n
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
