// stream.go: calls answered by many items, then an end (PROTOCOL.md
// §5.7). Client.Stream sends a CALL whose id says STREAM and yields the
// server's ITEMs in order as they come, granting the server credit as it
// takes them, so a slow consumer slows the producer and no item is lost
// or queued without bound. Streams have a table of their own, apart from
// the plain calls' registry: an id's kind picks the table, so an answer
// of the wrong kind never even finds a call.

package ffb

import (
	"context"
	"iter"
	"runtime"
	"sync"
	"time"
)

// maxStreams bounds the streams one Client has open at once; more wait
// for one to end.
const maxStreams = 64

// Stream states.
const (
	streamFree      = iota
	streamOpen      // the call is out; items and the end come in
	streamAbandoned // the consumer stopped: late items and the end are reclaimed
)

// streamSlot is one stream call. The drainer adds items and the end; the
// consuming goroutine takes them; mu guards all but wake.
type streamSlot struct {
	mu      sync.Mutex
	gen     uint32
	state   int
	in      *Buffer // lent to the call until its end
	inH     uint64
	items   []callResult // arrived, not yet taken (a server block each, or none)
	end     *callResult  // the stream's RESULT, once it came
	allowed uint32       // items the server may still send (credit given, less items come)
	parked  bool
	wake    chan struct{} // buffered(1): something arrived
}

type streamTable struct {
	slots [maxStreams]streamSlot
	free  chan uint32 // free slot numbers
}

func newStreamTable() *streamTable {
	t := &streamTable{free: make(chan uint32, maxStreams)}
	for i := range t.slots {
		t.slots[i].wake = make(chan struct{}, 1)
		t.free <- uint32(i)
	}
	return t
}

func (s *streamSlot) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Stream calls the server function name as a stream with input in (nil
// for none) and returns an iterator over its items: each a *Buffer the
// caller owns (Free it; nil for an empty item), or an error, which ends
// the iteration (the stream's own error, TIMEOUT or CLOSED when ctx ends,
// PEER_GONE, ...). A plain function called as a stream gives its answer
// as the one item. Flow control is by credit: the server has at most a
// window of items (up to 256, half the response ring) on their way or
// waiting here, so a slow consumer slows the producer. Breaking out of the loop, or ctx ending, cancels the
// stream on the server (its producer is stopped); in is lent until the
// stream's end and given up if it is abandoned. The call starts when the
// iteration does. Iterate from one goroutine.
//
//	for item, err := range c.Stream(ctx, "core.ticks", nil) {
//		if err != nil { return err }
//		use(item.Bytes())
//		item.Free()
//	}
func (c *Client) Stream(ctx context.Context, name string, in *Buffer) iter.Seq2[*Buffer, error] {
	return func(yield func(*Buffer, error) bool) {
		k, g, err := c.openStream(ctx, name, in)
		if err != nil {
			yield(nil, err)
			return
		}
		c.consumeStream(ctx, k, g, yield)
	}
}

// openStream takes a stream slot and sends the CALL.
func (c *Client) openStream(ctx context.Context, name string, in *Buffer) (uint32, uint32, error) {
	fn, _, err := c.resolve(ctx, name)
	if err != nil {
		return 0, 0, err
	}
	var k uint32
	select {
	case k = <-c.streams.free:
	case <-ctx.Done():
		return 0, 0, ctxError(ctx)
	case <-c.done:
		return 0, 0, c.dead.Load()
	}
	var h uint64
	var n uint32
	if in != nil {
		if err := in.lend(c); err != nil {
			c.streams.free <- k
			return 0, 0, err
		}
		h, n = in.h, uint32(in.n)
	}
	s := &c.streams.slots[k]
	s.mu.Lock()
	s.gen++
	if s.gen == 0 {
		s.gen = 1
	}
	g := s.gen
	s.state, s.in, s.inH, s.items, s.end = streamOpen, in, h, s.items[:0], nil
	s.allowed = streamInitialCredit
	s.mu.Unlock()
	c.openStreams.Add(1)
	if err := c.pushEntry(ctx, callID(g, idFromClient, idStream, k), h, n, kindCall, fn); err != nil {
		s.mu.Lock()
		s.state = streamFree
		s.in = nil
		s.mu.Unlock()
		c.openStreams.Add(-1)
		if in != nil {
			in.unlend()
		}
		c.streams.free <- k
		return 0, 0, err
	}
	c.prodMu.Lock()
	c.nCalls++
	c.prodMu.Unlock()
	return k, g, nil
}

// consumeStream yields the items of stream k until its end, the
// consumer's break, ctx's end or the session's.
func (c *Client) consumeStream(ctx context.Context, k, g uint32, yield func(*Buffer, error) bool) {
	s := &c.streams.slots[k]
	for {
		res, ok, end := c.nextItem(ctx, s)
		if !ok { // ctx ended or the session died
			c.abandonStream(k, g)
			yield(nil, end.err)
			return
		}
		if end != nil { // the stream's end: its error, or a last item, or none
			s.mu.Lock()
			in := s.in
			s.mu.Unlock()
			c.closeStream(k, s)
			// A reply on the end is the last item (a plain function
			// called as a stream answers so); in the input block it
			// is the input itself, as with Invoke.
			if last, err := c.finish(*end, in); err != nil {
				yield(nil, err)
			} else if last != nil {
				yield(last, nil)
			}
			return
		}
		var item *Buffer
		if res.handle != 0 {
			var err error
			if item, err = c.newBuffer(res.handle, res.len, true); err != nil {
				c.abandonStream(k, g)
				yield(nil, err)
				return
			}
		}
		c.grant(k, g, s)
		if !yield(item, nil) {
			c.abandonStream(k, g)
			return
		}
	}
}

// take returns the next item of s, or its end once every item is taken.
func (s *streamSlot) take() (item callResult, end *callResult, got bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.items) > 0 {
		item = s.items[0]
		s.items = s.items[1:]
		return item, nil, true
	}
	return callResult{}, s.end, s.end != nil
}

