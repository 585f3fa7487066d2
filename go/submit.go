// submit.go is the producer side of the request ring: many goroutines
// submit through prodMu in front of the single-producer ring, RELEASE
// entries ride along with the next publish, and the server is woken only
// when it asked for it (P3).

package ffb

import (
	"context"
	"math"
	"runtime"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

var bellOne = [8]byte{1} // 1 as an 8-byte little-endian eventfd increment

const futexWake = 1 // FUTEX_WAKE, without FUTEX_PRIVATE_FLAG: the word is shared

// pushReleasesLocked moves queued control entries (CANCEL, CREDIT, a
// handler's LOOKUP answer), then RELEASEs, onto the ring while it has
// room, in the order they were queued. Caller holds prodMu.
func (c *Client) pushReleasesLocked() {
	c.relMu.Lock()
	defer c.relMu.Unlock()
	for len(c.ctl) > 0 {
		free := c.prod.free(1)
		if free == ringCorrupt {
			c.protocolViolation("request ring head out of bounds")
			return
		}
		if free < 1 {
			return
		}
		e := c.ctl[0]
		c.ctl = c.ctl[1:]
		c.nReleases.Add(-1)
		c.prod.push(e.callID, e.handle, e.len, e.kind, e.fnOrStatus)
	}
	for len(c.releases) > 0 {
		free := c.prod.free(1)
		if free == ringCorrupt {
			c.protocolViolation("request ring head out of bounds")
			return
		}
		if free < 1 {
			return
		}
		h := c.releases[len(c.releases)-1]
		c.releases = c.releases[:len(c.releases)-1]
		c.nReleases.Add(-1)
		c.prod.push(0, h, 0, kindRelease, 0)
	}
}

// publishBatch bounds how many deferred entries wait for a publish.
const publishBatch = 16

// flush publishes entries pushed by deferred submits, if any.
func (c *Client) flush() {
	if !c.unpublished.Load() {
		return
	}
	c.prodMu.Lock()
	if c.dead.Load() == nil {
		c.publishLocked()
	}
	c.prodMu.Unlock()
}

// publishLocked publishes pushed entries and rings the server if it
// parked. Caller holds prodMu (so the bell fd and mapping stay valid).
func (c *Client) publishLocked() {
	if c.unpublished.Load() {
		c.unpublished.Store(false)
	}
	if !c.prod.publish() {
		return
	}
	if c.layout.flags&sbFutexDoorbell != 0 {
		// FUTEX_WAKE (shared, not private) on p_tail in our mapping; the
		// server sleeps in FUTEX_WAIT on the same word (K1). Never blocks.
		unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(c.prod.pTail)),
			futexWake, math.MaxInt32, 0, 0, 0)
		return
	}
	if c.s.serverBell >= 0 {
		select { // the bell writer rings it (never under prodMu)
		case c.ringServer <- struct{}{}:
		default: // a ring is already pending: one write wakes the server
		}
	}
}

// serverBellLoop is the only writer of the server bell (eventfd doorbell
// mode). The eventfd's open file description is shared with the server,
// which could clear O_NONBLOCK and fill the counter so that a write
// blocks; so the write happens here, holding no lock, after re-asserting
// O_NONBLOCK. This goroutine owns the fd and closes it when the session
// ends; if a hostile server ever blocks the write, only this goroutine
// (and the fd) is lost, never the Client or Close.
func (c *Client) serverBellLoop(fd int) {
	defer unix.Close(fd)
	for {
		select {
		case <-c.ringServer:
		case <-c.done:
			return
		}
		unix.SetNonblock(fd, true)
		unix.Write(fd, bellOne[:]) // EAGAIN only if the counter would overflow: it is rung anyway
	}
}

// request is one entry to submit: a CALL, LOOKUP or CALLV.
type request struct {
	kind uint32
	fn   uint32    // CALL: the function id
	in   *Buffer   // the input lent to the call (a CALLV: its vector block), or nil
	vec  *vecBlock // a CALLV: its vector, so that a late answer can reclaim every input

	// pipelined: the entry is pushed but published only when publishBatch
	// entries are waiting, or by the next wait (flush): one tail store and
	// at most one doorbell per batch (Submit, CallBatch).
	pipelined bool
	// noWait: errNoSlot instead of waiting for a free call slot. A caller
	// with calls in flight must not wait for a slot: if every slot were
	// held by such callers, none would ever free one.
	noWait bool
}

