// layout.go is the hand-written logic over the byte layout shared with C
// and Rust (PROTOCOL.md, include/ffb_layout.h): handle and call-id bit
// fields and the class sizes. Every number comes from zlayout.go, which
// `make gen` generates from the C header.

package ffb

// LayoutVersion is the protocol layout version this package speaks.
const LayoutVersion = layoutVersion

// classBlockSize is the block size of class k.
func classBlockSize(k uint32) uint32 { return 1 << (minBlockShift + classShiftStep*k) }

// handle is a decoded 64-bit block handle.
type handle struct {
	index, class, heap, tag, gen uint32
}

func decodeHandle(h uint64) handle {
	return handle{
		index: uint32(h & (1<<handleIndexBits - 1)),
		class: uint32(h>>handleClassShift) & (1<<handleClassBits - 1),
		heap:  uint32(h>>handleHeapShift) & (1<<handleHeapBits - 1),
		tag:   uint32(h>>handleTagShift) & (1<<handleTagBits - 1),
		gen:   uint32(h >> handleGenShift),
	}
}

func makeHandle(gen, tag, heap, class, index uint32) uint64 {
	return uint64(gen)<<handleGenShift | uint64(tag)<<handleTagShift |
		uint64(heap)<<handleHeapShift | uint64(class)<<handleClassShift | uint64(index)
}

// Call ids (PROTOCOL.md §8): the caller's slot, the kind of answers it
// gets, whose call it is (the direction), and a generation (never 0).
func callID(gen, dir, kind, slot uint32) uint64 {
	return uint64(gen)<<32 | uint64(dir)<<callDirShift | uint64(kind)<<callKindShift | uint64(slot)
}

// makeCallID is the id of the client's plain call in slot at gen.
func makeCallID(slot, gen uint32) uint64 { return callID(gen, idFromClient, idOnce, slot) }

func callIDSlot(id uint64) uint32 { return uint32(id) & (1<<callSlotBits - 1) }
func callIDGen(id uint64) uint32  { return uint32(id >> 32) }
func callIDKind(id uint64) uint32 { return uint32(id) >> callKindShift & 3 }
func callIDDir(id uint64) uint32  { return uint32(id) >> callDirShift & 1 }

// callIDValid reports whether id can name a call at all (FFB_CALL_ID_VALID).
func callIDValid(id uint64) bool {
	return callIDGen(id) != 0 && uint32(id)&callZeroMask == 0 && callIDKind(id) <= idNotify
}
