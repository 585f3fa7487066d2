// batch.go is the bulk form of pipelining: CallBatch takes the call slots
// of a whole batch with one CAS, pushes its entries under one hold of the
// producer lock with one publish, waits on the batch as a whole, and hands
// the slots back with one CAS. Per call there is no channel, no wake-up
// and no lock.

package ffb

import (
	"context"
	"runtime"
)

// BatchCall is one call of a batch run by Client.CallBatch. The caller
// sets Name and In; CallBatch sets Out and Err to what Call.Wait would
// return for that call. A []BatchCall can be reused from batch to batch
// (CallBatch overwrites Out and Err), so a steady pipeline allocates
// nothing.
type BatchCall struct {
	Name string  // the callback, as for Invoke
	In   *Buffer // input lent to the call until CallBatch returns, or nil
	Out  *Buffer // set by CallBatch: the reply (see Call.Wait)
	Err  error   // set by CallBatch: nil, or the call's *Error
}

// batchWindow bounds how many calls of one CallBatch are in flight (and
// sizes its per-call arrays, which live on the stack); batchPublish is how
// many entries go out with one publish, so the server starts on the first
// calls while later ones are still being pushed.
const (
	batchWindow  = 256
	batchPublish = 32
)

// CallBatch runs every call in calls and waits for all of them. It keeps
// up to min(MaxInflight, 256) of them in flight: it takes call slots with
// one CAS per group, lends the inputs, pushes a group of up to 32 entries
// under one hold of the producer lock with one tail store (and at most one
// doorbell), and collects finished calls in bulk, releasing their slots
// with one CAS, while later groups are still being sent. It returns when
// every call has its Out and Err set; the return value is the first
// non-nil Err (nil if every call succeeded). Each call's In must be a
// distinct Buffer (or nil). Per-call errors are those of Invoke: on ctx's
// deadline the unanswered calls fail with TIMEOUT (their inputs are given
// up, as with Call.Wait), on the server's death with PEER_GONE, after
// Close with CLOSED. Safe for concurrent use (each goroutine with its own
// calls and Buffers); blocks like Invoke, spinning and parking as
// configured at Dial. Allocates nothing when the replies are zero-copy
// (ffi.echo) and the names are cached.
func (c *Client) CallBatch(ctx context.Context, calls []BatchCall) error {
	// While counted, this run may peek at the mapped rings: Close waits
	// for the count to drop before it unmaps. Adding before loading dead
	// pairs with Close storing dead before it reads the count.
	c.batchers.Add(1)
	defer c.batchers.Add(-1)
	if e := c.dead.Load(); e != nil {
		for k := range calls {
			calls[k].Out, calls[k].Err = nil, e
		}
		return e
	}
	var b batchRun
	b.c, b.ctx, b.calls = c, ctx, calls
	b.window = uint32(min(int(c.layout.maxInflight), batchWindow))
	for k := range calls {
		calls[k].Out, calls[k].Err = nil, nil
	}
	for b.next < len(calls) || b.col != b.sent {
		if b.next < len(calls) && b.sent-b.col < b.window &&
			b.send(min(batchPublish, b.window-(b.sent-b.col))) {
			b.collectDone()
			continue
		}
		b.waitOldest()
		b.collectDone()
	}
	c.reg.releaseN(b.own[:b.nOwn]) // put back the slots kept for reuse
	for k := range calls {
		if calls[k].Err != nil {
			return calls[k].Err
		}
	}
	return nil
}

// batchRun is the state of one CallBatch. Sent calls are numbered in
// order; number q lives at index q%batchWindow of the arrays, and the
// numbers col..sent-1 are in flight.
type batchRun struct {
	c      *Client
	ctx    context.Context
	calls  []BatchCall
	window uint32
	next   int    // next call to send
	sent   uint32 // calls sent so far
	col    uint32 // calls collected so far

	which  [batchWindow]int32  // the call's index in calls
	slot   [batchWindow]uint32 // its call slot
	fn     [batchWindow]uint32 // its function id
	cached [batchWindow]bool   // its id came from the name cache

	own  [batchWindow]uint32 // collected slots kept (state done) for the next sends
	nOwn int

	lastName string // one-entry name cache: a batch usually calls one name
	lastFn   uint32
	lastOK   bool
	lastHit  bool
}

