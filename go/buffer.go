// buffer.go owns Buffer: a block of the session arena seen by Go as a
// slice over the mapping (zero copy), with an explicit, checked lifetime.
// A freed, lent or given-up Buffer refuses to expose its bytes, so a
// caller can never read a block that was recycled for someone else.

package ffb

import (
	"encoding/json"
	"runtime"
)

// Buffer states.
const (
	bufOwned uint32 = iota // usable by its holder
	bufLent                // named by an in-flight call
	bufFreed               // Free was called
	bufGone                // given up: its call timed out or the session ended
)

// Buffer is one block of the session arena: a request buffer allocated
// from the client heap, or a reply block the server handed over. Its bytes
// live in shared memory; Bytes returns a slice over them without copying.
// A Buffer is used by one goroutine at a time (hand it on through a
// channel or a lock, as with a bytes.Buffer): its state is a plain field,
// so lending it to a call costs no atomic operation. While a call holds it
// (between submit and result) it is lent: Bytes returns nil and Free
// fails with BUSY. A forgotten Buffer is freed by a cleanup after the
// garbage collector finds it unreachable, but Free is cheaper and prompt.
// The methods of a nil *Buffer behave as an empty, freed buffer.
type Buffer struct {
	c      *Client
	h      uint64
	data   []byte // the whole block, over the mapping
	n      int
	server bool
	state  uint32 // plain: only the goroutine using the Buffer touches it
}

// cleanupArg is what the GC cleanup needs: not the Buffer itself.
type cleanupArg struct {
	c      *Client
	h      uint64
	server bool
}

func cleanupBuffer(a cleanupArg) { a.c.freeBlock(a.h, a.server, blockOwned) }

// newBuffer wraps a block the client now holds.
// Errors: CLOSED once Close has unmapped the arena.
func (c *Client) newBuffer(h uint64, n uint32, server bool) (*Buffer, error) {
	d := decodeHandle(h)
	off, capacity := c.layout.blockRange(&d)
	c.mapMu.RLock()
	defer c.mapMu.RUnlock()
	if c.s.arena == nil {
		return nil, ErrClosed
	}
	b := &Buffer{c: c, h: h, data: c.s.arena[off : off+uint64(capacity) : off+uint64(capacity)], n: int(n), server: server}
	runtime.AddCleanup(b, cleanupBuffer, cleanupArg{c, h, server})
	return b, nil
}

// freeBlock gives block h back: a client block to the free list, a server
// block to the server (a batched RELEASE). Used by Free and the cleanup;
// a stale handle (already freed) is ignored by the callers that may race.
func (c *Client) freeBlock(h uint64, server bool, from uint32) error {
	if c.closed.Load() {
		return nil
	}
	if server {
		return c.releaseServerBlock(h)
	}
	return c.heaps.free(h, from)
}

// Alloc returns a new request Buffer of length n (capacity: the block
// size, at least n) from the client heap. Its bytes are not zeroed.
// Errors: ARENA_FULL (no free block that fits), BUFFER_TOO_SMALL (n over
// 16 MiB), CLOSED / PEER_GONE. Never blocks.
func (c *Client) Alloc(n int) (*Buffer, error) {
	if n < 0 || n > maxBlockSize {
		return nil, newError(CodeBufferTooSmall, "size out of range")
	}
	if e := c.dead.Load(); e != nil {
		return nil, e
	}
	h, err := c.heaps.alloc(uint32(n))
	if err != nil {
		return nil, err
	}
	return c.newBuffer(h, uint32(n), false)
}

// FromBytes returns a new Buffer holding a copy of b (one copy, into the
// arena). Errors as Alloc.
func (c *Client) FromBytes(b []byte) (*Buffer, error) {
	buf, err := c.Alloc(len(b))
	if err != nil {
		return nil, err
	}
	c.mapMu.RLock()
	if !c.closed.Load() {
		copy(buf.data, b)
	}
	c.mapMu.RUnlock()
	return buf, nil
}

// FromJSON returns a new Buffer holding the JSON encoding of v. Errors:
// SERIALIZATION, or those of Alloc.
func (c *Client) FromJSON(v any) (*Buffer, error) {
	js, err := json.Marshal(v)
	if err != nil {
		return nil, wrapError(CodeSerialization, "encode", err)
	}
	return c.FromBytes(js)
}

// usable reports whether b may be read or written now.
func (b *Buffer) usable() bool {
	return b != nil && b.state == bufOwned && !b.c.closed.Load()
}