// pushEntry pushes one entry and publishes it, waiting (yielding) while
// the request ring is full, up to ctx. Errors: the session's end, ctx's.
func (c *Client) pushEntry(ctx context.Context, id, h uint64, n, kind, fn uint32) error {
	for try := 0; ; try++ {
		c.prodMu.Lock()
		if e := c.dead.Load(); e != nil {
			c.prodMu.Unlock()
			return e
		}
		if c.nReleases.Load() != 0 {
			c.pushReleasesLocked()
		}
		free := c.prod.free(1)
		if free >= 1 {
			c.prod.push(id, h, n, kind, fn)
			c.publishLocked()
			c.prodMu.Unlock()
			return nil
		}
		if free == ringCorrupt {
			c.prodMu.Unlock()
			c.protocolViolation("request ring head out of bounds")
			return c.dead.Load()
		}
		c.publishLocked()
		c.prodMu.Unlock()
		if ctx.Err() != nil {
			return ctxError(ctx)
		}
		// A full ring: the server is behind. Yield a while, then sleep,
		// so that a stalled server costs this client no CPU.
		if try < 64 {
			runtime.Gosched()
		} else {
			time.Sleep(min(time.Duration(try-63)*10*time.Microsecond, time.Millisecond))
		}
	}
}

// errNoSlot is submit's answer to a noWait request when every call slot
// is taken.
var errNoSlot = newError(CodeTooManyCalls, "every call slot is taken")

// submit lends r.in, takes a call slot (waiting while the in-flight cap is
// reached, unless r.noWait) and pushes r's entry, publishing it unless
// r.pipelined. It returns the slot and generation to wait on.
func (c *Client) submit(ctx context.Context, r request) (uint32, uint32, error) {
	kind, fn, in, vec := r.kind, r.fn, r.in, r.vec
	if e := c.dead.Load(); e != nil {
		return 0, 0, e
	}
	var h uint64
	var n uint32
	if in != nil {
		if err := in.lend(c); err != nil {
			return 0, 0, err
		}
		h, n = in.h, uint32(in.n)
	}
	var i, g uint32
	var err error
	if !r.noWait {
		i, g, err = c.reg.acquire(ctx, c.done)
	} else {
		var ok bool
		if i, g, ok = c.reg.tryAcquire(); !ok {
			err = errNoSlot
		}
	}
	if err != nil {
		if in != nil {
			in.unlend()
		}
		if e := c.dead.Load(); e != nil {
			return 0, 0, e
		}
		return 0, 0, err
	}
	s := &c.reg.slots[i]
	s.kind, s.in, s.inH, s.vec = kind, in, h, vec
	storeRelU64(&s.word, slotWord(g, slotPending)) // release: publishes kind/in/inH to the dispatcher
	for {
		c.prodMu.Lock()
		if c.dead.Load() != nil {
			c.prodMu.Unlock()
			break
		}
		if c.nReleases.Load() != 0 {
			c.pushReleasesLocked()
		}
		free := c.prod.free(1)
		if free >= 1 {
			c.prod.push(makeCallID(i, g), h, n, kind, fn)
			if !r.pipelined || c.prod.tail-c.prod.published >= publishBatch {
				c.publishLocked()
			} else {
				if !c.unpublished.Load() {
					c.unpublished.Store(true)
				}
			}
			if vec != nil {
				c.nCalls += uint64(vec.n) // the calls of a CALLV
			} else {
				c.nCalls++
			}
			c.prodMu.Unlock()
			return i, g, nil
		}
		if free == ringCorrupt {
			c.prodMu.Unlock()
			c.protocolViolation("request ring head out of bounds")
			break
		}
		// Ring full: the server is behind. Make sure it is awake, then
		// yield; the deadline still applies.
		c.publishLocked()
		c.prodMu.Unlock()
		if ctx.Err() != nil {
			break
		}
		runtime.Gosched()
	}
	// Not published: take the slot back unless fail() completed it.
	if !s.word.CompareAndSwap(slotWord(g, slotPending), slotWord(g, slotClaimed)) {
		for s.word.Load() != slotWord(g, slotDone) {
			runtime.Gosched()
		}
	}
	c.reg.release(i)
	if in != nil {
		in.unlend()
	}
	if e := c.dead.Load(); e != nil {
		return 0, 0, e
	}
	return 0, 0, ctxError(ctx)
}