// send takes up to n free call slots, prepares as many calls (resolve,
// lend) and publishes their entries in one group. It reports false, doing
// nothing, when no slot is free while calls of this batch are in flight:
// the caller then waits for one of those instead (blocking for a slot
// while holding finished, uncollected ones could deadlock two batches).
func (b *batchRun) send(n uint32) bool {
	c := b.c
	var slots [batchPublish]uint32
	got := uint32(0)
	for got < n && b.nOwn > 0 { // a slot this batch collected: no free-list round trip
		b.nOwn--
		i := b.own[b.nOwn]
		s := &c.reg.slots[i]
		if s.gen++; s.gen == 0 {
			s.gen = 1
		}
		slots[got] = i
		got++
	}
	if got < n {
		if k := uint32(c.reg.tryAcquireN(slots[got:n])); k > 0 {
			for _, i := range slots[got : got+k] {
				c.reg.newGen(i)
			}
			got += k
		}
	}
	if got == 0 {
		if b.sent != b.col {
			return false
		}
		i, _, err := c.reg.acquire(b.ctx, c.done)
		if err != nil {
			if e := c.dead.Load(); e != nil {
				err = e
			}
			b.failNext(err)
			return true
		}
		slots[0], got = i, 1
	}
	m := uint32(0)
	for m < got && b.next < len(b.calls) {
		k := b.next
		b.next++
		bc := &b.calls[k]
		if !b.lastOK || bc.Name != b.lastName {
			fn, hit, err := c.resolve(b.ctx, bc.Name)
			if err != nil {
				bc.Err = err
				b.lastOK = false
				continue
			}
			b.lastName, b.lastFn, b.lastHit, b.lastOK = bc.Name, fn, hit, true
		}
		if bc.In != nil {
			if err := bc.In.lend(c); err != nil {
				bc.Err = err
				continue
			}
		}
		q := (b.sent + m) % batchWindow
		b.which[q], b.slot[q], b.fn[q], b.cached[q] = int32(k), slots[m], b.lastFn, b.lastHit
		m++
	}
	c.reg.releaseN(slots[m:got]) // more slots than calls left to send
	if m > 0 {
		b.sent += b.submit(slots[:m])
	}
	return true
}

// failNext fails the next call with err (no slot could be had for it).
func (b *batchRun) failNext(err error) {
	b.calls[b.next].Err = err
	b.next++
}

