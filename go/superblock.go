// superblock.go decodes and validates the arena superblock from a private
// copy (PROTOCOL.md §3). Nothing here trusts the server: every offset and
// size is checked with overflow-safe arithmetic before any other code
// derives an address from it.

package ffb

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"sort"
)

// classInfo is one validated size class of one heap.
type classInfo struct {
	offset    uint64
	blockSize uint32
	count     uint32
}

// heapInfo is one validated heap: its byte range and its classes.
type heapInfo struct {
	nclasses uint32
	offset   uint64
	size     uint64
	classes  [numClasses]classInfo
}

// arenaLayout is the client's private, validated copy of the superblock.
type arenaLayout struct {
	arenaSize   uint64
	flags       uint32
	maxInflight uint32
	sessionID   uint64
	tag         uint32
	reqOff      uint64
	reqEntries  uint32
	respOff     uint64
	respEntries uint32
	heaps       [2]heapInfo // [0] client heap (1), [1] server heap (2)
}

// helloFacts are the server-hello fields the superblock must repeat.
type helloFacts struct {
	arenaSize   uint64
	flags       uint32
	sessionID   uint64
	maxInflight uint32
}

type region struct{ lo, hi uint64 }

func protoErr(format string, a ...any) error {
	return newError(CodeProtocol, fmt.Sprintf("superblock: "+format, a...))
}

// parseSuperblock validates the private copy sb (superblockSize bytes)
// against the hello and returns the layout, or a PROTOCOL /
// VERSION_MISMATCH error: PROTOCOL.md §3.1, rules S1-S12.
func parseSuperblock(sb []byte, h helloFacts) (*arenaLayout, error) {
	if len(sb) < superblockSize {
		return nil, protoErr("short copy (%d bytes)", len(sb))
	}
	le := binary.LittleEndian
	if m := le.Uint64(sb[offSuperblockMagic:]); m != arenaMagic {
		return nil, newError(CodeVersionMismatch, fmt.Sprintf("arena magic %#x", m))
	}
	if v := le.Uint32(sb[offSuperblockLayoutVersion:]); v != LayoutVersion {
		return nil, newError(CodeVersionMismatch, fmt.Sprintf("arena layout version %d, want %d", v, LayoutVersion))
	}
	if s := le.Uint32(sb[offSuperblockSuperblockSize:]); s != superblockSize {
		return nil, protoErr("superblock_size %d", s)
	}
	l := &arenaLayout{
		arenaSize:   le.Uint64(sb[offSuperblockArenaSize:]),
		flags:       le.Uint32(sb[offSuperblockFlags:]),
		maxInflight: le.Uint32(sb[offSuperblockMaxInflight:]),
		sessionID:   le.Uint64(sb[offSuperblockSessionID:]),
		tag:         le.Uint32(sb[offSuperblockArenaTag:]),
		reqOff:      le.Uint64(sb[offSuperblockReqRingOffset:]),
		reqEntries:  le.Uint32(sb[offSuperblockReqRingEntries:]),
		respEntries: le.Uint32(sb[offSuperblockRespRingEntries:]),
		respOff:     le.Uint64(sb[offSuperblockRespRingOffset:]),
	}
	switch {
	case l.arenaSize != h.arenaSize:
		return nil, protoErr("arena_size %d, hello says %d", l.arenaSize, h.arenaSize)
	case l.arenaSize > maxArenaSize || l.arenaSize < regionAlign:
		return nil, protoErr("arena_size %d out of range", l.arenaSize)
	case l.flags != h.flags:
		return nil, protoErr("flags %#x, hello says %#x", l.flags, h.flags)
	case l.sessionID != h.sessionID || l.sessionID == 0:
		return nil, protoErr("session_id %d, hello says %d", l.sessionID, h.sessionID)
	case l.tag < 1 || l.tag > 255:
		return nil, protoErr("arena_tag %d", l.tag)
	}
	regions := []region{{0, regionAlign}}
	for _, r := range []struct {
		name    string
		off     uint64
		entries uint32
	}{{"request", l.reqOff, l.reqEntries}, {"response", l.respOff, l.respEntries}} {
		if r.entries < minRingEntries || r.entries > maxRingEntries || bits.OnesCount32(r.entries) != 1 {
			return nil, protoErr("%s ring entries %d", r.name, r.entries)
		}
		if r.off%regionAlign != 0 {
			return nil, protoErr("%s ring offset %#x not page aligned", r.name, r.off)
		}
		end, c := bits.Add64(r.off, ringCtlSize+uint64(r.entries)*ringEntrySize, 0)
		if c != 0 || end > l.arenaSize {
			return nil, protoErr("%s ring outside the arena", r.name)
		}
		regions = append(regions, region{r.off, end})
	}
	if l.maxInflight < 1 || l.maxInflight > l.respEntries {
		return nil, protoErr("max_inflight %d (response ring %d)", l.maxInflight, l.respEntries)
	}
	if h.maxInflight != l.maxInflight {
		return nil, protoErr("max_inflight %d, hello says %d", l.maxInflight, h.maxInflight)
	}
	for i := range l.heaps {
		hr, err := parseHeap(sb[offSuperblockHeaps+i*sizeofHeapDesc:], i+1, l.arenaSize, &l.heaps[i])
		if err != nil {
			return nil, err
		}
		regions = append(regions, hr...)
	}
	sort.Slice(regions, func(a, b int) bool { return regions[a].lo < regions[b].lo })
	for i := 1; i < len(regions); i++ {
		if regions[i].lo < regions[i-1].hi {
			return nil, protoErr("regions [%#x,%#x) and [%#x,%#x) overlap",
				regions[i-1].lo, regions[i-1].hi, regions[i].lo, regions[i].hi)
		}
	}
	return l, nil
}

