// handle.go: the server's calls to this client (PROTOCOL.md §5.8). A
// program registers handlers by name (Handle, HandleStream); the server
// resolves a name with a LOOKUP, then CALLs it with an input block of its
// own; the handler runs on a goroutine of its own (never on a goroutine
// that waits for a call of its own), and its answer goes back on the
// request ring. A handler's context ends when the server cancels the call
// (its caller gave up, or it timed out) or the session ends.

package ffb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// Request is what a handler gets: the server's call. Its bytes are the
// server's input block, in shared memory, valid until the handler returns
// (copy what you keep).
type Request struct {
	c    *Client
	id   uint64
	data []byte
}

// Bytes returns the input, over the shared block (zero copy; read it
// before the handler returns).
func (r *Request) Bytes() []byte { return r.data }

// Len returns the input's length.
func (r *Request) Len() int { return len(r.data) }

// JSON decodes the input into v. Errors: SERIALIZATION.
func (r *Request) JSON(v any) error {
	if err := json.Unmarshal(r.data, v); err != nil {
		return wrapError(CodeSerialization, "decode the request", err)
	}
	return nil
}

// Client returns the client the call came to: a handler may call the
// server back through it (with the handler's context, so that cancelling
// the server's call cancels those too).
func (r *Request) Client() *Client { return r.c }

// Handler answers a call from the server: a Buffer of this Client's (its
// block goes to the server, which gives it back when done: do not use it
// again), nil for an empty answer, or an error (its Code and message
// cross; another error answers UNKNOWN). A panic answers PANIC with its
// message; the client lives on.
type Handler func(ctx context.Context, req *Request) (*Buffer, error)

// StreamHandler answers a stream call from the server with items: send
// hands one Buffer of this Client's to the server (nil: an empty item;
// the Buffer is the server's only if send succeeds) and waits, parked,
// while the server has granted no credit; it fails once ctx ends. The
// handler's return ends the stream (nil, or its error).
type StreamHandler func(ctx context.Context, req *Request, send func(*Buffer) error) error

// maxServed bounds the server's calls handled at once; past it a call is
// answered TOO_MANY_CALLS at once.
const maxServed = 256

type handlerEntry struct {
	name   string
	gen    uint32 // never 0 once used; the function id is gen<<16 | slot
	used   bool
	fn     Handler
	stream StreamHandler
}

type handlerTable struct {
	mu         sync.RWMutex
	names      map[string]int
	slots      []handlerEntry
	registered atomic.Bool // some handler was registered: keep listening

	servedMu sync.Mutex
	served   map[uint64]*served
	running  atomic.Int32
	idle     chan servedJob // a worker waiting for its next call takes it here
}

// servedJob is a call of the server's for a worker to run.
type servedJob struct {
	id, inH uint64
	data    []byte
	h       handlerEntry
	sv      *served
}

func newHandlerTable() *handlerTable {
	return &handlerTable{names: make(map[string]int), served: make(map[uint64]*served), idle: make(chan servedJob)}
}

// Handle registers h for calls of name (UTF-8, 1-255 bytes) from the
// server. Registering a name again replaces its handler (calls already
// running finish with the old one). Any goroutine. Errors:
// INVALID_ARGUMENT, INVALID_UTF8, ARENA_FULL (4096 names).
func (c *Client) Handle(name string, h Handler) error {
	return c.handlers.add(c, name, handlerEntry{fn: h})
}

// HandleStream registers h for stream calls of name from the server.
func (c *Client) HandleStream(name string, h StreamHandler) error {
	return c.handlers.add(c, name, handlerEntry{stream: h})
}

// Unhandle removes the handler of name: the server's next call of it gets
// NOT_FOUND. Errors: NOT_FOUND.
func (c *Client) Unhandle(name string) error {
	t := c.handlers
	t.mu.Lock()
	defer t.mu.Unlock()
	k, ok := t.names[name]
	if !ok {
		return ErrNotFound
	}
	delete(t.names, name)
	t.slots[k].used = false
	t.slots[k].fn, t.slots[k].stream = nil, nil
	return nil
}

func (t *handlerTable) add(c *Client, name string, e handlerEntry) error {
	if len(name) == 0 || len(name) > maxNameLen {
		return newError(CodeInvalidArgument, "a handler name is 1 to 255 bytes")
	}
	if !utf8.ValidString(name) || strings.IndexByte(name, 0) >= 0 {
		return ErrInvalidUTF8
	}
	if e.fn == nil && e.stream == nil {
		return newError(CodeNullPointer, "no handler")
	}
	t.mu.Lock()
	k, ok := t.names[name]
	if !ok {
		k = -1
		for i := range t.slots {
			if !t.slots[i].used && t.slots[i].gen < 0xffff {
				k = i
				break
			}
		}
		if k < 0 {
			if len(t.slots) == maxFunctions {
				t.mu.Unlock()
				return ErrArenaFull
			}
			t.slots = append(t.slots, handlerEntry{})
			k = len(t.slots) - 1
		}
	}
	gen := t.slots[k].gen + 1
	e.name, e.gen, e.used = name, gen, true
	t.slots[k] = e
	t.names[name] = k
	t.mu.Unlock()
	if !t.registered.Swap(true) {
		select { // the bell goroutine listens from now on
		case c.kick <- struct{}{}:
		default:
		}
	}
	return nil
}

