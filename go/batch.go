// batch.go is CallBatch, the bulk form of pipelining. Against a server
// that takes vector calls (CALLV, PROTOCOL.md §5) it packs up to 64 calls
// into one ring entry whose block holds a 16-byte record per call, and
// keeps a few such vectors in flight: a call then costs writing and
// reading its record, while the ring entry, the call slot, the doorbell
// and the wait are paid once per vector. Each call still runs its own
// named callback on its own zero-copy input and gets its own typed
// result. Without CALLV it pipelines ordinary calls (Submit, then Wait).

package ffb

import (
	"context"
	"sync/atomic"
	"unsafe"
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

// How many CALLVs one CallBatch keeps in flight, and calls in flight
// without CALLV. (The record layout, FFB_VEC_CALL_SIZE and the offsets of
// struct ffb_vec_call, and FFB_MAX_VEC_CALLS are in zlayout.go.)
const (
	vecDepth    = 4
	batchWindow = 64
)

// vecBlock is one CALLV: its block, and what the client keeps of each
// record (the server writes results over the requests). While the CALLV
// is pending its call slot points here, so that an abandoned vector's
// late answer can reclaim every input.
type vecBlock struct {
	buf    *Buffer              // the vector block: vecMax records
	n      int                  // records in use
	k      [maxVecCalls]int32   // each record's index in calls
	in     [maxVecCalls]*Buffer // each record's input, or nil
	fn     [maxVecCalls]uint32
	cached [maxVecCalls]bool // its id came from the name cache
}

// CallBatch runs every call in calls and waits for all of them. It sends
// them in vectors of up to 64 calls (CALLV), up to four vectors in
// flight, or, if the server takes no vectors, as up to 64 pipelined
// calls. It returns when every call has its Out and Err set; the return
// value is the first non-nil Err (nil if every call succeeded). Each
// call's In must be a distinct Buffer (or nil). Per-call errors are those
// of Invoke: on ctx's deadline the unanswered calls fail with TIMEOUT
// (their inputs are given up, as with Call.Wait), on the server's death
// with PEER_GONE, after Close with CLOSED. Safe for concurrent use (each
// goroutine with its own calls and Buffers); blocks like Invoke, spinning
// and parking as configured at Dial. Allocates nothing in a steady
// pipeline when the replies are zero-copy (ffi.echo) and the names are
// cached.
func (c *Client) CallBatch(ctx context.Context, calls []BatchCall) error {
	// While counted, this run may write vector blocks in the mapping:
	// Close waits for the count to drop before it unmaps. Adding before
	// loading dead pairs with Close storing dead before it reads the count.
	c.batchers.Add(1)
	defer c.batchers.Add(-1)
	if e := c.dead.Load(); e != nil {
		for k := range calls {
			calls[k].Out, calls[k].Err = nil, e
		}
		return e
	}
	// Every call gets its Out and Err set exactly once, below.
	b := batchRun{c: c, ctx: ctx, calls: calls, firstErr: len(calls)}
	if c.layout.flags&sbVectorCalls != 0 {
		b.runVectors()
	}
	b.runPipelined() // the calls no vector took
	if b.retried {
		for k := range calls {
			if calls[k].Err != nil {
				return calls[k].Err
			}
		}
		return nil
	}
	if b.firstErr < len(calls) {
		return calls[b.firstErr].Err
	}
	return nil
}

// batchRun is the state of one CallBatch.
type batchRun struct {
	c     *Client
	ctx   context.Context
	calls []BatchCall
	next  int // next call to send

	firstErr int  // lowest index of a call that failed, len(calls) if none
	retried  bool // a NOT_FOUND call was retried: scan for the first error

	lastName string // one-entry name cache: a batch usually calls one name
	lastFn   uint32
	lastOK   bool
	lastHit  bool
}

// vecSent is a CALLV in flight.
type vecSent struct {
	vb        *vecBlock
	slot, gen uint32
}

// runVectors sends the calls as CALLVs, keeping up to vecDepth in flight,
// and finishes them in order. While some are in flight it never waits for
// a call slot (it finishes the oldest instead). It stops early (leaving
// b.next for runPipelined) only when no vector block can be had while
// none is in flight.
func (b *batchRun) runVectors() {
	c := b.c
	var ring [vecDepth]vecSent
	var ready *vecBlock // filled, not yet sent
	head, tail := 0, 0
	for b.next < len(b.calls) || ready != nil || head != tail {
		for tail-head < vecDepth {
			if ready == nil {
				if b.next == len(b.calls) {
					break
				}
				if ready = c.getVec(); ready == nil {
					break // arena full: finish what is in flight, then see
				}
				if !b.fill(ready) {
					c.putVec(ready)
					ready = nil
					continue
				}
			}
			i, g, err := c.submitVec(b.ctx, ready, request{noWait: head != tail})
			if err == errNoSlot {
				break
			}
			if err != nil {
				b.failUnsent(ready, err)
				c.putVec(ready)
			} else {
				ring[tail%vecDepth] = vecSent{ready, i, g}
				tail++
			}
			ready = nil
		}
		if head == tail {
			if ready == nil && b.next < len(b.calls) {
				return // no vector block: runPipelined
			}
			continue
		}
		v := ring[head%vecDepth]
		head++
		b.finishVec(v)
	}
}

// submitVec sends the CALLV of vector block vb (its records written),
// with r's options (kind, in and vec are set here).
func (c *Client) submitVec(ctx context.Context, vb *vecBlock, r request) (uint32, uint32, error) {
	vb.buf.n = vb.n * vecCallSize
	r.kind, r.in, r.vec = kindCallv, vb.buf, vb
	return c.submit(ctx, r)
}

// set records call k's outcome.
func (b *batchRun) set(k int, out *Buffer, err error) {
	b.calls[k].Out, b.calls[k].Err = out, err
	if err != nil && k < b.firstErr {
		b.firstErr = k
	}
}

// resolve is c.resolve behind a one-entry cache (the same string is
// recognised by its bytes' address before they are compared).
func (b *batchRun) resolve(name string) (uint32, bool, error) {
	if b.lastOK && len(name) == len(b.lastName) &&
		(unsafe.StringData(name) == unsafe.StringData(b.lastName) || name == b.lastName) {
		return b.lastFn, b.lastHit, nil
	}
	fn, hit, err := b.c.resolve(b.ctx, name)
	if err != nil {
		b.lastOK = false
		return 0, false, err
	}
	b.lastName, b.lastFn, b.lastHit, b.lastOK = name, fn, hit, true
	return fn, hit, nil
}

// fill writes the records of the next calls (up to vecMax) into vb,
// lending their inputs; a call that fails here (unknown name, unusable
// input) gets its Err and takes no record. It reports whether vb has any.
func (b *batchRun) fill(vb *vecBlock) bool {
	c := b.c
	recs := vb.buf.data[:maxVecCalls*vecCallSize]
	vb.n = 0
	for b.next < len(b.calls) && vb.n < maxVecCalls {
		k := b.next
		b.next++
		bc := &b.calls[k]
		fn, cached, err := b.resolve(bc.Name)
		if err != nil {
			b.set(k, nil, err)
			continue
		}
		var h uint64
		var n uint32
		if in := bc.In; in != nil {
			if err := in.lend(c); err != nil {
				b.set(k, nil, err)
				continue
			}
			h, n = in.h, uint32(in.n)
		}
		j := vb.n
		// Plain stores into our own block: published by the CALLV's P1.
		p := unsafe.Pointer(&recs[j*vecCallSize])
		*(*uint64)(p) = h
		*(*uint32)(unsafe.Add(p, offVecCallLen)) = n
		*(*uint32)(unsafe.Add(p, offVecCallFnOrStatus)) = fn
		vb.k[j], vb.in[j], vb.fn[j], vb.cached[j] = int32(k), bc.In, fn, cached
		vb.n++
	}
	return vb.n > 0
}

// failUnsent ends the calls of a vector that could not be sent.
func (b *batchRun) failUnsent(vb *vecBlock, err error) {
	for j := 0; j < vb.n; j++ {
		if in := vb.in[j]; in != nil {
			in.unlend()
		}
		b.set(int(vb.k[j]), nil, err)
	}
}

// finishVec waits for a CALLV and hands each call its result.
func (b *batchRun) finishVec(v vecSent) {
	c, vb := b.c, v.vb
	res, ok, err := c.await(b.ctx, v.slot, v.gen)
	if !ok { // given up (abandon gave the inputs up): the slot keeps vb
		for j := 0; j < vb.n; j++ {
			b.set(int(vb.k[j]), nil, err)
		}
		return
	}
	if res.err != nil { // the session ended: the inputs went with it
		for j := 0; j < vb.n; j++ {
			if in := vb.in[j]; in != nil {
				if res.err.Code == CodeProtocol {
					in.unlend()
				} else {
					in.giveUp()
				}
			}
			b.set(int(vb.k[j]), nil, res.err)
		}
		if res.err.Code == CodeProtocol {
			c.putVec(vb)
		}
		return
	}
	if !vecAnswerOK(res, vb) {
		if res.handle != 0 && res.handle != vb.buf.h {
			c.releaseServerBlock(res.handle)
		}
		c.nProtocol.Add(1)
		perr := newError(CodeProtocol, "vector call answered with another block, length or status")
		for j := 0; j < vb.n; j++ {
			if in := vb.in[j]; in != nil {
				in.unlend()
			}
			b.set(int(vb.k[j]), nil, perr)
		}
		c.putVec(vb)
		return
	}
	prefetchRecords(vb)
	for j := 0; j < vb.n; j++ {
		r := c.vecResult(vb, j)
		in := vb.in[j]
		k := int(vb.k[j])
		if in != nil {
			in.unlend()
			if r.status == CodeOK && r.err == nil && r.handle == in.h { // zero copy
				in.n = int(r.len)
				b.calls[k].Out, b.calls[k].Err = in, nil
				continue
			}
		}
		out, err := c.finish(r, in)
		b.set(k, out, err)
		if err != nil && vb.cached[j] && noSuchFunction(err) {
			b.retryNotFound(k, vb.fn[j])
		}
	}
	c.putVec(vb)
}

// prefetchRecords asks for the lines of vb's records with intent to write
// (the server's core wrote them last; the next fill rewrites them), so
// their misses overlap.
func prefetchRecords(vb *vecBlock) {
	p := unsafe.Pointer(&vb.buf.data[0])
	for off := 0; off < vb.n*vecCallSize; off += 64 {
		prefetchWrite(unsafe.Add(p, off))
	}
}

// vecAnswerOK reports whether a CALLV's RESULT names its own block and
// length with status OK, as PROTOCOL.md requires.
func vecAnswerOK(res callResult, vb *vecBlock) bool {
	return res.status == CodeOK && res.handle == vb.buf.h && res.len == uint32(vb.n*vecCallSize)
}

// vecResult reads result record j of an answered CALLV once (R1) and
// checks it like a RESULT entry with that call's input as the lent block;
// a server block it names is now held (or released if unusable).
func (c *Client) vecResult(vb *vecBlock, j int) callResult {
	p := unsafe.Pointer(&vb.buf.data[j*vecCallSize])
	e := ringEntry{
		handle:     atomic.LoadUint64((*uint64)(p)), // R1
		len:        atomic.LoadUint32((*uint32)(unsafe.Add(p, offVecCallLen))),
		fnOrStatus: atomic.LoadUint32((*uint32)(unsafe.Add(p, offVecCallFnOrStatus))),
		kind:       kindResult,
	}
	var lent uint64
	if in := vb.in[j]; in != nil {
		lent = in.h
	}
	if e.handle == lent && lent != 0 && e.len <= c.layout.blockCap(lent) { // zero copy, checked
		return callResult{status: Code(int32(e.fnOrStatus)), handle: lent, len: e.len}
	}
	r, rel := decodeResult(c.layout, &e, kindCall, lent, c.heaps.take)
	if rel != 0 {
		c.releaseServerBlock(rel)
	}
	if r.err != nil {
		c.nProtocol.Add(1)
	}
	return r
}

// reclaimVec frees what a given-up CALLV lent once its late answer is in
// (res is that answer, already checked as a RESULT): server blocks named
// by its records go back, and every input block is freed. Dispatcher only.
func (c *Client) reclaimVec(vb *vecBlock, res callResult) {
	answered := res.err == nil && vecAnswerOK(res, vb)
	for j := 0; j < vb.n; j++ {
		in := vb.in[j]
		if answered {
			if r := c.vecResult(vb, j); r.err == nil && r.handle != 0 && (in == nil || r.handle != in.h) {
				c.releaseServerBlock(r.handle)
			}
		}
		if in != nil {
			c.heaps.free(in.h, blockLent)
		}
	}
}

// runPipelined sends the calls from b.next on as ordinary pipelined calls,
// up to batchWindow in flight, and waits for them in order. While some are
// in flight it never waits for a call slot (it waits for the oldest call
// instead).
func (b *batchRun) runPipelined() {
	c := b.c
	var window [batchWindow]struct {
		call Call
		k    int
	}
	head, tail := 0, 0
	for b.next < len(b.calls) || head != tail {
		for b.next < len(b.calls) && tail-head < batchWindow {
			k := b.next
			bc := &b.calls[k]
			fn, cached, err := b.resolve(bc.Name)
			if err == nil {
				var call Call
				call, err = c.submitCall(b.ctx, callee{bc.Name, fn, cached}, bc.In, request{pipelined: true, noWait: head != tail})
				if err == errNoSlot {
					break
				}
				if err == nil {
					window[tail%batchWindow].call, window[tail%batchWindow].k = call, k
					tail++
				}
			}
			b.next++
			if err != nil {
				b.set(k, nil, err)
			}
		}
		if head == tail {
			continue
		}
		w := &window[head%batchWindow]
		head++
		out, err := w.call.Wait(b.ctx)
		b.set(w.k, out, err)
		if err != nil && w.call.cached && noSuchFunction(err) {
			b.retried = true // Wait retried it already
		}
	}
}

// retryNotFound re-resolves the cached name of call k, which the server
// no longer knows (it may have been registered again under a new id), and
// retries the call once, synchronously.
func (b *batchRun) retryNotFound(k int, fn uint32) {
	bc := &b.calls[k]
	b.c.forget(bc.Name, fn)
	b.lastOK = false
	bc.Out, bc.Err = b.c.Invoke(b.ctx, bc.Name, bc.In)
	b.retried = true // firstErr may be stale now
}

// getVec takes a vector block from the client's pool, or allocates one;
// nil when the arena has no room for one.
func (c *Client) getVec() *vecBlock {
	c.vecMu.Lock()
	if n := len(c.vecFree); n > 0 {
		vb := c.vecFree[n-1]
		c.vecFree = c.vecFree[:n-1]
		c.vecMu.Unlock()
		return vb
	}
	c.vecMu.Unlock()
	buf, err := c.Alloc(maxVecCalls * vecCallSize)
	if err != nil {
		return nil
	}
	return &vecBlock{buf: buf}
}

// putVec returns a vector block whose CALLV is over to the pool.
func (c *Client) putVec(vb *vecBlock) {
	clear(vb.in[:vb.n]) // drop the references to the inputs
	vb.n = 0
	c.vecMu.Lock()
	c.vecFree = append(c.vecFree, vb)
	c.vecMu.Unlock()
}
