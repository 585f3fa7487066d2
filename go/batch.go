// batch.go is the bulk form of pipelining: CallBatch takes call slots a
// group at a time and keeps them for the whole batch (their word says
// slotBatch), pushes a group's entries under one hold of the producer lock
// with one publish, and collects finished calls in bulk. A batch slot's
// per-call state is guarded by drainMu, which the dispatcher holds anyway:
// per call there is no atomic read-modify-write on the slot, no channel
// and no wake-up.

package ffb

import (
	"context"
	"runtime"
	"sync/atomic"
	"time"
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

// States of one call on a batch slot (callSlot.bstate, guarded by drainMu).
const (
	bcIdle      = iota // held by the batch between calls
	bcPending          // sent, result not yet in
	bcDone             // result in res, not yet collected
	bcAbandoned        // the batch gave up (ctx); the dispatcher frees the slot when the late result comes
)

// CallBatch runs every call in calls and waits for all of them. It keeps
// up to min(MaxInflight, 256) of them in flight: it takes call slots a
// group at a time (one CAS) and keeps them until it returns, lends the
// inputs, pushes a group of up to 32 entries under one hold of the
// producer lock with one tail store (and at most one doorbell), and
// collects finished calls in bulk while later groups are still being
// sent; a finished call's slot carries the next call. It returns when
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
	b.deadline, b.hasDeadline = ctx.Deadline()
	for k := range calls {
		calls[k].Out, calls[k].Err = nil, nil
	}
	for b.next < len(calls) || b.col != b.sent {
		progress := false
		if b.next < len(calls) && b.sent-b.col < b.window {
			progress = b.send(min(batchPublish, b.window-(b.sent-b.col)))
		}
		if b.col != b.sent && b.collect() {
			progress = true
		}
		if progress {
			b.idle = 0
		} else {
			b.wait()
		}
	}
	b.releaseOwn()
	for k := range calls {
		if calls[k].Err != nil {
			return calls[k].Err
		}
	}
	return nil
}

// batchRun is the state of one CallBatch. Sent calls are numbered in
// order; number q lives at index q%batchWindow of the arrays, and the
// numbers col..sent-1 are in flight (or given up).
type batchRun struct {
	c      *Client
	ctx    context.Context
	calls  []BatchCall
	window uint32
	next   int    // next call to send
	sent   uint32 // calls sent so far
	col    uint32 // calls collected (or given up) so far

	which  [batchWindow]int32  // the call's index in calls
	slot   [batchWindow]uint32 // its call slot
	fn     [batchWindow]uint32 // its function id
	cached [batchWindow]bool   // its id came from the name cache
	gone   [batchWindow]bool   // given up at the deadline: its slot is no longer ours

	own  [batchWindow]uint32 // idle batch slots, for the next sends
	nOwn int

	lastName string // one-entry name cache: a batch usually calls one name
	lastFn   uint32
	lastOK   bool
	lastHit  bool

	idle                 int // polls without progress
	spinUntil, lastYield time.Time
	deadline             time.Time
	hasDeadline          bool
}

// send takes up to n call slots (idle ones of this batch first), prepares
// as many calls (resolve, lend) and publishes their entries in one group.
// It reports false, doing nothing, when no slot is free while calls of
// this batch are in flight: the caller then waits for one of those
// (blocking for a slot while holding finished ones could deadlock two
// batches).
func (b *batchRun) send(n uint32) bool {
	c := b.c
	n = min(n, uint32(len(b.calls)-b.next))
	var slots [batchPublish]uint32
	got := uint32(0)
	for got < n && b.nOwn > 0 {
		b.nOwn--
		slots[got] = b.own[b.nOwn]
		got++
	}
	fresh := got // slots[fresh:got] come from the free list
	if got < n {
		got += uint32(c.reg.tryAcquireN(slots[got:n]))
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
			b.calls[b.next].Err = err
			b.next++
			return true
		}
		slots[0], got = i, 1
	}
	for _, i := range slots[fresh:got] { // ours for the whole batch from here
		s := &c.reg.slots[i]
		g := c.reg.newGen(i)
		s.word.Store(slotWord(g, slotBatch))
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
		b.which[q], b.fn[q], b.cached[q], b.gone[q] = int32(k), b.lastFn, b.lastHit, false
		m++
	}
	// Slots taken for calls that failed before sending stay idle with us.
	// slots[m:got] mixes idle and fresh ones; both are batch slots now.
	for _, i := range slots[m:got] {
		b.own[b.nOwn] = i
		b.nOwn++
	}
	if m == 0 {
		return true
	}
	c.drainMu.Lock() // the dispatcher reads these under the same lock
	for j := uint32(0); j < m; j++ {
		q := (b.sent + j) % batchWindow
		i := slots[j]
		s := &c.reg.slots[i]
		if j < fresh {
			if s.gen++; s.gen == 0 {
				s.gen = 1
			}
		}
		in := b.calls[b.which[q]].In
		var h uint64
		if in != nil {
			h = in.h
		}
		s.kind, s.in, s.inH, s.bstate = kindCall, in, h, bcPending
		b.slot[q] = i
	}
	c.drainMu.Unlock()
	b.sent += b.submit(m)
	return true
}

