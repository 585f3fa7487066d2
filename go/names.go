// names.go resolves callback names to function ids with a LOOKUP entry
// and caches the answers; built-ins have fixed ids and need no lookup.

package ffb

import (
	"context"
	"errors"
	"unicode/utf8"
)

// resolve returns the function id of name and whether it came from the
// cache. Blocks for one round trip on a cache miss.
func (c *Client) resolve(ctx context.Context, name string) (uint32, bool, error) {
	switch name {
	case "ffi.echo":
		return fnEcho, false, nil
	case "ffi.version":
		return fnVersion, false, nil
	}
	c.namesMu.RLock()
	fn, ok := c.names[name]
	c.namesMu.RUnlock()
	if ok {
		return fn, true, nil
	}
	if len(name) < 1 || len(name) > maxNameLen {
		return 0, false, newError(CodeInvalidArgument, "name must be 1..255 bytes")
	}
	if !utf8.ValidString(name) {
		return 0, false, newError(CodeInvalidUTF8, "name is not UTF-8")
	}
	buf, err := c.FromBytes([]byte(name))
	if err != nil {
		return 0, false, err
	}
	defer buf.Free()
	i, g, err := c.submit(ctx, request{kind: kindLookup, in: buf})
	if err != nil {
		return 0, false, err
	}
	res, done, err := c.await(ctx, i, g)
	if !done {
		return 0, false, err
	}
	if res.err != nil {
		return 0, false, res.err
	}
	if res.handle != 0 && res.handle != buf.h {
		c.releaseServerBlock(res.handle)
	}
	if res.status != CodeOK {
		return 0, false, newError(res.status, "lookup "+name)
	}
	c.namesMu.Lock()
	c.names[name] = res.len
	c.namesMu.Unlock()
	return res.len, false, nil
}

// forget drops a cached id if it is still fn.
func (c *Client) forget(name string, fn uint32) {
	c.namesMu.Lock()
	if c.names[name] == fn {
		delete(c.names, name)
	}
	c.namesMu.Unlock()
}

// noSuchFunction says whether err is the callee's "no function of that
// id" -- NOT_FOUND with no message -- after which the name may be looked
// up again (it may have been registered anew). A function's own
// NOT_FOUND carries a message and is its answer: never retried, so a
// handler never runs twice for one call (PROTOCOL.md §7).
func noSuchFunction(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == CodeNotFound && e.Message == ""
}