// parseHeap validates heap descriptor d (heap number n) into out and
// returns the byte regions of its non-empty classes.
func parseHeap(d []byte, n int, arenaSize uint64, out *heapInfo) ([]region, error) {
	le := binary.LittleEndian
	out.nclasses = le.Uint32(d[offHeapDescNclasses:])
	out.offset = le.Uint64(d[offHeapDescOffset:])
	out.size = le.Uint64(d[offHeapDescSize:])
	if out.nclasses > numClasses {
		return nil, protoErr("heap %d: nclasses %d", n, out.nclasses)
	}
	hend, c := bits.Add64(out.offset, out.size, 0)
	if c != 0 || hend > arenaSize {
		return nil, protoErr("heap %d: range outside the arena", n)
	}
	var rs []region
	for k := uint32(0); k < out.nclasses; k++ {
		cd := d[offHeapDescClasses+int(k)*sizeofClassDesc:]
		ci := classInfo{
			offset:    le.Uint64(cd[offClassDescOffset:]),
			blockSize: le.Uint32(cd[offClassDescBlockSize:]),
			count:     le.Uint32(cd[offClassDescCount:]),
		}
		if ci.blockSize != classBlockSize(k) {
			return nil, protoErr("heap %d class %d: block size %d", n, k, ci.blockSize)
		}
		if ci.count > maxBlocks {
			return nil, protoErr("heap %d class %d: count %d", n, k, ci.count)
		}
		if ci.offset%64 != 0 {
			return nil, protoErr("heap %d class %d: offset %#x not 64-byte aligned", n, k, ci.offset)
		}
		hi, lo := bits.Mul64(uint64(ci.count), uint64(ci.blockSize))
		end, c := bits.Add64(ci.offset, lo, 0)
		if hi != 0 || c != 0 || end > arenaSize {
			return nil, protoErr("heap %d class %d: outside the arena", n, k)
		}
		if ci.offset < out.offset || end > hend {
			return nil, protoErr("heap %d class %d: outside its heap", n, k)
		}
		if ci.count > 0 {
			rs = append(rs, region{ci.offset, end})
		}
		out.classes[k] = ci
	}
	return rs, nil
}

// checkHandle validates a peer-supplied handle for heap `heap` against the
// layout (tag, heap, class, index, generation) and returns it decoded, or
// the error code that names the violation.
func (l *arenaLayout) checkHandle(h uint64, heap uint32) (handle, Code) {
	d := decodeHandle(h)
	switch {
	case h == 0 || d.gen == 0:
		return d, CodeInvalidHandle
	case d.tag != l.tag:
		return d, CodeForeignHandle
	case d.heap != heap:
		return d, CodeInvalidHandle
	}
	hp := &l.heaps[heap-1]
	if d.class >= hp.nclasses || d.index >= hp.classes[d.class].count {
		return d, CodeInvalidHandle
	}
	return d, CodeOK
}

// blockCap returns the capacity of the block of a checked handle h,
// without decoding h into a handle (a struct too large for registers).
func (l *arenaLayout) blockCap(h uint64) uint32 {
	heap := uint32(h>>handleHeapShift) & (1<<handleHeapBits - 1)
	class := uint32(h>>handleClassShift) & (1<<handleClassBits - 1)
	return l.heaps[heap-1].classes[class].blockSize
}

// blockRange returns the arena offset and capacity of a checked handle.
func (l *arenaLayout) blockRange(d *handle) (off uint64, capacity uint32) {
	ci := &l.heaps[d.heap-1].classes[d.class]
	return ci.offset + uint64(d.index)*uint64(ci.blockSize), ci.blockSize
}