// submit pushes the CALL entries of the next m calls and publishes them
// with one tail store. It returns how many were published (all of them,
// unless the session died or ctx ended while the ring was full); the rest
// it takes back (their slots stay idle with the batch, their inputs are
// returned) and fails.
func (b *batchRun) submit(m uint32) uint32 {
	c := b.c
	pushed := uint32(0)
	for {
		c.prodMu.Lock()
		if c.dead.Load() != nil {
			c.prodMu.Unlock()
			break
		}
		if c.nReleases.Load() != 0 {
			c.pushReleasesLocked()
		}
		free := c.prod.free(m - pushed)
		if free == ringCorrupt {
			c.prodMu.Unlock()
			c.protocolViolation("request ring head out of bounds")
			break
		}
		for ; free > 0 && pushed < m; free-- {
			q := (b.sent + pushed) % batchWindow
			i := b.slot[q]
			s := &c.reg.slots[i]
			var n uint32
			if in := b.calls[b.which[q]].In; in != nil {
				n = uint32(in.n)
			}
			c.prod.push(makeCallID(i, s.gen), s.inH, n, kindCall, b.fn[q])
			pushed++
		}
		c.publishLocked()
		c.nCalls += uint64(pushed)
		c.prodMu.Unlock()
		if pushed == m || b.ctx.Err() != nil {
			break
		}
		// Ring full: the server is behind; it is awake (published above).
		c.tryDrain()
		runtime.Gosched()
	}
	if pushed == m {
		return m
	}
	c.drainMu.Lock()
	for j := pushed; j < m; j++ {
		s := &c.reg.slots[b.slot[(b.sent+j)%batchWindow]]
		s.bstate, s.in = bcIdle, nil
	}
	c.drainMu.Unlock()
	for j := pushed; j < m; j++ {
		q := (b.sent + j) % batchWindow
		b.own[b.nOwn] = b.slot[q]
		b.nOwn++
		bc := &b.calls[b.which[q]]
		if bc.In != nil {
			bc.In.unlend()
		}
		if e := c.dead.Load(); e != nil {
			bc.Err = e
		} else {
			bc.Err = ctxError(b.ctx)
		}
	}
	return pushed
}