// lookupName answers a LOOKUP: the function id of name, or NOT_FOUND.
func (t *handlerTable) lookupName(name []byte) (uint32, Code) {
	if !utf8.Valid(name) {
		return 0, CodeInvalidUTF8
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	k, ok := t.names[string(name)]
	if !ok {
		return 0, CodeNotFound
	}
	return t.slots[k].gen<<16 | uint32(k), CodeOK
}

// byID returns the handler function id fn names, if it is current.
func (t *handlerTable) byID(fn uint32) (handlerEntry, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	k := int(fn & 0xffff)
	if k >= len(t.slots) || !t.slots[k].used || t.slots[k].gen != fn>>16 {
		return handlerEntry{}, false
	}
	return t.slots[k], true
}

func (t *handlerTable) get(id uint64) *served {
	t.servedMu.Lock()
	defer t.servedMu.Unlock()
	return t.served[id]
}

func (t *handlerTable) cancelAll() {
	t.servedMu.Lock()
	defer t.servedMu.Unlock()
	for _, sv := range t.served {
		sv.cancel()
	}
}

// ---- on the drainer --------------------------------------------------------

// serverBytes checks a block the server lent with its call (0 or one of
// its blocks, len within it) and returns its bytes; ok false on a
// violation.
func (c *Client) serverBytes(h uint64, n uint32) ([]byte, bool) {
	if h == 0 {
		return nil, n == 0
	}
	d, code := c.layout.checkHandle(h, heapServer)
	if code != CodeOK {
		return nil, false
	}
	off, capacity := c.layout.blockRange(&d)
	if n > capacity {
		return nil, false
	}
	return c.s.arena[off : off+uint64(n) : off+uint64(n)], true
}

// dispatchServer routes an entry about one of the server's calls (drainer
// only): LOOKUP, CALL, CANCEL, CREDIT.
func (c *Client) dispatchServer(e *ringEntry) {
	if !callIDValid(e.callID) {
		c.protocolViolation("a call of the server's with a bad id")
		return
	}
	switch e.kind {
	case kindLookup:
		name, ok := c.serverBytes(e.handle, e.len)
		if !ok || e.len == 0 || e.len > maxNameLen || callIDKind(e.callID) != idOnce {
			c.protocolViolation("a bad LOOKUP from the server")
			return
		}
		fn, code := c.handlers.lookupName(name)
		// The name block goes back with the answer.
		c.queueControl(ringEntry{callID: e.callID, len: fn, kind: kindResult, fnOrStatus: uint32(code)})
	case kindCall:
		c.startServed(e)
	case kindCancel:
		if sv := c.handlers.get(e.callID); sv != nil {
			sv.cancel()
		}
	case kindCredit:
		if e.len == 0 || e.len > maxCredit || callIDKind(e.callID) != idStream {
			c.protocolViolation("a bad CREDIT from the server")
			return
		}
		if sv := c.handlers.get(e.callID); sv != nil {
			sv.mu.Lock()
			sv.credit += e.len
			sv.mu.Unlock()
			sv.nudge()
		}
	default:
		c.protocolViolation(fmt.Sprintf("an entry of kind %d for a call of the server's", e.kind))
	}
}

// startServed takes a CALL of the server's: its input is held, its
// handler started on a goroutine of its own.
func (c *Client) startServed(e *ringEntry) {
	data, ok := c.serverBytes(e.handle, e.len)
	if !ok {
		c.protocolViolation("a CALL from the server with a bad block")
		return
	}
	if e.handle != 0 {
		d := decodeHandle(e.handle)
		if !c.heaps.take(d) {
			c.protocolViolation("a CALL from the server with a block it gave already")
			return
		}
	}
	kind := callIDKind(e.callID)
	h, found := c.handlers.byID(e.fnOrStatus)
	if found && (h.stream != nil) != (kind == idStream) {
		found = false // a stream handler called plainly, or the other way round
	}
	if !found || c.handlers.running.Load() >= maxServed {
		code := CodeNotFound
		if found {
			code = CodeTooManyCalls
		}
		c.endServed(e.callID, e.handle, nil, newError(code, ""))
		return
	}
	sv := newServed(c.ctx, kind == idStream)
	c.handlers.servedMu.Lock()
	c.handlers.served[e.callID] = sv
	c.handlers.servedMu.Unlock()
	c.handlers.running.Add(1)
	if c.dead.Load() != nil {
		sv.cancel() // the session ended while it was being taken: cancelAll missed it
	}
	j := servedJob{id: e.callID, inH: e.handle, data: data, h: h, sv: sv}
	c.handlersStarted = true
	select {
	case c.handlers.idle <- j: // a worker waits (unbuffered: only then)
	default:
		go c.serveWorker(j)
	}
}

// serveWorker runs calls of the server's: j, then each one it is handed
// while it waits, until the session ends. Workers are kept (at most as
// many as calls ever ran at once, maxServed) so that a call reuses a
// goroutine whose stack has grown already.
func (c *Client) serveWorker(j servedJob) {
	for {
		c.runServed(j.sv, j.id, j.inH, j.data, j.h, j.sv)
		select {
		case j = <-c.handlers.idle:
		case <-c.done:
			return
		}
	}
}

// runServed runs a handler and answers its call.
func (c *Client) runServed(ctx context.Context, id, inH uint64, data []byte, h handlerEntry, sv *served) {
	defer func() {
		c.handlers.servedMu.Lock()
		delete(c.handlers.served, id)
		c.handlers.servedMu.Unlock()
		c.handlers.running.Add(-1)
		sv.cancel()
	}()
	// The arena stays mapped while a handler runs: Close waits for
	// running handlers (their contexts end first).
	req := &Request{c: c, id: id, data: data}
	var out *Buffer
	var err error
	func() {
		defer func() {
			if p := recover(); p != nil {
				err = newError(CodePanic, fmt.Sprint(p))
			}
		}()
		if h.stream != nil {
			err = h.stream(ctx, req, func(b *Buffer) error { return c.sendItem(ctx, id, sv, b) })
		} else {
			out, err = h.fn(ctx, req)
		}
	}()
	if noSuchFunction(err) { // the handler's own NOT_FOUND: say so, or the server would call again
		err = newError(CodeNotFound, "not found (the handler's own answer)")
	}
	c.endServed(id, inH, out, err)
}

// endServed answers call id with out or err; its input block goes back
// with the answer (a notification's with a RELEASE: it gets none).
func (c *Client) endServed(id, inH uint64, out *Buffer, err error) {
	if callIDKind(id) == idNotify {
		if out != nil {
			out.Free()
		}
		if inH != 0 {
			c.releaseServerBlock(inH)
		}
		return
	}
	code, h, n := CodeOK, uint64(0), uint32(0)
	if err != nil {
		if out != nil {
			out.Free()
		}
		out = nil
		code = CodeOf(err)
		if code == CodeOK {
			code = CodeUnknown
		}
		var e *Error
		msg := err.Error()
		if errors.As(err, &e) {
			msg = e.Message
		}
		if msg != "" {
			out, _ = c.FromBytes([]byte(msg)) // no block: the status alone
		}
	}
	if out != nil {
		if out.c != c || out.server || out.state != bufOwned {
			code, out = CodeInvalidArgument, nil // not a block this client may give
		} else {
			h, n = out.h, uint32(out.n)
			c.heaps.lend(h, blockOwned, blockLent) // the server's until its RELEASE
			out.giveUp()
		}
	}
	if inH != 0 {
		c.heaps.give(inH) // ours no more: the answer returns it
	}
	if perr := c.pushEntry(context.Background(), id, h, n, kindResult, uint32(code)); perr != nil && h != 0 {
		c.heaps.free(h, blockLent) // the session is over: nothing to give
	}
}

// sendItem hands b to the server as an item of stream call id, once the
// server grants credit.
func (c *Client) sendItem(ctx context.Context, id uint64, sv *served, b *Buffer) error {
	for {
		sv.mu.Lock()
		if sv.credit > 0 {
			sv.credit--
			sv.mu.Unlock()
			break
		}
		sv.mu.Unlock()
		select {
		case <-sv.more:
		case <-ctx.Done():
			return ctxError(ctx)
		}
	}
	h, n := uint64(0), uint32(0)
	if b != nil {
		if b.c != c || b.server || b.state != bufOwned {
			return newError(CodeInvalidArgument, "an item must be an owned Buffer of this Client")
		}
		h, n = b.h, uint32(b.n)
		c.heaps.lend(h, blockOwned, blockLent)
		b.giveUp()
	}
	if err := c.pushEntry(ctx, id, h, n, kindItem, 0); err != nil {
		if h != 0 {
			c.heaps.free(h, blockLent)
		}
		return err
	}
	return nil
}

// dispatchRelease takes back a block of ours the server is done with (an
// answer's, an item's, a notification's input).
func (c *Client) dispatchRelease(e *ringEntry) {
	if e.callID != 0 || e.len != 0 || e.fnOrStatus != 0 || c.heaps.free(e.handle, blockLent) != nil {
		c.protocolViolation("a RELEASE from the server of a block it does not hold")
	}
}
