// wait.go is how a goroutine waits for its result: spin a bounded time
// while helping drain the response ring, then park on its slot's channel
// while the bell goroutine sleeps on the client-bell eventfd through the
// Go netpoller (never a raw futex that pins an OS thread).

package ffb

import (
	"context"
	"errors"
	"os"
	"runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// parkRecheck bounds the first sleep of the bell goroutine; each sleep
// that ends with nothing to do doubles the bound, up to maxParkRecheck, so
// an idle parked client wakes about once a second, not 500 times.
const (
	parkRecheck    = 2 * time.Millisecond
	maxParkRecheck = time.Second
)

// spinYield is how long a spinning waiter runs between yields.
const spinYield = 500 * time.Microsecond

// await waits until slot i (generation g) is done and returns its result,
// releasing the slot. On ctx expiry the call is abandoned (its late result
// is reclaimed by the dispatcher) and the error is TIMEOUT (deadline) or
// CLOSED (cancelled).
func (c *Client) await(ctx context.Context, i, g uint32) (callResult, bool, error) {
	s := &c.reg.slots[i]
	done := slotWord(g, slotDone)
	if s.word.Load() == done {
		return c.collect(i), true, nil
	}
	// While active, this goroutine may peek at the mapped rings: Close
	// waits for every slot to be inactive before it unmaps. Storing the
	// flag before loading dead pairs with Close storing dead before it
	// scans the flags, so one of the two always sees the other.
	s.active.Store(1)
	defer storeRelU32(&s.active, 0) // release: our reads of the arena come first
	if e := c.dead.Load(); e != nil {
		c.checkWait(ctx, nil, s, g)
		for s.word.Load() != done {
			runtime.Gosched()
		}
		return c.collect(i), true, nil
	}
	c.flush()
	deadline, hasDeadline := ctx.Deadline()
	ctxDone := ctx.Done()
	spinOnly := c.opts.spinOnly
	if !spinOnly && c.opts.spin <= 0 {
		c.tryDrain()
		if s.word.Load() == done {
			return c.collect(i), true, nil
		}
		return c.park(ctx, i, g)
	}
	// The clock is first read at the first check (64 polls in): a result
	// that comes sooner costs no clock read at all.
	var spinUntil, lastYield time.Time
	counted := false // in c.spinners: from the first clock read on
	leave := func() {
		if counted {
			c.unspin()
		}
	}
	for iter := 1; ; iter++ {
		c.tryDrain()
		if s.word.Load() == done {
			leave()
			return c.collect(i), true, nil
		}
		if iter&63 != 0 {
			continue
		}
		if err := c.checkWait(ctx, ctxDone, s, g); err != nil {
			leave()
			return c.abandon(i, g, err)
		}
		now := time.Now()
		if iter == 64 {
			spinUntil, lastYield = now.Add(c.opts.spin), now
			c.spinners.Add(1)
			counted = true
		}
		if hasDeadline && !now.Before(deadline) {
			leave()
			return c.abandon(i, g, ctxError(ctx))
		}
		if !spinOnly && !now.Before(spinUntil) {
			break
		}
		// A long spin yields now and then so other goroutines on this P
		// run; rarely, because on a locked OS thread a yield costs
		// microseconds.
		if now.Sub(lastYield) > spinYield {
			runtime.Gosched()
			lastYield = now
		}
	}
	leave()
	return c.park(ctx, i, g)
}

// checkWait ends a spinning wait on a dead session or a finished context.
func (c *Client) checkWait(ctx context.Context, ctxDone <-chan struct{}, s *callSlot, g uint32) *Error {
	if e := c.dead.Load(); e != nil {
		// fail() may have run before this slot went pending: finish it here.
		if s.word.CompareAndSwap(slotWord(g, slotPending), slotWord(g, slotClaimed)) {
			s.complete(g, callResult{err: e})
		}
		return nil
	}
	if ctxDone != nil {
		select {
		case <-ctxDone:
			return ctxError(ctx)
		default:
		}
	}
	return nil
}

// park sleeps until the dispatcher, fail() or ctx ends the wait.
func (c *Client) park(ctx context.Context, i, g uint32) (callResult, bool, error) {
	s := &c.reg.slots[i]
	done := slotWord(g, slotDone)
	c.parkers.Add(1)
	select {
	case c.kick <- struct{}{}:
	default:
	}
	s.parked.Store(1)
	// unpark must run before the slot is released: the next call on this
	// slot may park at once and needs its own flag.
	unpark := func() {
		s.parked.Store(0)
		c.parkers.Add(-1)
	}
	for {
		if s.word.Load() == done {
			unpark()
			return c.collect(i), true, nil
		}
		select {
		case <-s.wake:
		case <-ctx.Done():
			unpark()
			return c.abandon(i, g, ctxError(ctx))
		case <-c.done:
			c.checkWait(ctx, nil, s, g)
			for s.word.Load() != done {
				runtime.Gosched() // a claimed slot completes in a moment
			}
		}
	}
}

// abandon gives up on a call: the slot stays taken until its late result
// arrives (or the session ends) and the input buffer is given up. If the
// result is already in, it is returned instead.
func (c *Client) abandon(i, g uint32, err *Error) (callResult, bool, error) {
	s := &c.reg.slots[i]
	in, vec := s.in, s.vec // read before the CAS: afterwards the dispatcher may recycle the slot
	// LENT before the call can be reclaimed: the dispatcher frees the
	// blocks from LENT, and a given-up Buffer's GC cleanup (which frees
	// from OWNED) then cannot free one while the server has it.
	c.lendAll(in, vec, blockOwned, blockLent)
	if s.word.CompareAndSwap(slotWord(g, slotPending), slotWord(g, slotAbandoned)) {
		c.cancelCall(makeCallID(i, g)) // the server's handler sees it cancelled
		if in != nil {
			in.giveUp()
		}
		if vec != nil {
			for _, b := range vec.in[:vec.n] {
				if b != nil {
					b.giveUp()
				}
			}
		}
		return callResult{}, false, err
	}
	c.lendAll(in, vec, blockLent, blockOwned) // the result is in: ours again
	for s.word.Load() != slotWord(g, slotDone) {
		runtime.Gosched() // claimed: the result is being written
	}
	return c.collect(i), true, nil
}

// lendAll moves the heap state of a call's input block and, for a CALLV,
// of every record's input, from one state to the other.
func (c *Client) lendAll(in *Buffer, vec *vecBlock, from, to uint32) {
	if in != nil {
		c.heaps.lend(in.h, from, to)
	}
	if vec != nil {
		for _, b := range vec.in[:vec.n] {
			if b != nil {
				c.heaps.lend(b.h, from, to)
			}
		}
	}
}

// collect copies the result out of a done slot, gives the input block back
// to its Buffer, and releases the slot.
func (c *Client) collect(i uint32) callResult {
	s := &c.reg.slots[i]
	res := s.res
	in := s.in
	c.reg.release(i)
	if in != nil {
		if res.err != nil && res.err.Code != CodeProtocol {
			in.giveUp() // peer gone / closed: the block went with the session
		} else {
			in.unlend()
		}
	}
	return res
}

// unspin counts a spinning waiter out; the last one out hands listening
// back to the bell goroutine.
func (c *Client) unspin() {
	if c.spinners.Add(-1) == 0 {
		select {
		case c.kick <- struct{}{}:
		default:
		}
	}
}

// serveSpin keeps draining while the server is busy with this client's
// handlers: a call of the server's that comes within the spin time of the
// last entry is taken at once, not after a wake-up (the server's call
// round trip is then that of the client's). It returns once the spin time
// passes with nothing new, or a waiter of the client's own spins (it
// drains too: two spinners would only share the CPUs), or false: the
// session is over. An idle client spins once per wake-up, then sleeps.
func (c *Client) serveSpin() bool {
	if c.opts.spin <= 0 {
		return true
	}
	until := time.Now().Add(c.opts.spin)
	for iter := 1; ; iter++ {
		head := c.drainHead.Load()
		c.tryDrain() // a peek at the next stamp when nothing came
		if c.drainHead.Load() != head {
			until = time.Now().Add(c.opts.spin)
		}
		if iter&63 != 0 {
			continue
		}
		if c.dead.Load() != nil {
			return false
		}
		if c.spinners.Load() > 0 || time.Now().After(until) {
			return true
		}
		if iter&4095 == 0 {
			runtime.Gosched()
		}
	}
}

// bellLoop sleeps on the client bell while some waiter is parked: it sets
// c_needs_wakeup (C3), re-checks the ring, and reads the eventfd through
// the netpoller; on wake it drains the ring and so wakes the waiters.
func (c *Client) bellLoop() {
	defer c.wg.Done()
	rc, err := c.s.clientBell.SyscallConn()
	if err != nil {
		c.fail(wrapError(CodeSystem, "client bell", err))
		return
	}
	bell := newBellReader(rc)
	recheck := parkRecheck
	for {
		// Nobody to listen for; or a waiter spins and drains (then a
		// parked bell would only make the server ring it for nothing).
		if c.parkers.Load() == 0 && !c.handlers.registered.Load() && c.openStreams.Load() == 0 ||
			c.spinners.Load() > 0 {
			select {
			case <-c.kick:
			case <-c.done:
				return
			}
			continue
		}
		if c.handlers.registered.Load() && !c.serveSpin() {
			return
		}
		c.drainMu.Lock()
		if c.dead.Load() != nil {
			c.drainMu.Unlock()
			return
		}
		if c.prepareParkingLocked() != parkYes {
			c.drainLocked()
			c.drainUnlock()
			continue
		}
		c.drainMu.Unlock()
		c.nParks.Add(1)
		// The sleep is bounded: a server that fails to ring (a bug the
		// protocol rules out) costs parkRecheck, not a hang, and is counted.
		c.s.clientBell.SetReadDeadline(time.Now().Add(recheck))
		err := bell.waitRing()
		timedOut := errors.Is(err, os.ErrDeadlineExceeded)
		if timedOut && recheck < maxParkRecheck {
			recheck *= 2
		} else if !timedOut {
			recheck = parkRecheck
		}
		if err != nil && !timedOut {
			if !c.closed.Load() { // not closed by Close: parked waiters must not hang
				c.fail(wrapError(CodeSystem, "client bell", err))
			}
			return
		}
		c.drainMu.Lock()
		if c.dead.Load() == nil {
			if timedOut && c.cons.ready() > 0 && !bell.rung() {
				c.nMissedWakeups.Add(1) // results were published without a ring
			}
			c.cons.endParking()
			c.drainLocked()
		}
		c.drainUnlock()
	}
}

// prepareParkingLocked sets c_needs_wakeup and re-checks the ring (C3);
// a tail the server corrupted ends the session. Caller holds drainMu.
func (c *Client) prepareParkingLocked() int {
	st := c.cons.prepareParking()
	if st == parkCorrupt {
		c.protocolViolation("response ring tail out of bounds or over unstamped entries")
	}
	return st
}

// bellReader drains the client bell. The eventfd's file description is
// shared with the server, which could clear O_NONBLOCK: reads use
// RWF_NOWAIT so they never block the thread (plain read on kernels
// without it). Built once per Client so a park allocates nothing.
type bellReader struct {
	rc    syscall.RawConn
	iov   [][]byte
	rerr  error
	wait  func(fd uintptr) bool // for rc.Read: false = not ready, wait for the netpoller
	check func(fd uintptr)      // for rc.Control: one read, no wait, no deadline
}

func newBellReader(rc syscall.RawConn) *bellReader {
	r := &bellReader{rc: rc, iov: [][]byte{make([]byte, 8)}}
	r.wait = func(fd uintptr) bool { return r.read(fd) != unix.EAGAIN }
	r.check = func(fd uintptr) { r.read(fd) }
	return r
}

func (r *bellReader) read(fd uintptr) error {
	for {
		_, r.rerr = unix.Preadv2(int(fd), r.iov, -1, unix.RWF_NOWAIT)
		if r.rerr == unix.EOPNOTSUPP || r.rerr == unix.EINVAL || r.rerr == unix.ENOSYS {
			_, r.rerr = unix.Read(int(fd), r.iov[0])
		}
		if r.rerr != unix.EINTR {
			return r.rerr
		}
	}
}

// waitRing sleeps through the netpoller until the bell rings (and drains
// it), the read deadline passes, or the bell is closed.
func (r *bellReader) waitRing() error {
	if err := r.rc.Read(r.wait); err != nil {
		return err
	}
	return r.rerr
}

// rung drains the bell without waiting and reports whether it had rung.
func (r *bellReader) rung() bool {
	r.rerr = unix.EAGAIN
	r.rc.Control(r.check)
	return r.rerr == nil
}
