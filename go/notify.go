// notify.go: notifications to the server -- a call with no answer
// (PROTOCOL.md §5.8): nothing is kept for it on either side, and its
// input comes back with a RELEASE once the server is done with it.

package ffb

import "context"

// Notify calls server function name with input in (nil for none) and
// waits for no answer: the server runs it and says nothing, not even
// NOT_FOUND. in is given to the server (do not use it again; its block
// comes back by itself). Any goroutine. Errors: those of resolving name,
// INVALID_ARGUMENT (in is not an owned Buffer of this Client), CLOSED,
// PEER_GONE, ctx's while the request ring is full.
func (c *Client) Notify(ctx context.Context, name string, in *Buffer) error {
	fn, _, err := c.resolve(ctx, name)
	if err != nil {
		return err
	}
	var h uint64
	var n uint32
	if in != nil {
		if in.c != c || in.server || in.state != bufOwned {
			return newError(CodeInvalidArgument, "a notification's input must be an owned Buffer of this Client")
		}
		h, n = in.h, uint32(in.n)
		c.heaps.lend(h, blockOwned, blockLent) // the server's until its RELEASE
		in.giveUp()
	}
	// A notification's id names nothing: any valid one of its kind.
	if err := c.pushEntry(ctx, callID(1, idFromClient, idNotify, 0), h, n, kindCall, fn); err != nil {
		if h != 0 {
			c.heaps.free(h, blockLent)
		}
		return err
	}
	return nil
}
