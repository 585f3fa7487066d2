// fuzz_internal_test.go: a hostile server writes arbitrary response
// entries and indices -- answers to the client's calls and stream, and
// calls, lookups, cancels and credit of its own for the client's
// handlers; the client must never panic, never deliver a result to the
// wrong call, and only ever hand out blocks it may use.
// `go test` runs the seed corpus; `go test -fuzz FuzzHostileResponses`
// explores further.

package ffb

import (
	"context"
	"encoding/binary"
	"runtime"
	"testing"
	"unsafe"
)

func FuzzHostileResponses(f *testing.F) {
	le := binary.LittleEndian
	entry := func(id, h uint64, n, kind, st, seq uint32) []byte {
		b := make([]byte, 32)
		le.PutUint64(b[0:], id)
		le.PutUint64(b[8:], h)
		le.PutUint32(b[16:], n)
		le.PutUint32(b[20:], kind)
		le.PutUint32(b[24:], st)
		le.PutUint32(b[28:], seq)
		return b
	}
	// Call ids are patched in by the harness when byte 0 of an entry is
	// below 0xC0 (then byte 1 picks which pending call it answers: three
	// plain calls and a stream); from 0xC0 to 0xDF it becomes a call id
	// of the server's (bytes 1-3: generation, kind, slot).
	f.Add(entry(0, 0, 0, kindResult, 0, 0), uint32(1))
	f.Add(append(entry(0, 0, 0, kindResult, 0, 0), entry(0x0100, 0, 0, kindResult, 7, 0)...), uint32(2))
	f.Add(entry(0xff, makeHandle(5, 7, heapServer, 0, 1), 10, kindResult, 0, 0), uint32(1))
	f.Add(entry(0xff, makeHandle(5, 7, heapServer, 1, 3), 1<<20, kindResult, 0, 0), uint32(1))
	f.Add(entry(0xff, makeHandle(5, 8, heapServer, 0, 1), 1, kindResult, 0, 0), uint32(1))
	f.Add(entry(0xff, makeHandle(5, 7, heapClient, 0, 0), 1, kindResult, 0, 0), uint32(1))
	f.Add(entry(0xff, 0, 5, kindResult, 0, 0), uint32(1))
	f.Add(entry(0xff, 0, 0, kindCall, 0, 0), uint32(1))
	f.Add(entry(0xff, 0, 0, kindResult, 0, 0), uint32(100))
	f.Add(entry(0xff, 0, 0, kindResult, 0, 0), uint32(0xFFFFFFFF))
	f.Add(append(entry(0xff, makeHandle(5, 7, heapServer, 0, 1), 1, kindResult, 0, 0),
		entry(0x01ff, makeHandle(5, 7, heapServer, 0, 1), 1, kindResult, 0, 0)...), uint32(2))

	// The new kinds of layout 4: items for the stream and for a plain
	// call, the server's LOOKUP and CALL of the handlers (function ids
	// 0x10000 plain, 0x10001 stream), its CANCEL and CREDIT.
	f.Add(entry(0x0300, makeHandle(5, 7, heapServer, 0, 1), 8, kindItem, 0, 0), uint32(1))
	f.Add(append(entry(0x0300, makeHandle(5, 7, heapServer, 0, 1), 8, kindItem, 0, 0),
		entry(0x0300, 0, 0, kindResult, 0, 0)...), uint32(2))
	f.Add(entry(0x0000, makeHandle(5, 7, heapServer, 0, 2), 8, kindItem, 0, 0), uint32(1))
	f.Add(entry(0x000001C0, makeHandle(5, 7, heapServer, 0, 1), 1, kindLookup, 0, 0), uint32(1))
	f.Add(entry(0x000001C0, makeHandle(5, 7, heapServer, 0, 1), 4, kindCall, 0x10000, 0), uint32(1))
	f.Add(append(entry(0x000101C0, 0, 0, kindCall, 0x10001, 0), entry(0x000101C0, 0, 4, kindCredit, 0, 0)...), uint32(2))
	f.Add(append(entry(0x000001C0, 0, 0, kindCall, 0x10000, 0), entry(0x000001C0, 0, 0, kindCancel, 0, 0)...), uint32(2))
	f.Add(entry(0x000201C0, makeHandle(5, 7, heapServer, 0, 1), 4, kindCall, 0x10000, 0), uint32(1))
	f.Add(entry(0x000001C0, makeHandle(5, 7, heapClient, 0, 1), 0, kindRelease, 0, 0), uint32(1))

	f.Fuzz(func(t *testing.T, data []byte, tail uint32) {
		fa := newFakeArena(t, 8, 4, 2, 4)
		s := &session{arena: fa.arena, layout: fa.layout, serverBell: -1}
		c, err := newClient(s, defaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		var ids [3]uint64
		var lent [3]uint64
		var bufs [3]*Buffer
		for i := range ids {
			b, err := c.Alloc(8 << (2 * i))
			if err != nil {
				t.Fatal(err)
			}
			si, g, err := c.submit(context.Background(), request{kind: kindCall, fn: fnEcho, in: b})
			if err != nil {
				t.Fatal(err)
			}
			ids[i], lent[i], bufs[i] = makeCallID(si, g), b.h, b
		}
		// Handlers for the server's calls, and a stream of ours.
		c.Handle("h", func(ctx context.Context, req *Request) (*Buffer, error) {
			_ = req.Bytes()
			return nil, nil
		})
		c.HandleStream("hs", func(ctx context.Context, req *Request, send func(*Buffer) error) error {
			return send(nil)
		})
		k, g, err := c.openStream(context.Background(), "ffi.echo", nil)
		if err != nil {
			t.Fatal(err)
		}
		pick := append(ids[:], callID(g, idFromClient, idStream, k))
		defer func() {
			// Handlers end once the session does; nothing may hang.
			c.fail(newError(CodeClosed, "fuzz run over"))
			for c.handlers.running.Load() != 0 {
				runtime.Gosched()
			}
		}()
		// The hostile server writes up to 8 entries and any tail.
		resp := unsafe.Add(unsafe.Pointer(unsafe.SliceData(fa.arena)), fa.layout.respOff)
		for i := 0; i+32 <= len(data) && i < 8*32; i += 32 {
			e := append([]byte(nil), data[i:i+32]...)
			switch {
			case e[0] < 0xC0:
				le.PutUint64(e[0:], pick[int(e[1])%len(pick)])
			case e[0] < 0xE0:
				le.PutUint64(e[0:], callID(uint32(e[1]), idFromServer, uint32(e[2]%4), uint32(e[3])%4))
			}
			copy(unsafe.Slice((*byte)(unsafe.Add(resp, ringCtlSize+uintptr(i))), 32), e)
		}
		*(*uint32)(resp) = tail
		c.tryDrain()
		// The tail is read when the client goes to park.
		c.drainMu.Lock()
		if c.dead.Load() == nil && c.prepareParkingLocked() == parkYes {
			c.cons.endParking()
		}
		head := c.cons.head
		c.drainMu.Unlock()

		// A tail up to respEntries behind the head is valid too (the
		// client may run ahead of the tail on entry stamps).
		if tail-head > fa.layout.respEntries && head-tail > fa.layout.respEntries {
			if c.Err() == nil {
				t.Fatalf("tail %d over %d entries accepted", tail, fa.layout.respEntries)
			}
			return
		}
		// Every item the stream took is a server block the client holds.
		st := &c.streams.slots[k]
		st.mu.Lock()
		for _, it := range st.items {
			if it.err != nil || it.status != CodeOK || it.handle == 0 {
				continue
			}
			d, code := fa.layout.checkHandle(it.handle, heapServer)
			if code != CodeOK || c.heaps.held[d.class][d.index] != d.gen {
				t.Fatalf("stream item %#x: %v, or not recorded as held", it.handle, code)
			}
		}
		st.mu.Unlock()
		for i, id := range ids {
			sl := &c.reg.slots[callIDSlot(id)]
			w := sl.word.Load()
			if w == slotWord(callIDGen(id), slotPending) {
				continue
			}
			if w != slotWord(callIDGen(id), slotDone) {
				t.Fatalf("call %d: slot word %#x, want pending or done", i, w)
			}
			res := sl.res
			if res.err != nil {
				continue
			}
			switch {
			case res.handle == 0:
				if res.len != 0 {
					t.Fatalf("call %d: empty reply with length %d", i, res.len)
				}
			case res.handle == lent[i]:
				if _, capacity := fa.layout.blockRange(new(decodeHandle(lent[i]))); res.len > capacity {
					t.Fatalf("call %d: zero-copy reply of %d bytes in a %d-byte block", i, res.len, capacity)
				}
			default:
				d, code := fa.layout.checkHandle(res.handle, heapServer)
				if code != CodeOK {
					t.Fatalf("call %d: delivered invalid handle %#x (%v)", i, res.handle, code)
				}
				if _, capacity := fa.layout.blockRange(&d); res.len > capacity {
					t.Fatalf("call %d: reply of %d bytes in a %d-byte block", i, res.len, capacity)
				}
				if c.heaps.held[d.class][d.index] != d.gen {
					t.Fatalf("call %d: delivered server block %#x not recorded as held", i, res.handle)
				}
			}
			// Collecting hands the reply to a Buffer without touching
			// anything outside the arena.
			out, _ := c.finish(c.collect(callIDSlot(id)), bufs[i])
			if out != nil {
				_ = out.Bytes()
				if out != bufs[i] && out.Free() != nil {
					t.Fatalf("call %d: cannot free the reply", i)
				}
			}
		}
	})
}
