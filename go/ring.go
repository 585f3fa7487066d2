// ring.go is the Go side of the SPSC ring (ring/ffb_ring.h): a producer
// view for the request ring and a consumer view for the response ring,
// over the mapped arena. Each view is used by one goroutine at a time (the
// client serialises them with its own locks). Every atomic carries its
// ring/ORDERING.md tag; Go's sync/atomic operations are sequentially
// consistent, a superset of the acquire/release each tag needs, and an
// atomic store is also the full fence P3/C3 require. Each entry carries
// its own stamp (seq), so a consumer polling an empty ring sees a lone
// entry with one cache-line miss instead of two (tail, then entry).

package ffb

import (
	"sync/atomic"
	"unsafe"
)

// ringEntry mirrors struct ffb_ring_entry (32 bytes, little-endian hosts).
type ringEntry struct {
	callID     uint64
	handle     uint64
	len        uint32
	kind       uint32
	fnOrStatus uint32
	seq        uint32 // the entry's ring index + 1 (S1)
}

// ringLookahead is how many entries ahead push and pop prefetch, and
// ringLineMask selects the first entry of a cache line (as
// FFB_RING_LOOKAHEAD and FFB_RING_LINE_MASK in ring/ffb_ring.h): a ring
// line was last touched by the server's core, so asking for it early
// overlaps the cross-core misses instead of paying them one by one.
const (
	ringLookahead = 16
	ringLineMask  = 64/ringEntrySize - 1
	ringScan      = 64 // ready counts at most this many entries (FFB_RING_SCAN)
)

// ringCorrupt is returned by index readers when the peer's index is out
// of bounds (tail - head > entries).
const ringCorrupt = -1

// ringWords locates the three shared control words of a ring. The pointers
// point into the mapped arena, which is not Go heap memory.
type ringWords struct {
	pTail        *uint32
	cHead        *uint32
	cNeedsWakeup *uint32
	slots        unsafe.Pointer
	size, mask   uint32
}

func newRingWords(base unsafe.Pointer, size uint32) ringWords {
	return ringWords{
		pTail:        (*uint32)(unsafe.Add(base, offRingCtlPTail)),
		cHead:        (*uint32)(unsafe.Add(base, offRingCtlCHead)),
		cNeedsWakeup: (*uint32)(unsafe.Add(base, offRingCtlCNeedsWakeup)),
		slots:        unsafe.Add(base, ringCtlSize),
		size:         size,
		mask:         size - 1,
	}
}

func (w *ringWords) slot(i uint32) unsafe.Pointer {
	return unsafe.Add(w.slots, uintptr(i&w.mask)*ringEntrySize)
}

// ringProd is the producer's private view (the client on the request ring).
type ringProd struct {
	ringWords
	tail       uint32 // private, authoritative (R2)
	cachedHead uint32 // last validated c_head
	published  uint32 // last tail stored to p_tail
}

// attach starts from the current shared indices; false if inconsistent.
func (p *ringProd) attach(base unsafe.Pointer, size uint32) bool {
	p.ringWords = newRingWords(base, size)
	p.tail = atomic.LoadUint32(p.pTail) // R1: read once; we own p_tail from here on
	// P2: slots below c_head are free before we reuse them; pairs with C2
	p.cachedHead = atomic.LoadUint32(p.cHead)
	p.published = p.tail
	return p.tail-p.cachedHead <= p.size
}

// free returns the number of free slots (re-reading c_head only when the
// cached value shows fewer than want), or ringCorrupt. Before that re-read
// it stores the tail if entries were pushed since the last publish, so
// the tail never falls a ring behind what is stamped (PROTOCOL.md §5.2, the
// producer's duty; see ffb_ring_prod_free). publish still does the P3
// store, fence and wake-up check.
func (p *ringProd) free(want uint32) int {
	if n := p.size - (p.tail - p.cachedHead); n >= want {
		return int(n)
	}
	if p.tail != p.published {
		atomic.StoreUint32(p.pTail, p.tail) // P1: entries stamped before the tail; pairs with C1
	}
	// P2: the consumer finished with slots below head; pairs with C2
	head := atomic.LoadUint32(p.cHead)
	if p.tail-head > p.size { // R1: validated before use
		return ringCorrupt
	}
	p.cachedHead = head
	return int(p.size - (p.tail - head))
}

// push appends an entry; the caller has seen free() > 0. The consumer may
// take it once it is stamped; publish makes the batch visible through the
// tail and rings the doorbell. The fields are stored one by one: a struct
// copy moves them with wide loads of narrower stores, which cannot be
// forwarded and so wait for the store buffer to drain, behind ring stores
// still waiting for their line from the server's core.
func (p *ringProd) push(callID, handle uint64, n, kind, fn uint32) {
	if p.tail&ringLineMask == 0 && p.tail+ringLookahead-p.cachedHead < p.size {
		prefetchWrite(p.slot(p.tail + ringLookahead)) // a free slot: ours
	}
	// Plain stores: the consumer does not read them before the stamp (S1).
	s := p.slot(p.tail)
	*(*uint64)(unsafe.Add(s, offRingEntryCallID)) = callID
	*(*uint64)(unsafe.Add(s, offRingEntryHandle)) = handle
	*(*uint32)(unsafe.Add(s, offRingEntryLen)) = n
	*(*uint32)(unsafe.Add(s, offRingEntryKind)) = kind
	*(*uint32)(unsafe.Add(s, offRingEntryFnOrStatus)) = fn
	p.tail++
	// S1: the entry's fields before its stamp; pairs with S2
	storeRelease32((*uint32)(unsafe.Add(s, offRingEntrySeq)), p.tail)
}

