// dispatch.go is the consumer side of the response ring: one goroutine at
// a time (whoever holds drainMu) pops RESULT entries, validates every
// field it read once (R1), and hands each result to its pending slot, or
// reclaims the blocks of a call whose waiter gave up. Nothing a server
// writes can make it deliver a result to the wrong call. (Not the C
// src/dispatch.c, which is the server serving requests; this routes
// responses on the client.)

package ffb

import (
	"runtime"
	"sync/atomic"
	"unsafe"
)

// decodeResult validates a RESULT entry for a call that lent handle lent
// (0 if none) and returns what the waiter gets. take records a server
// block as held and reports false for one already held. It never panics
// on any entry (see FuzzHostileResponses). The returned release is a server
// block the client took but must give back at once (a malformed reply).
func decodeResult(l *arenaLayout, e *ringEntry, kind uint32, lent uint64, take func(handle) bool) (res callResult, release uint64) {
	res = callResult{status: Code(int32(e.fnOrStatus)), handle: e.handle, len: e.len}
	bad := func(msg string) (callResult, uint64) {
		return callResult{err: newError(CodeProtocol, msg)}, release
	}
	if kind == kindLookup && res.status == CodeOK {
		// A LOOKUP answers no block: len carries the function id.
		if e.handle != 0 {
			return bad("lookup answered a block")
		}
		if e.len == 0 {
			return bad("lookup answered function id 0")
		}
		return res, 0
	}
	if e.handle == 0 {
		if e.len != 0 {
			return bad("result names no block but a length")
		}
	} else if e.handle == lent {
		if e.len > l.blockCap(lent) {
			return bad("zero-copy reply longer than its block")
		}
	} else {
		d, code := l.checkHandle(e.handle, heapServer)
		if code != CodeOK {
			return bad("result names a block that is neither the lent one nor a valid server block")
		}
		if !take(d) {
			return bad("result names a server block the client already holds")
		}
		if _, capacity := l.blockRange(&d); e.len > capacity {
			release = e.handle
			return bad("reply longer than its block")
		}
	}
	return res, 0
}

// tryDrain drains the response ring if no other goroutine is doing so.
// A cheap look at the head entry's stamp first keeps spinning waiters off
// the lock.
func (c *Client) tryDrain() {
	// S2 (peek only): the drainer reads the stamp again itself.
	head := c.drainHead.Load()
	if atomic.LoadUint32((*uint32)(unsafe.Add(c.cons.slot(head), offRingEntrySeq))) != head+1 {
		return
	}
	if c.drainMu.TryLock() {
		c.drainLocked()
		c.drainUnlock()
	}
}

// drainUnlock lets go of drainMu, then of the processor if the drain
// started handlers: a new goroutine waits on this P's run queue, and a
// spinning waiter would keep it there while the server waits for its
// answer (on two CPUs, for the whole spin).
func (c *Client) drainUnlock() {
	started := c.handlersStarted
	c.handlersStarted = false
	c.drainMu.Unlock()
	if started {
		runtime.Gosched()
	}
}

// drainLocked pops and dispatches every ready result. Caller holds drainMu.
func (c *Client) drainLocked() {
	if c.dead.Load() != nil {
		return
	}
	for {
		n := c.cons.ready() // a bad tail is found at park
		if n == 0 {
			return
		}
		var e ringEntry
		for ; n > 0; n-- {
			c.cons.pop(&e)
			c.dispatch(&e)
		}
		c.cons.release()
		storeRelU32(&c.drainHead, c.cons.head) // a hint for peeks: release order is enough
	}
}

// dispatch routes one entry: an answer to its call (or drops and counts
// it), a call of the server's to its handler, a RELEASE to the block.
func (c *Client) dispatch(e *ringEntry) {
	switch {
	case e.kind == kindRelease:
		c.dispatchRelease(e)
		return
	case callIDDir(e.callID) == idFromServer:
		c.dispatchServer(e)
		return
	case e.kind != kindResult && e.kind != kindItem:
		c.nDropped.Add(1)
		return
	case callIDKind(e.callID) == idStream:
		c.dispatchStream(e)
		return
	case e.kind == kindItem: // an item for a plain call: names no stream
		c.nDropped.Add(1)
		return
	}
	i, g := callIDSlot(e.callID), callIDGen(e.callID)
	if g == 0 || i >= uint32(len(c.reg.slots)) || e.callID != makeCallID(i, g) {
		c.nDropped.Add(1)
		return
	}
	s := &c.reg.slots[i]
	if s.word.CompareAndSwap(slotWord(g, slotPending), slotWord(g, slotClaimed)) {
		res, rel := decodeResult(c.layout, e, s.kind, s.inH, c.heaps.take)
		if res.err != nil {
			c.nProtocol.Add(1)
		}
		if rel != 0 {
			c.releaseServerBlock(rel)
		}
		s.complete(g, res)
		return
	}
	if s.word.CompareAndSwap(slotWord(g, slotAbandoned), slotWord(g, slotClaimed)) {
		// A late answer: the request block is ours again (free it) and a
		// server block in it goes straight back (RELEASE).
		res, rel := decodeResult(c.layout, e, s.kind, s.inH, c.heaps.take)
		if rel != 0 {
			c.releaseServerBlock(rel)
		}
		if res.err == nil && res.handle != 0 && res.handle != s.inH {
			c.releaseServerBlock(res.handle)
		}
		if s.vec != nil {
			c.reclaimVec(s.vec, res)
		}
		if s.inH != 0 {
			c.heaps.free(s.inH, blockLent)
		}
		c.nDropped.Add(1)
		c.reg.release(i)
		return
	}
	c.nDropped.Add(1)
}

// releaseServerBlock forgets a held server block and queues its RELEASE.
// STALE_HANDLE or DOUBLE_FREE if the client does not hold it; then
// nothing is sent (a bad RELEASE would get the session cut).
func (c *Client) releaseServerBlock(h uint64) error {
	if err := c.heaps.give(h); err != nil {
		return err
	}
	c.relMu.Lock()
	c.releases = append(c.releases, h)
	n := len(c.releases)
	c.nReleases.Add(1)
	c.relMu.Unlock()
	if n >= releaseBatch {
		c.flushReleases()
	}
	return nil
}

// cancelCall queues a CANCEL for call id (its caller gave up) and
// publishes it now, so the server can stop the handler.
func (c *Client) cancelCall(id uint64) {
	c.queueControl(ringEntry{callID: id, kind: kindCancel})
}

// queueControl queues a control entry (CANCEL, CREDIT, an answer the
// drainer makes) and publishes it now if the ring has room. Never blocks
// on the ring: what does not fit goes with a later publish.
func (c *Client) queueControl(e ringEntry) {
	c.relMu.Lock()
	c.ctl = append(c.ctl, e)
	c.nReleases.Add(1)
	c.relMu.Unlock()
	c.flushReleases()
}

// releaseBatch is how many RELEASE entries may wait for the next publish.
const releaseBatch = 16

// flushReleases publishes queued RELEASE entries now.
func (c *Client) flushReleases() {
	c.prodMu.Lock()
	if c.dead.Load() == nil {
		c.pushReleasesLocked()
		c.publishLocked()
	}
	c.prodMu.Unlock()
}