// submit marks the slots of the next len(slots) calls pending, pushes one
// CALL entry each and publishes them with one tail store. It returns how
// many were published (all of them, unless the session died or ctx ended
// while the ring was full); the rest it takes back, releasing their slots
// and inputs and setting their Err.
func (b *batchRun) submit(slots []uint32) uint32 {
	c := b.c
	for j, i := range slots {
		bc := &b.calls[b.which[(b.sent+uint32(j))%batchWindow]]
		s := &c.reg.slots[i]
		var h uint64
		if bc.In != nil {
			h = bc.In.h
		}
		s.kind, s.in, s.inH = kindCall, bc.In, h
		s.word.Store(slotWord(s.gen, slotPending)) // publishes kind/in/inH to the dispatcher
	}
	pushed := 0
	for {
		c.prodMu.Lock()
		if c.dead.Load() != nil {
			c.prodMu.Unlock()
			break
		}
		if c.nReleases.Load() != 0 {
			c.pushReleasesLocked()
		}
		free := c.prod.free(uint32(len(slots) - pushed))
		if free == ringCorrupt {
			c.prodMu.Unlock()
			c.protocolViolation("request ring head out of bounds")
			break
		}
		for ; free > 0 && pushed < len(slots); free-- {
			q := (b.sent + uint32(pushed)) % batchWindow
			s := &c.reg.slots[slots[pushed]]
			e := ringEntry{callID: makeCallID(slots[pushed], s.gen), handle: s.inH, kind: kindCall, fnOrStatus: b.fn[q]}
			if in := b.calls[b.which[q]].In; in != nil {
				e.len = uint32(in.n)
			}
			c.prod.push(&e)
			pushed++
		}
		c.publishLocked()
		c.nCalls += uint64(pushed)
		c.prodMu.Unlock()
		if pushed == len(slots) || b.ctx.Err() != nil {
			break
		}
		// Ring full: the server is behind; it is awake (published above).
		c.tryDrain()
		runtime.Gosched()
	}
	// Not published: take those slots back unless fail() completed them.
	for j := pushed; j < len(slots); j++ {
		i := slots[j]
		s := &c.reg.slots[i]
		g := s.gen
		if !s.word.CompareAndSwap(slotWord(g, slotPending), slotWord(g, slotClaimed)) {
			for s.word.Load() != slotWord(g, slotDone) {
				runtime.Gosched()
			}
		}
		c.reg.release(i)
		bc := &b.calls[b.which[(b.sent+uint32(j))%batchWindow]]
		if bc.In != nil {
			bc.In.unlend()
		}
		if e := c.dead.Load(); e != nil {
			bc.Err = e
		} else {
			bc.Err = ctxError(b.ctx)
		}
	}
	return uint32(pushed)
}

// waitOldest waits for the oldest call in flight (spinning, then parking,
// as configured) and collects it, or records its error.
func (b *batchRun) waitOldest() {
	c := b.c
	q := b.col % batchWindow
	i := b.slot[q]
	s := &c.reg.slots[i]
	if s.word.Load() == slotWord(s.gen, slotDone) {
		return // collectDone takes it
	}
	bc := &b.calls[b.which[q]]
	res, ok, err := c.await(b.ctx, i, s.gen)
	b.col++
	if !ok {
		bc.Err = err
		return
	}
	bc.Out, bc.Err = c.finish(res, bc.In)
	c.retryNotFound(b.ctx, bc, b.fn[q], b.cached[q])
}

// collectDone collects the run of finished calls at the head of the
// in-flight window: it copies their results out and keeps their slots
// (still marked done, so a late duplicate result is dropped) for this
// batch's next sends, then gives the inputs back. CallBatch releases the
// kept slots, all with one CAS, when it returns.
func (b *batchRun) collectDone() {
	c := b.c
	c.tryDrain()
	for b.col != b.sent {
		var res [batchPublish]callResult
		n := 0
		for n < batchPublish && b.col+uint32(n) != b.sent {
			i := b.slot[(b.col+uint32(n))%batchWindow]
			s := &c.reg.slots[i]
			if s.word.Load() != slotWord(s.gen, slotDone) {
				break
			}
			res[n] = s.res
			s.in, s.inH, s.res = nil, 0, callResult{}
			b.own[b.nOwn] = i
			b.nOwn++
			n++
		}
		if n == 0 {
			return
		}
		for j := 0; j < n; j++ {
			q := (b.col + uint32(j)) % batchWindow
			bc := &b.calls[b.which[q]]
			if bc.In != nil {
				if res[j].err != nil && res[j].err.Code != CodeProtocol {
					bc.In.giveUp() // peer gone / closed: the block went with the session
				} else {
					bc.In.unlend()
				}
			}
			bc.Out, bc.Err = c.finish(res[j], bc.In)
			c.retryNotFound(b.ctx, bc, b.fn[q], b.cached[q])
		}
		b.col += uint32(n)
	}
}

// retryNotFound re-resolves a cached name that the server no longer knows
// (it may have been registered again under a new id) and retries the call
// once, synchronously.
func (c *Client) retryNotFound(ctx context.Context, b *BatchCall, fn uint32, cached bool) {
	if !cached || CodeOf(b.Err) != CodeNotFound {
		return
	}
	c.forget(b.Name, fn)
	b.Out, b.Err = c.Invoke(ctx, b.Name, b.In)
}