// nextItem waits for an item or the end of stream s: spinning while it
// helps drain the response ring (as Call.Wait does), then parked while
// the bell goroutine drains. ok false: ctx or the session ended first
// (end.err says which).
func (c *Client) nextItem(ctx context.Context, s *streamSlot) (item callResult, ok bool, end *callResult) {
	for {
		var spinUntil time.Time
		counted := false // in c.spinners from the first clock read on
		leave := func() {
			if counted {
				c.unspin()
			}
		}
		for iter := 1; ; iter++ {
			c.tryDrain()
			if item, end, got := s.take(); got {
				leave()
				return item, true, end
			}
			if iter&63 != 0 {
				continue
			}
			if e := c.dead.Load(); e != nil {
				leave()
				return callResult{}, false, &callResult{err: e}
			}
			if ctx.Err() != nil {
				leave()
				return callResult{}, false, &callResult{err: ctxError(ctx)}
			}
			now := time.Now()
			if spinUntil.IsZero() {
				spinUntil = now.Add(c.opts.spin)
				c.spinners.Add(1)
				counted = true
			}
			if !c.opts.spinOnly && now.After(spinUntil) {
				break
			}
			if iter&4095 == 0 {
				runtime.Gosched()
			}
		}
		leave()
		s.mu.Lock()
		s.parked = true
		s.mu.Unlock()
		c.parkers.Add(1)
		select {
		case c.kick <- struct{}{}:
		default:
		}
		select {
		case <-s.wake:
		case <-ctx.Done():
		case <-c.done:
		}
		c.parkers.Add(-1)
		s.mu.Lock()
		s.parked = false
		s.mu.Unlock()
	}
}

// streamWindow is how many items a stream of the client's lets the
// server have on their way or waiting here (at most half the response
// ring): the first item taken grants up to it, and so does every take
// that finds the window half empty -- one CREDIT per half window.
func (c *Client) streamWindow() uint32 {
	return min(256, max(streamInitialCredit, c.layout.respEntries/2))
}

// grant counts one item taken and tops the server's credit up to the
// window once half of it is used.
func (c *Client) grant(k, g uint32, s *streamSlot) {
	w := c.streamWindow()
	s.mu.Lock()
	out := s.allowed + uint32(len(s.items))
	if out > w/2 {
		s.mu.Unlock()
		return
	}
	n := w - out
	s.allowed += n
	s.mu.Unlock()
	c.queueControl(ringEntry{callID: callID(g, idFromClient, idStream, k), len: n, kind: kindCredit})
}

