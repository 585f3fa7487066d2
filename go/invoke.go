// invoke.go is the public call API: synchronous Invoke / InvokeJSON /
// Echo / Version, and the pipelined form Submit + Call.Wait. It turns a
// raw result into a Buffer or a typed *Error.

package ffb

import (
	"context"
	"strings"
)

// Call is a submitted call whose result has not been collected yet. It is
// a small value (copying it is fine). Wait must be called exactly once;
// until then the call holds one of the session's in-flight slots.
type Call struct {
	c      *Client
	slot   uint32
	gen    uint32
	fn     uint32
	in     *Buffer
	name   string
	cached bool // fn came from the name cache: re-resolve once on NOT_FOUND
}

// Submit starts a call of the callback registered as name with input in
// (nil for none) and returns at once with a Call to Wait on, so one
// goroutine can have many calls in flight. Submitted calls are published
// to the server in batches: at the latest when any goroutine next waits
// (Call.Wait, Invoke) or calls Flush. in is lent to the call until
// Wait returns. Submit blocks only to resolve a name not yet cached (one
// round trip) or while the session's in-flight cap is reached, up to ctx.
// Errors: those of Invoke that arise before the call is sent.
func (c *Client) Submit(ctx context.Context, name string, in *Buffer) (Call, error) {
	fn, cached, err := c.resolve(ctx, name)
	if err != nil {
		return Call{}, err
	}
	return c.submitCall(ctx, callee{name, fn, cached}, in, request{pipelined: true})
}

// callee is who a Call calls: the name, the function id it resolved to,
// and whether that id came from the name cache (then a NOT_FOUND
// re-resolves the name once).
type callee struct {
	name   string
	fn     uint32
	cached bool
}

// submitCall sends a CALL of to with input in (see request for the
// options; kind, fn and in are set here) and returns the Call to wait on.
func (c *Client) submitCall(ctx context.Context, to callee, in *Buffer, r request) (Call, error) {
	r.kind, r.fn, r.in = kindCall, to.fn, in
	i, g, err := c.submit(ctx, r)
	if err != nil {
		return Call{}, err
	}
	return Call{c: c, slot: i, gen: g, fn: to.fn, in: in, name: to.name, cached: to.cached}, nil
}

// Wait blocks until the call's result arrives, ctx is done, the server is
// gone or the Client is closed, and returns the reply: the input Buffer
// itself for a zero-copy reply (same handle, length updated), a new Buffer
// holding a server block (yours to Free), or nil for an empty reply. A
// callback's failure is an *Error with its code and message. On TIMEOUT
// or PEER_GONE the input Buffer is given up (its block is reclaimed when
// the late result comes or with the session). Spins, then parks, as
// configured at Dial.
func (call Call) Wait(ctx context.Context) (*Buffer, error) {
	c := call.c
	if c == nil {
		return nil, newError(CodeInvalidArgument, "Wait on a zero Call")
	}
	if w := c.reg.slots[call.slot].word.Load(); uint32(w>>32) != call.gen || uint32(w) == slotFree {
		return nil, newError(CodeInvalidArgument, "Wait called twice on the same Call")
	}
	res, ok, err := c.await(ctx, call.slot, call.gen)
	if !ok {
		return nil, err
	}
	out, err := c.finish(res, call.in)
	if call.cached && noSuchFunction(err) {
		// The name may have been registered again under a new id: resolve
		// it once more and retry once.
		c.forget(call.name, call.fn)
		fn, _, rerr := c.resolve(ctx, call.name)
		if rerr != nil {
			return nil, rerr
		}
		again, serr := c.submitCall(ctx, callee{call.name, fn, false}, call.in, request{})
		if serr != nil {
			return nil, serr
		}
		return again.Wait(ctx)
	}
	return out, err
}

// Flush publishes calls submitted with Submit that are not yet visible to
// the server. Wait does this itself; Flush is for a goroutine that submits
// now and waits much later. Never blocks beyond a short lock.
func (c *Client) Flush() { c.flush() }

// Invoke calls the callback registered as name with input in (nil for
// none) and waits for its reply; see Call.Wait for what it returns. It
// blocks until the reply, ctx's deadline (TIMEOUT), the server's death
// (PEER_GONE) or Close (CLOSED). Other errors: NOT_FOUND (no such name),
// the callback's own code and message (e.g. PANIC, INVALID_ARGUMENT),
// BUSY / STALE_HANDLE (in is lent or freed), PROTOCOL.
func (c *Client) Invoke(ctx context.Context, name string, in *Buffer) (*Buffer, error) {
	fn, cached, err := c.resolve(ctx, name)
	if err != nil {
		return nil, err
	}
	call, err := c.submitCall(ctx, callee{name, fn, cached}, in, request{})
	if err != nil {
		return nil, err
	}
	return call.Wait(ctx)
}

// Echo calls the built-in ffi.echo: the reply is in itself (same handle,
// same bytes, nothing copied). Blocks like Invoke.
func (c *Client) Echo(ctx context.Context, in *Buffer) (*Buffer, error) {
	call, err := c.submitCall(ctx, callee{"ffi.echo", fnEcho, false}, in, request{})
	if err != nil {
		return nil, err
	}
	return call.Wait(ctx)
}

// Version calls the built-in ffi.version and returns the server's version
// string. Blocks like Invoke.
func (c *Client) Version(ctx context.Context) (string, error) {
	out, err := c.Invoke(ctx, "ffi.version", nil)
	if err != nil {
		return "", err
	}
	if out == nil {
		return "", nil
	}
	v := string(out.Bytes())
	out.Free()
	return v, nil
}

// InvokeJSON encodes in as JSON, invokes name with it, and decodes the
// reply into out (which may be nil to ignore it). Buffers are freed before
// it returns. Errors: those of Invoke, and SERIALIZATION.
func (c *Client) InvokeJSON(ctx context.Context, name string, in, out any) error {
	buf, err := c.FromJSON(in)
	if err != nil {
		return err
	}
	defer buf.Free()
	reply, err := c.Invoke(ctx, name, buf)
	if err != nil {
		return err
	}
	if reply != buf {
		defer reply.Free()
	}
	if out == nil {
		return nil
	}
	if reply == nil {
		return newError(CodeSerialization, "empty reply")
	}
	return reply.ToJSON(out)
}

// finish turns a collected result into the caller's reply or error.
func (c *Client) finish(res callResult, in *Buffer) (*Buffer, error) {
	if res.err != nil {
		return nil, res.err
	}
	var reply *Buffer
	switch {
	case res.handle == 0:
	case in != nil && res.handle == in.h:
		in.n = int(res.len)
		reply = in
	default:
		var err error
		if reply, err = c.newBuffer(res.handle, res.len, true); err != nil {
			return nil, err
		}
	}
	if res.status == CodeOK {
		return reply, nil
	}
	e := &Error{Code: res.status}
	if reply != nil {
		c.mapMu.RLock()
		if !c.closed.Load() {
			e.Message = strings.ToValidUTF8(string(reply.data[:reply.n]), "\uFFFD")
		}
		c.mapMu.RUnlock()
		if reply != in {
			reply.Free()
		}
	}
	return nil, e
}