// collect drains the response ring and collects the run of finished calls
// at the head of the window (up to one group), keeping their slots for the
// next sends. On a dead session it first ends every call in flight with
// the session's error (fail leaves batch slots to their batch). It
// reports whether any call was collected.
func (b *batchRun) collect() bool {
	c := b.c
	// C1 (peek only): nothing new in the ring, so nothing new for us,
	// unless another goroutine drained it (checked every 16th poll).
	if atomic.LoadUint32(c.cons.pTail) == c.drainHead.Load() && b.idle&15 != 15 &&
		c.dead.Load() == nil && !b.gone[b.col%batchWindow] {
		return false
	}
	var res [batchPublish]callResult
	n := uint32(0)
	c.drainMu.Lock()
	if e := c.dead.Load(); e != nil {
		for q := b.col; q != b.sent; q++ {
			if s := &c.reg.slots[b.slot[q%batchWindow]]; !b.gone[q%batchWindow] && s.bstate == bcPending {
				s.res, s.bstate = callResult{err: e}, bcDone
			}
		}
	} else {
		c.drainLocked()
	}
	for n < batchPublish && b.col+n != b.sent {
		q := (b.col + n) % batchWindow
		if !b.gone[q] {
			s := &c.reg.slots[b.slot[q]]
			if s.bstate != bcDone {
				break
			}
			res[n] = s.res
			s.bstate, s.in, s.res = bcIdle, nil, callResult{}
		}
		n++
	}
	c.drainMu.Unlock()
	for j := uint32(0); j < n; j++ {
		q := (b.col + j) % batchWindow
		if b.gone[q] {
			continue
		}
		b.own[b.nOwn] = b.slot[q]
		b.nOwn++
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
	b.col += n
	return n > 0
}

// wait is one poll without progress: every 64th it checks the session,
// ctx and the clock, yields now and then, and parks once the spin time is
// over (at once with WithSpin(0)).
func (b *batchRun) wait() {
	c := b.c
	b.idle++
	spinOnly := c.opts.spinOnly
	if !spinOnly && c.opts.spin <= 0 {
		b.park()
		return
	}
	if b.idle&63 != 0 {
		return
	}
	if c.dead.Load() != nil {
		return // collect ends the calls
	}
	select {
	case <-b.ctx.Done():
		b.abandon(ctxError(b.ctx))
		return
	default:
	}
	now := time.Now()
	if b.idle == 64 {
		b.spinUntil, b.lastYield = now.Add(c.opts.spin), now
	}
	if b.hasDeadline && !now.Before(b.deadline) {
		b.abandon(ctxError(b.ctx))
		return
	}
	if !spinOnly && !now.Before(b.spinUntil) {
		b.park()
		return
	}
	if now.Sub(b.lastYield) > spinYield {
		runtime.Gosched()
		b.lastYield = now
	}
}

// park sleeps until the oldest call in flight is done (the dispatcher
// wakes it), ctx ends (the calls in flight are given up) or the session
// ends.
func (b *batchRun) park() {
	c := b.c
	q := b.col % batchWindow
	if b.gone[q] {
		return
	}
	s := &c.reg.slots[b.slot[q]]
	c.parkers.Add(1)
	select {
	case c.kick <- struct{}{}:
	default:
	}
	s.parked.Store(1)
	defer func() {
		s.parked.Store(0)
		c.parkers.Add(-1)
	}()
	for {
		c.drainMu.Lock()
		st := s.bstate
		c.drainMu.Unlock()
		if st != bcPending {
			return
		}
		select {
		case <-s.wake:
		case <-b.ctx.Done():
			b.abandon(ctxError(b.ctx))
			return
		case <-c.done:
			return
		}
	}
}

// abandon gives up every call in flight that has no result yet (err) and
// every call not yet sent. A given-up call's slot stays taken until its
// late result comes: the dispatcher then frees the input block and the
// slot.
func (b *batchRun) abandon(err *Error) {
	c := b.c
	c.drainMu.Lock()
	for q := b.col; q != b.sent; q++ {
		k := q % batchWindow
		s := &c.reg.slots[b.slot[k]]
		if b.gone[k] || s.bstate != bcPending {
			continue
		}
		bc := &b.calls[b.which[k]]
		if bc.In != nil {
			// LENT before the dispatcher can free it from LENT; the given-up
			// Buffer's GC cleanup (from OWNED) then cannot free it early.
			c.heaps.lend(bc.In.h, blockOwned, blockLent)
			bc.In.giveUp()
		}
		s.bstate, s.in = bcAbandoned, nil
		b.gone[k] = true
		bc.Err = err
	}
	c.drainMu.Unlock()
	for ; b.next < len(b.calls); b.next++ {
		b.calls[b.next].Err = err
	}
}

// releaseOwn hands the batch's idle slots back to the free list (one
// CAS), under drainMu so that no dispatcher is reading them meanwhile.
func (b *batchRun) releaseOwn() {
	c := b.c
	c.drainMu.Lock()
	c.reg.releaseN(b.own[:b.nOwn])
	c.drainMu.Unlock()
	b.nOwn = 0
}

// dispatchBatch routes a result for slot i (generation g), whose word
// says slotBatch, to its batch call. Caller holds drainMu.
func (c *Client) dispatchBatch(e *ringEntry, i, g uint32) {
	s := &c.reg.slots[i]
	if s.gen != g || (s.bstate != bcPending && s.bstate != bcAbandoned) {
		c.nDropped.Add(1)
		return
	}
	res, rel := decodeResult(c.layout, e, s.kind, s.inH, c.heaps.take)
	if rel != 0 {
		c.releaseServerBlock(rel)
	}
	if s.bstate == bcAbandoned {
		// A late answer: free the request block, send a server block in
		// it straight back, and free the slot.
		if res.err == nil && res.handle != 0 && res.handle != s.inH {
			c.releaseServerBlock(res.handle)
		}
		if s.inH != 0 {
			c.heaps.free(s.inH, blockLent)
		}
		s.bstate = bcIdle
		c.nDropped.Add(1)
		c.reg.release(i)
		return
	}
	if res.err != nil {
		c.nProtocol.Add(1)
	}
	s.res, s.bstate = res, bcDone
	s.wakeWaiter()
}

// retryNotFound re-resolves a cached name that the server no longer knows
// (it may have been registered again under a new id) and retries the call
// once, synchronously.
func (c *Client) retryNotFound(ctx context.Context, b *BatchCall, fn uint32, cached bool) {
	if !cached || b.Err == nil || CodeOf(b.Err) != CodeNotFound {
		return
	}
	c.forget(b.Name, fn)
	b.Out, b.Err = c.Invoke(ctx, b.Name, b.In)
}
