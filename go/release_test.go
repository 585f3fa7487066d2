package ffb

import (
	"sync/atomic"
	"testing"
	"unsafe"
)

// The release stores write through a sync/atomic word's address: its value
// must be its only non-empty field, and an atomic load must see the store.
func TestReleaseStores(t *testing.T) {
	if unsafe.Sizeof(atomic.Uint32{}) != 4 || unsafe.Sizeof(atomic.Uint64{}) != 8 {
		t.Fatalf("sync/atomic words are %d and %d bytes, want 4 and 8",
			unsafe.Sizeof(atomic.Uint32{}), unsafe.Sizeof(atomic.Uint64{}))
	}
	var w32 atomic.Uint32
	var w64 atomic.Uint64
	var p uint32
	storeRelU32(&w32, 0xA1B2C3D4)
	storeRelU64(&w64, 0x0102030405060708)
	storeRelease32(&p, 7)
	if w32.Load() != 0xA1B2C3D4 || w64.Load() != 0x0102030405060708 || atomic.LoadUint32(&p) != 7 {
		t.Fatalf("stores not seen: %#x %#x %d", w32.Load(), w64.Load(), atomic.LoadUint32(&p))
	}
}