// publish makes pushed entries visible and reports whether the consumer
// asked to be woken.
func (p *ringProd) publish() bool {
	if p.tail == p.published {
		return false
	}
	// P1: entries and payloads before the tail; pairs with C1.
	// P3: Go's atomic store is also the full fence ordering it before the
	// c_needs_wakeup load below; pairs with C3.
	atomic.StoreUint32(p.pTail, p.tail)
	p.published = p.tail
	// R1: read once; a stale or forged value costs at most one wake.
	return atomic.LoadUint32(p.cNeedsWakeup) != 0
}

// ringCons is the consumer's private view (the client on the response ring).
type ringCons struct {
	ringWords
	head       uint32 // private, authoritative (R2)
	cachedTail uint32 // last validated p_tail
	published  uint32 // last head stored to c_head
}

// attach starts from the current shared indices; false if inconsistent.
func (c *ringCons) attach(base unsafe.Pointer, size uint32) bool {
	c.ringWords = newRingWords(base, size)
	c.head = atomic.LoadUint32(c.cHead) // R1: read once; we own c_head from here on
	// C1: entries below p_tail are written; pairs with P1
	c.cachedTail = atomic.LoadUint32(c.pTail)
	c.published = c.head
	return c.cachedTail-c.head <= c.size
}

// tailAhead classifies a p_tail value read from the server (R1): the
// entries it publishes beyond head, or ringCorrupt. The consumer may have
// taken stamped entries the tail does not cover yet, so a tail up to size
// behind head is as valid as one up to size ahead (then 0).
func (c *ringCons) tailAhead(tail uint32) int {
	if ahead := tail - c.head; ahead <= c.size {
		return int(ahead)
	}
	if c.head-tail <= c.size {
		return 0
	}
	return ringCorrupt
}

// stamped reports whether the entry at head carries its stamp.
func (c *ringCons) stamped() bool {
	return atomic.LoadUint32((*uint32)(unsafe.Add(c.slot(c.head), offRingEntrySeq))) == c.head+1
}

// ready returns the number of entries ready to pop (never an error),
// counted by their stamps from head (at most ringScan), as
// ffb_ring_cons_ready. The tail is
// not read here: polling it would keep its line shared, and the server's
// every publish would then wait for the line to come back.
func (c *ringCons) ready() int {
	if n := c.cachedTail - c.head; n != 0 {
		return int(n)
	}
	limit := min(c.size, ringScan)
	n := uint32(0)
	// S2: the stamp before the entry's fields; pairs with S1
	for n < limit && atomic.LoadUint32((*uint32)(unsafe.Add(c.slot(c.head+n), offRingEntrySeq))) == c.head+n+1 {
		n++
	}
	c.cachedTail = c.head + n
	return int(n)
}

// pop copies the next entry out, each field read exactly once (R1). The
// caller has seen ready() > 0. The slot stays owned until release.
func (c *ringCons) pop(out *ringEntry) {
	if c.head&ringLineMask == 0 && c.cachedTail-(c.head+ringLookahead)-1 < c.size {
		prefetchRead(c.slot(c.head + ringLookahead)) // an unread entry: ours
	}
	s := c.slot(c.head)
	out.callID = atomic.LoadUint64((*uint64)(unsafe.Add(s, offRingEntryCallID)))         // R1
	out.handle = atomic.LoadUint64((*uint64)(unsafe.Add(s, offRingEntryHandle)))         // R1
	out.len = atomic.LoadUint32((*uint32)(unsafe.Add(s, offRingEntryLen)))               // R1
	out.kind = atomic.LoadUint32((*uint32)(unsafe.Add(s, offRingEntryKind)))             // R1
	out.fnOrStatus = atomic.LoadUint32((*uint32)(unsafe.Add(s, offRingEntryFnOrStatus))) // R1
	out.seq = c.head + 1                                                                 // the stamp ready found
	c.head++
}

// release hands every popped slot back to the producer.
func (c *ringCons) release() {
	if c.head == c.published {
		return
	}
	// C2: our entry reads before the head store; pairs with P2
	storeRelease32(c.cHead, c.head)
	c.published = c.head
}

// prepareParkState is the outcome of prepareParking.
const (
	parkNo      = 0 // an entry arrived; consume instead of sleeping
	parkYes     = 1 // still empty; sleep (the flag stays set)
	parkCorrupt = ringCorrupt
)

// prepareParking sets c_needs_wakeup and re-checks the tail and the head
// entry's stamp (C3). The caller has popped everything ready reported.
func (c *ringCons) prepareParking() int {
	// C3: the flag store is a full fence before the re-loads; pairs with P3
	atomic.StoreUint32(c.cNeedsWakeup, 1)
	// C1: entries below tail are written and stamped; pairs with P1
	n := c.tailAhead(atomic.LoadUint32(c.pTail)) // R1: validated here
	stamped := c.stamped()
	if n == ringCorrupt || n > 0 && !stamped {
		return parkCorrupt // a tail over entries never stamped
	}
	if stamped {
		atomic.StoreUint32(c.cNeedsWakeup, 0) // relaxed intent: a stale 1 costs one spurious wake
		return parkNo
	}
	return parkYes
}

// endParking clears the flag; a stale 1 costs the producer one spurious wake.
func (c *ringCons) endParking() {
	atomic.StoreUint32(c.cNeedsWakeup, 0)
}