// closeStream frees stream k after its end (its input is the caller's
// again).
func (c *Client) closeStream(k uint32, s *streamSlot) {
	s.mu.Lock()
	in := s.in
	s.state, s.in, s.inH = streamFree, nil, 0
	s.mu.Unlock()
	if in != nil {
		in.unlend()
	}
	c.openStreams.Add(-1)
	c.streams.free <- k
}

// abandonStream stops stream k early: the server is told (CANCEL), the
// items that came are given back, and the input is given up until the
// late end reclaims it.
func (c *Client) abandonStream(k, g uint32) {
	s := &c.streams.slots[k]
	s.mu.Lock()
	if s.gen != g || s.state != streamOpen {
		s.mu.Unlock()
		return
	}
	items, end := s.items, s.end
	s.items = nil
	if end != nil { // it ended meanwhile: nothing more will come
		s.mu.Unlock()
		for _, it := range items {
			c.releaseItem(it)
		}
		c.closeStream(k, s)
		return
	}
	s.state = streamAbandoned
	if s.in != nil {
		// LENT before the end can come: the drainer frees it from LENT
		// (and a given-up Buffer's cleanup, from OWNED, cannot).
		c.heaps.lend(s.inH, blockOwned, blockLent)
		s.in.giveUp()
	}
	s.mu.Unlock()
	for _, it := range items {
		c.releaseItem(it)
	}
	c.cancelCall(callID(g, idFromClient, idStream, k))
}

func (c *Client) releaseItem(it callResult) {
	if it.handle != 0 {
		c.releaseServerBlock(it.handle)
	}
}

// dispatchStream routes an ITEM or RESULT of stream id (drainer only).
func (c *Client) dispatchStream(e *ringEntry) {
	k, g := callIDSlot(e.callID), callIDGen(e.callID)
	if k >= maxStreams {
		c.nDropped.Add(1)
		return
	}
	s := &c.streams.slots[k]
	s.mu.Lock()
	if s.gen != g || (s.state != streamOpen && s.state != streamAbandoned) {
		s.mu.Unlock()
		c.nDropped.Add(1)
		return
	}
	lent := s.inH
	if e.kind == kindItem {
		lent = 0 // an item is a block of the server's, never the input
		if s.allowed == 0 {
			s.mu.Unlock()
			c.protocolViolation("more stream items than the credit given")
			return
		}
		s.allowed--
	}
	res, rel := decodeResult(c.layout, e, kindCall, lent, c.heaps.take)
	if e.kind == kindItem && res.err == nil && res.status != CodeOK {
		res = callResult{err: newError(CodeProtocol, "a stream item with a status")}
	}
	if rel != 0 {
		c.releaseServerBlock(rel)
	}
	if res.err != nil {
		c.nProtocol.Add(1)
	}
	if s.state == streamAbandoned {
		inH := s.inH
		done := e.kind == kindResult
		if done {
			s.state, s.in, s.inH = streamFree, nil, 0
		}
		s.mu.Unlock()
		if res.err == nil && res.handle != 0 && res.handle != inH {
			c.releaseServerBlock(res.handle)
		}
		c.nDropped.Add(1)
		if done {
			if inH != 0 {
				c.heaps.free(inH, blockLent)
			}
			c.openStreams.Add(-1)
			c.streams.free <- k
		}
		return
	}
	if e.kind == kindItem {
		if res.err != nil {
			s.end = &res // a bad item ends the stream
		} else {
			s.items = append(s.items, res)
		}
	} else {
		s.end = &res
	}
	s.mu.Unlock()
	s.signal()
}

// failStreams ends every open stream with err (the session is over).
func (c *Client) failStreams(err *Error) {
	for k := range c.streams.slots {
		s := &c.streams.slots[k]
		s.mu.Lock()
		if s.state == streamOpen && s.end == nil {
			s.end = &callResult{err: err}
		}
		s.mu.Unlock()
		s.signal()
	}
}
