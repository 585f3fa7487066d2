// vector_internal_test.go: CallBatch's vector calls (CALLV) against the
// fake server — results read from the records, hostile answers (another
// block, a bad record) failing only their calls with PROTOCOL, and the
// pipelined path when the server does not announce VECTOR_CALLS.

package ffb

import (
	"context"
	"encoding/binary"
	"errors"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"
)

// withVectorCalls makes the fake arena announce CALLV.
func withVectorCalls(fa *fakeArena) {
	fa.hello.flags |= sbVectorCalls
	binary.LittleEndian.PutUint32(fa.arena[offSuperblockFlags:], fa.hello.flags)
	fa.layout.flags |= sbVectorCalls
}

// fakeVector answers a CALLV like the C server: each record echoed in
// place (status OK), unless edit changes record j first.
func fakeVector(fs *fakeServer, e ringEntry, edit func(j int, rec unsafe.Pointer)) ringEntry {
	off, _ := fs.fa.layout.blockRange(new(decodeHandle(e.handle)))
	p := unsafe.Pointer(&fs.fa.arena[off])
	for j := 0; j < int(e.len)/vecCallSize; j++ {
		rec := unsafe.Add(p, j*vecCallSize)
		*(*uint32)(unsafe.Add(rec, offVecCallFnOrStatus)) = uint32(CodeOK)
		if edit != nil {
			edit(j, rec)
		}
	}
	return ringEntry{callID: e.callID, handle: e.handle, len: e.len, kind: kindResult}
}

func stampedCalls(t *testing.T, c *Client, n int) []BatchCall {
	t.Helper()
	calls := make([]BatchCall, n)
	for k := range calls {
		b, err := c.Alloc(8)
		if err != nil {
			t.Fatal(err)
		}
		binary.LittleEndian.PutUint64(b.Bytes(), uint64(k))
		calls[k] = BatchCall{Name: "ffi.echo", In: b}
	}
	return calls
}

func TestFakeCallBatchVectors(t *testing.T) {
	fa := newFakeArena(t, 16, 8, 5, 256) // class 4 holds a vector block
	withVectorCalls(fa)
	var mode, callvs, plain atomic.Int32
	c, _ := newFakeClient(t, fa, options{spin: time.Millisecond}, func(fs *fakeServer, e ringEntry) (ringEntry, bool) {
		if e.kind != kindCallv {
			plain.Add(1)
			return ringEntry{callID: e.callID, handle: e.handle, len: e.len, kind: kindResult}, true
		}
		callvs.Add(1)
		switch mode.Load() {
		case 1: // the RESULT names another block
			return ringEntry{callID: e.callID, handle: e.handle + 1<<32, len: e.len, kind: kindResult}, true
		case 2: // the RESULT has another length
			return ringEntry{callID: e.callID, handle: e.handle, len: e.len - vecCallSize, kind: kindResult}, true
		case 3: // record 1 names a block the client did not lend; record 2 fails with a status
			return fakeVector(fs, e, func(j int, rec unsafe.Pointer) {
				switch j {
				case 1:
					*(*uint64)(rec) = makeHandle(1, fa.tag, heapClient, 3, 200)
				case 2:
					*(*uint32)(unsafe.Add(rec, offVecCallFnOrStatus)) = uint32(CodeInvalidArgument)
					*(*uint64)(rec), *(*uint32)(unsafe.Add(rec, offVecCallLen)) = 0, 0
				}
			}), true
		}
		return fakeVector(fs, e, nil), true
	})
	calls := stampedCalls(t, c, 150) // three vectors: 64 + 64 + 22
	if err := c.CallBatch(context.Background(), calls); err != nil {
		t.Fatal(err)
	}
	for k, bc := range calls {
		if bc.Err != nil || bc.Out != bc.In || binary.LittleEndian.Uint64(bc.Out.Bytes()) != uint64(k) {
			t.Fatalf("call %d: got (%v, %v), want its own echo", k, bc.Out, bc.Err)
		}
	}
	if callvs.Load() != 3 || plain.Load() != 0 {
		t.Errorf("sent %d CALLVs and %d CALLs, want 3 and 0", callvs.Load(), plain.Load())
	}
	for _, m := range []int32{1, 2} {
		mode.Store(m)
		err := c.CallBatch(context.Background(), calls[:5])
		if !errors.Is(err, ErrProtocol) {
			t.Errorf("mode %d: got %v, want PROTOCOL", m, err)
		}
		for k, bc := range calls[:5] {
			if !errors.Is(bc.Err, ErrProtocol) || bc.Out != nil || bc.In.Bytes() == nil {
				t.Errorf("mode %d call %d: got (%v, %v), want PROTOCOL with its input usable again", m, k, bc.Out, bc.Err)
			}
		}
	}
	mode.Store(3)
	err := c.CallBatch(context.Background(), calls[:4])
	if !errors.Is(err, ErrProtocol) {
		t.Errorf("bad records: got %v, want PROTOCOL first", err)
	}
	want := []error{nil, ErrProtocol, ErrInvalidArgument, nil}
	for k, bc := range calls[:4] {
		if (want[k] == nil && (bc.Err != nil || bc.Out != bc.In)) || (want[k] != nil && !errors.Is(bc.Err, want[k])) {
			t.Errorf("bad records, call %d: got (%v, %v), want %v", k, bc.Out, bc.Err, want[k])
		}
	}
	mode.Store(0)
	for _, bc := range calls {
		if err := bc.In.Free(); err != nil {
			t.Fatalf("free: %v", err)
		}
	}
	if st := c.Stats(); st.BlocksInUse != 0 || st.Pending != 0 || c.Err() != nil {
		t.Errorf("after the batches: %+v (session error %v)", st, c.Err())
	}
}

func TestFakeCallBatchWithoutVectorCalls(t *testing.T) {
	fa := newFakeArena(t, 16, 8, 4, 256)
	var callvs atomic.Int32
	c, _ := newFakeClient(t, fa, options{spin: time.Millisecond}, func(fs *fakeServer, e ringEntry) (ringEntry, bool) {
		if e.kind == kindCallv {
			callvs.Add(1)
		}
		return ringEntry{callID: e.callID, handle: e.handle, len: e.len, kind: kindResult}, true
	})
	calls := stampedCalls(t, c, 100)
	if err := c.CallBatch(context.Background(), calls); err != nil {
		t.Fatal(err)
	}
	for k, bc := range calls {
		if bc.Err != nil || bc.Out != bc.In || binary.LittleEndian.Uint64(bc.Out.Bytes()) != uint64(k) {
			t.Fatalf("call %d: got (%v, %v), want its own echo", k, bc.Out, bc.Err)
		}
	}
	if callvs.Load() != 0 {
		t.Errorf("sent %d CALLVs to a server without VECTOR_CALLS", callvs.Load())
	}
}