// Bytes returns the buffer's bytes as a slice over the shared arena (zero
// copy; writes go straight to the block). It returns nil for a nil, freed,
// lent or given-up Buffer and after Close; a slice obtained earlier must
// not be used after Free, after lending the Buffer to a call, or after
// Close.
func (b *Buffer) Bytes() []byte {
	if !b.usable() {
		return nil
	}
	return b.data[:b.n:b.n]
}

// Len returns the length in bytes (0 for a nil or unusable Buffer).
func (b *Buffer) Len() int {
	if !b.usable() {
		return 0
	}
	return b.n
}

// Cap returns the capacity of the underlying block (its size class).
func (b *Buffer) Cap() int {
	if b == nil {
		return 0
	}
	return len(b.data)
}

// SetLen changes the length to n (0 ≤ n ≤ Cap). Errors: INVALID_ARGUMENT,
// or the state error of Free (STALE_HANDLE, BUSY, CLOSED).
func (b *Buffer) SetLen(n int) error {
	if err := b.check(); err != nil {
		return err
	}
	if n < 0 || n > len(b.data) {
		return newError(CodeInvalidArgument, "length over capacity")
	}
	b.n = n
	return nil
}

// Handle returns the 64-bit handle naming the block (the same value the
// server sees). An echo returns a Buffer with the same handle.
func (b *Buffer) Handle() uint64 {
	if b == nil {
		return 0
	}
	return b.h
}

// ToJSON decodes the buffer's bytes as JSON into v. Errors: SERIALIZATION,
// or the state errors of Free.
func (b *Buffer) ToJSON(v any) error {
	if err := b.check(); err != nil {
		return err
	}
	// Decode a private copy: bytes a hostile peer changes under the
	// decoder must not be able to upset it (R1 for payloads).
	b.c.mapMu.RLock()
	if b.c.closed.Load() {
		b.c.mapMu.RUnlock()
		return ErrClosed
	}
	js := append([]byte(nil), b.data[:b.n]...)
	b.c.mapMu.RUnlock()
	if err := json.Unmarshal(js, v); err != nil {
		return wrapError(CodeSerialization, "decode", err)
	}
	return nil
}

// check returns nil when b is usable, else the error naming why not.
func (b *Buffer) check() error {
	if b == nil {
		return newError(CodeNullPointer, "nil Buffer")
	}
	if b.c.closed.Load() {
		return ErrClosed
	}
	switch b.state {
	case bufOwned:
		return nil
	case bufLent:
		return newError(CodeBusy, "buffer is lent to a call in flight")
	case bufFreed:
		return newError(CodeStaleHandle, "buffer was freed")
	default:
		return newError(CodeStaleHandle, "buffer was given up (its call timed out or the session ended)")
	}
}

// Free gives the block back: a request block returns to the client heap, a
// reply block goes back to the server with a batched RELEASE. Calling Free
// again has no effect and returns an error matching ErrDoubleFree; freeing
// a lent Buffer returns BUSY and a given-up one STALE_HANDLE. After Close,
// Free returns nil and does nothing. Never blocks.
func (b *Buffer) Free() error {
	if b == nil {
		return nil
	}
	if b.c.closed.Load() {
		b.state = bufFreed
		return nil
	}
	if b.state != bufOwned {
		switch b.state {
		case bufFreed:
			return newError(CodeDoubleFree, "buffer already freed")
		case bufLent:
			return newError(CodeBusy, "buffer is lent to a call in flight")
		default:
			return newError(CodeStaleHandle, "buffer was given up (its call timed out or the session ended)")
		}
	}
	b.state = bufFreed
	return b.c.freeBlock(b.h, b.server, blockOwned)
}

// lend marks b as named by a call on client c; client blocks only.
func (b *Buffer) lend(c *Client) error {
	if b.c != c {
		return newError(CodeForeignHandle, "buffer belongs to another client")
	}
	if b.server {
		return newError(CodeInvalidArgument, "a reply buffer cannot be sent back; copy it into a new Buffer")
	}
	if b.state != bufOwned {
		return b.check()
	}
	b.state = bufLent
	// The block stays OWNED in the heap: while the Buffer is lent nothing
	// can free it (Free refuses, the call slot keeps the Buffer reachable).
	// Only a call that is abandoned moves its block to LENT (see abandon).
	return nil
}

// unlend returns a lent b to its holder.
func (b *Buffer) unlend() {
	b.state = bufOwned
}

// giveUp marks a lent b as lost to its call (timeout, session end); the
// dispatcher frees the block when the late result arrives.
func (b *Buffer) giveUp() { b.state = bufGone }
