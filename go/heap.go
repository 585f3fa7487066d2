// heap.go owns the client's private allocator state: free lists,
// generations and block states of the client heap (which only the client
// allocates from), and the record of server-heap blocks the client holds
// (so a double release is caught here and never sent). None of this lives
// in shared memory, so the server cannot corrupt it.

package ffb

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
)

// Block states of a client-heap block.
const (
	blockFree    uint32 = iota // on a free list
	blockOwned                 // held by a Buffer
	blockLent                  // named by an abandoned CALL/LOOKUP: freed when its late result comes
	blockRetired               // generation would wrap: never reused
)

// classAlloc is one class's private state. gens and free change only
// under heaps.mu; states are atomic so that abandoning a call (OWNED ->
// LENT) needs no lock. A block lent to a call in flight stays OWNED (its
// Buffer is what says it is lent), so a call costs no heap atomics.
type classAlloc struct {
	gens   []uint32
	states []atomic.Uint32
	free   []uint32 // stack of free block indices
}

// heaps is the private allocator state of one session. All methods are
// safe for concurrent use.
type heaps struct {
	mu      sync.Mutex
	layout  *arenaLayout
	client  [numClasses]classAlloc
	held    [numClasses][]uint32 // server blocks we hold: generation, 0 = not held
	inUse   int                  // client blocks not free
	holding int                  // server blocks held
}

func newHeaps(l *arenaLayout) *heaps {
	h := &heaps{layout: l}
	// Generations start at a random non-zero value per arena, far enough
	// from the wrap that retirement is rare.
	start := rand.Uint32N(1<<31) + 1
	ch := &l.heaps[heapClient-1]
	for k := uint32(0); k < ch.nclasses; k++ {
		n := ch.classes[k].count
		ca := &h.client[k]
		ca.gens = make([]uint32, n)
		ca.states = make([]atomic.Uint32, n)
		ca.free = make([]uint32, n)
		for i := uint32(0); i < n; i++ {
			ca.gens[i] = start
			ca.free[i] = n - 1 - i // pop order: index 0 first
		}
	}
	sh := &l.heaps[heapServer-1]
	for k := uint32(0); k < sh.nclasses; k++ {
		h.held[k] = make([]uint32, sh.classes[k].count)
	}
	return h
}

// alloc takes a free client block of at least n bytes (the smallest class
// that fits and has one free, else a larger one).
func (h *heaps) alloc(n uint32) (uint64, error) {
	if n > maxBlockSize {
		return 0, newError(CodeBufferTooSmall, "larger than the largest block class")
	}
	ch := &h.layout.heaps[heapClient-1]
	h.mu.Lock()
	defer h.mu.Unlock()
	for k := uint32(0); k < ch.nclasses; k++ {
		ca := &h.client[k]
		if ch.classes[k].blockSize < n || len(ca.free) == 0 {
			continue
		}
		i := ca.free[len(ca.free)-1]
		ca.free = ca.free[:len(ca.free)-1]
		ca.states[i].Store(blockOwned)
		h.inUse++
		return makeHandle(ca.gens[i], h.layout.tag, heapClient, k, i), nil
	}
	return 0, newError(CodeArenaFull, "no free client block that fits")
}

// lookupLocked checks that hd names a client block in state want.
func (h *heaps) lookupLocked(hd uint64, want uint32) (*classAlloc, uint32, error) {
	d, code := h.layout.checkHandle(hd, heapClient)
	if code != CodeOK {
		return nil, 0, &Error{Code: code}
	}
	ca := &h.client[d.class]
	if ca.gens[d.index] != d.gen {
		return nil, 0, ErrStaleHandle
	}
	switch st := ca.states[d.index].Load(); {
	case st == want:
		return ca, d.index, nil
	case st == blockFree:
		return nil, 0, ErrDoubleFree
	case st == blockLent:
		return nil, 0, ErrBusy
	default:
		return nil, 0, ErrStaleHandle
	}
}

// lend moves client block hd between OWNED and LENT without the lock
// (when a call is abandoned, and back if its result was already in).
// The caller's Buffer (in state owned or lent) guarantees that hd's
// generation is current: only Free changes it, and Free needs the Buffer.
// hd was minted by alloc, so its class and index need no re-validation.
func (h *heaps) lend(hd uint64, from, to uint32) error {
	d := decodeHandle(hd)
	if !h.client[d.class].states[d.index].CompareAndSwap(from, to) {
		return newError(CodeBusy, "block is not in the expected state")
	}
	return nil
}

// free returns client block hd (in state from) to its free list, bumping
// its generation; a block whose generation would wrap is retired.
func (h *heaps) free(hd uint64, from uint32) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	ca, i, err := h.lookupLocked(hd, from)
	if err != nil {
		return err
	}
	h.inUse--
	g := ca.gens[i] + 1
	if g == 0 {
		ca.states[i].Store(blockRetired)
		return nil
	}
	ca.gens[i] = g
	ca.states[i].Store(blockFree)
	ca.free = append(ca.free, i)
	return nil
}

// take records that the server gave us block d; false if we already hold
// that block (a duplicate or forged handle).
func (h *heaps) take(d handle) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	slot := &h.held[d.class][d.index]
	if *slot != 0 {
		return false
	}
	*slot = d.gen
	h.holding++
	return true
}

// give forgets server block hd before it is RELEASEd: STALE_HANDLE or
// DOUBLE_FREE if we do not hold it with that generation.
func (h *heaps) give(hd uint64) error {
	d, code := h.layout.checkHandle(hd, heapServer)
	if code != CodeOK {
		return &Error{Code: code}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	slot := &h.held[d.class][d.index]
	switch {
	case *slot == 0:
		return ErrDoubleFree
	case *slot != d.gen:
		return ErrStaleHandle
	}
	*slot = 0
	h.holding--
	return nil
}

// counts returns client blocks in use and server blocks held.
func (h *heaps) counts() (inUse, holding int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.inUse, h.holding
}
