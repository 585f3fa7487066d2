// ring_internal_test.go: the producer's duty of PROTOCOL.md §5 -- a burst
// of pushes with no publish (the 7,902 RELEASEs of issue 15) still keeps
// the request ring's tail within a ring of what the consumer took by the
// entries' stamps, so the server's park never cuts it.

package ffb

import (
	"sync/atomic"
	"testing"
	"unsafe"
)

func TestBurstWithoutPublishKeepsTheTailWithinARing(t *testing.T) {
	const entries = 8
	mem := make([]uint64, (ringCtlSize+entries*ringEntrySize)/8) // zeroed: indices and stamps start at 0
	base := unsafe.Pointer(&mem[0])
	var p ringProd
	var c ringCons
	if !p.attach(base, entries) || !c.attach(base, entries) {
		t.Fatal("attach refused a fresh ring")
	}
	var e ringEntry
	for i := 0; i < 40*entries; i++ {
		for p.free(1) == 0 { // the consumer takes what is stamped
			for n := c.ready(); n > 0; n-- {
				c.pop(&e)
			}
			c.release()
			if c.tailAhead(atomic.LoadUint32(p.pTail)) == ringCorrupt {
				t.Fatalf("after %d pushes: tail %d, consumer head %d: more than a ring behind", i, atomic.LoadUint32(p.pTail), c.head)
			}
		}
		p.push(0, uint64(i+1), 0, kindRelease, 0)
	}
	if c.head < 30*entries {
		t.Fatalf("consumer head %d: it did not run ahead of the first tail", c.head)
	}
}
