// layout_test.go checks every layout number of this package against
// include/ffb_layout.h: the #define constants, the pinned offsets
// (FFB__PIN) and the pinned sizes (_Static_assert sizeof), all parsed from
// the C header, plus the Go mirror struct of a ring entry.

package ffb

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

func readLayoutHeader(t *testing.T) string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("..", "include", "ffb_layout.h"))
	if err != nil {
		t.Fatalf("read the C layout header: %v", err)
	}
	return string(src)
}

func TestLayoutDefinesMatchCHeader(t *testing.T) {
	src := readLayoutHeader(t)
	defs := map[string]uint64{}
	re := regexp.MustCompile(`(?m)^#define\s+(FFB_[A-Z0-9_]+)\s+\(?(0x[0-9A-Fa-f]+|\d+)(?:u|ull)?\)?`)
	for _, m := range re.FindAllStringSubmatch(src, -1) {
		v, err := strconv.ParseUint(m[2], 0, 64)
		if err != nil {
			t.Fatalf("%s: %v", m[1], err)
		}
		defs[m[1]] = v
	}
	shift := regexp.MustCompile(`(?m)^#define\s+(FFB_[A-Z0-9_]+)\s+\(1u?l*\s*<<\s*(\d+)\)`)
	for _, m := range shift.FindAllStringSubmatch(src, -1) {
		n, _ := strconv.Atoi(m[2])
		defs[m[1]] = 1 << n
	}
	want := map[string]uint64{
		"FFB_LAYOUT_VERSION":     LayoutVersion,
		"FFB_ARENA_MAGIC":        arenaMagic,
		"FFB_SERVER_HELLO_MAGIC": serverHelloMagic,
		"FFB_CLIENT_HELLO_MAGIC": clientHelloMagic,
		"FFB_GOODBYE_MAGIC":      goodbyeMagic,
		"FFB_SUPERBLOCK_SIZE":    superblockSize,
		"FFB_REGION_ALIGN":       regionAlign,
		"FFB_MAX_CLASSES":        maxClasses,
		"FFB_NUM_CLASSES":        numClasses,
		"FFB_MIN_BLOCK_SHIFT":    minBlockShift,
		"FFB_CLASS_SHIFT_STEP":   classShiftStep,
		"FFB_MAX_BLOCK_SIZE":     maxBlockSize,
		"FFB_MAX_BLOCKS":         maxBlocks,
		"FFB_MAX_ARENA_SIZE":     maxArenaSize,
		"FFB_MIN_RING_ENTRIES":   minRingEntries,
		"FFB_MAX_RING_ENTRIES":   maxRingEntries,
		"FFB_HEAP_CLIENT":        heapClient,
		"FFB_HEAP_SERVER":        heapServer,
		"FFB_SB_FUTEX_DOORBELL":  flagFutexBell,
		"FFB_SB_VECTOR_CALLS":    flagVectorCalls,
		"FFB_VEC_CALL_SIZE":      vecRecSize,
		"FFB_MAX_VEC_CALLS":      vecMax,
		"FFB_RING_CTL_SIZE":      ringCtlSize,
		"FFB_RING_ENTRY_SIZE":    ringEntrySize,
		"FFB_KIND_CALL":          kindCall,
		"FFB_KIND_LOOKUP":        kindLookup,
		"FFB_KIND_RELEASE":       kindRelease,
		"FFB_KIND_RESULT":        kindResult,
		"FFB_KIND_CALLV":         kindCallV,
		"FFB_KIND_CANCEL":        kindCancel,
		"FFB_HANDLE_INDEX_BITS":  handleIndexBits,
		"FFB_HANDLE_CLASS_SHIFT": handleClassShift,
		"FFB_HANDLE_CLASS_BITS":  handleClassBits,
		"FFB_HANDLE_HEAP_SHIFT":  handleHeapShift,
		"FFB_HANDLE_HEAP_BITS":   handleHeapBits,
		"FFB_HANDLE_TAG_SHIFT":   handleTagShift,
		"FFB_HANDLE_TAG_BITS":    handleTagBits,
		"FFB_HANDLE_GEN_SHIFT":   handleGenShift,
		"FFB_MAX_FUNCTIONS":      maxFunctions,
		"FFB_MAX_NAME_LEN":       maxNameLen,
		"FFB_FD_ARENA":           fdArena,
		"FFB_FD_CLIENT_BELL":     fdClientBell,
		"FFB_FD_SERVER_BELL":     fdServerBell,
		"FFB_MAX_HELLO_FDS":      maxHelloFDs,
	}
	for name, goVal := range want {
		cVal, ok := defs[name]
		if !ok {
			t.Errorf("%s: not found in ffb_layout.h", name)
			continue
		}
		if cVal != goVal {
			t.Errorf("%s: got %#x in Go, want %#x as in C", name, goVal, cVal)
		}
	}
	// Built-in ids are FFB_FN_MAKE(1u, slot) = 1<<16 | slot.
	if fnEcho != 1<<16|0 || fnVersion != 1<<16|1 {
		t.Errorf("built-in ids: got %#x, %#x", fnEcho, fnVersion)
	}
	for k := uint32(0); k < numClasses; k++ {
		if got, want := classBlockSize(k), uint32(1)<<(defs["FFB_MIN_BLOCK_SHIFT"]+defs["FFB_CLASS_SHIFT_STEP"]*uint64(k)); got != want {
			t.Errorf("class %d block size: got %d, want %d", k, got, want)
		}
	}
	if !strings.Contains(src, "F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL") || arenaSeals != 0x1|0x2|0x4 {
		t.Errorf("arena seals: got %#x, want F_SEAL_SEAL|F_SEAL_SHRINK|F_SEAL_GROW", arenaSeals)
	}
}

func TestLayoutOffsetsMatchCHeader(t *testing.T) {
	src := readLayoutHeader(t)
	pins := map[string]uint64{}
	re := regexp.MustCompile(`FFB__PIN\((\w+),\s*(\w+),\s*(\d+)\)`)
	for _, m := range re.FindAllStringSubmatch(src, -1) {
		v, _ := strconv.ParseUint(m[3], 10, 64)
		pins[m[1]+"."+m[2]] = v
	}
	sizes := map[string]uint64{}
	reSize := regexp.MustCompile(`_Static_assert\(sizeof\(struct (\w+)\) == (\w+)`)
	for _, m := range reSize.FindAllStringSubmatch(src, -1) {
		v, err := strconv.ParseUint(m[2], 10, 64)
		if err != nil { // a named constant
			switch m[2] {
			case "FFB_SUPERBLOCK_SIZE":
				v = superblockSize
			case "FFB_RING_CTL_SIZE":
				v = ringCtlSize
			case "FFB_RING_ENTRY_SIZE":
				v = ringEntrySize
			case "FFB_VEC_CALL_SIZE":
				v = vecRecSize
			default:
				t.Fatalf("unknown size constant %s", m[2])
			}
		}
		sizes[m[1]] = v
	}
	wantPins := map[string]uint64{
		"ffb_class_desc.offset": classOffset, "ffb_class_desc.block_size": classBlockSizeAt, "ffb_class_desc.count": classCount,
		"ffb_heap_desc.nclasses": heapNClasses, "ffb_heap_desc.offset": heapOffset, "ffb_heap_desc.size": heapSize, "ffb_heap_desc.classes": heapClasses,
		"ffb_superblock.magic": sbMagic, "ffb_superblock.layout_version": sbLayoutVersion, "ffb_superblock.superblock_size": sbSuperblockSize,
		"ffb_superblock.arena_size": sbArenaSize, "ffb_superblock.flags": sbFlags, "ffb_superblock.max_inflight": sbMaxInflight,
		"ffb_superblock.session_id": sbSessionID, "ffb_superblock.arena_tag": sbArenaTag, "ffb_superblock.req_ring_offset": sbReqRingOffset,
		"ffb_superblock.req_ring_entries": sbReqRingEntries, "ffb_superblock.resp_ring_entries": sbRespRingEntries,
		"ffb_superblock.resp_ring_offset": sbRespRingOffset, "ffb_superblock.heaps": sbHeaps, "ffb_superblock.reserved2": sbReserved2,
		"ffb_ring_ctl.p_tail": ringPTail, "ffb_ring_ctl.c_head": ringCHead, "ffb_ring_ctl.c_needs_wakeup": ringCNeedsWakeup,
		"ffb_ring_entry.call_id": entCallID, "ffb_ring_entry.handle": entHandle, "ffb_ring_entry.len": entLen,
		"ffb_ring_entry.kind": entKind, "ffb_ring_entry.fn_or_status": entFnOrStatus, "ffb_ring_entry.seq": entSeq,
		"ffb_client_hello.magic": chMagic, "ffb_client_hello.layout_version": chLayoutVersion, "ffb_client_hello.flags": chFlags,
		"ffb_server_hello.magic": shMagic, "ffb_server_hello.layout_version": shLayoutVersion, "ffb_server_hello.status": shStatus,
		"ffb_server_hello.arena_size": shArenaSize, "ffb_server_hello.flags": shFlags, "ffb_server_hello.nfds": shNFDs,
		"ffb_server_hello.session_id": shSessionID, "ffb_server_hello.max_inflight": shMaxInflight,
		"ffb_goodbye.magic": gbMagic, "ffb_goodbye.status": gbStatus,
		"ffb_vec_call.handle": 0, "ffb_vec_call.len": vecRecLen, "ffb_vec_call.fn_or_status": vecRecFn,
	}
	if len(pins) != len(wantPins) {
		t.Errorf("pinned fields: C header pins %d, Go checks %d", len(pins), len(wantPins))
	}
	for k, goVal := range wantPins {
		cVal, ok := pins[k]
		if !ok {
			t.Errorf("%s: not pinned in ffb_layout.h", k)
		} else if cVal != goVal {
			t.Errorf("offset of %s: got %d in Go, want %d as in C", k, goVal, cVal)
		}
	}
	wantSizes := map[string]uint64{
		"ffb_class_desc": classDescSize, "ffb_heap_desc": heapDescSize, "ffb_superblock": superblockSize,
		"ffb_ring_ctl": ringCtlSize, "ffb_ring_entry": ringEntrySize, "ffb_client_hello": clientHelloSize,
		"ffb_server_hello": serverHelloSize, "ffb_goodbye": goodbyeSize, "ffb_vec_call": vecRecSize,
	}
	for k, goVal := range wantSizes {
		if cVal, ok := sizes[k]; !ok || cVal != goVal {
			t.Errorf("sizeof %s: got %d in Go, want %d (found %v) as in C", k, goVal, cVal, ok)
		}
	}
	// The Go mirror of a ring entry has the C offsets.
	var e ringEntry
	for name, got := range map[string]uintptr{
		"call_id": unsafe.Offsetof(e.callID), "handle": unsafe.Offsetof(e.handle), "len": unsafe.Offsetof(e.len),
		"kind": unsafe.Offsetof(e.kind), "fn_or_status": unsafe.Offsetof(e.fnOrStatus), "seq": unsafe.Offsetof(e.seq),
	} {
		if uint64(got) != pins["ffb_ring_entry."+name] {
			t.Errorf("ringEntry.%s at %d, want %d", name, got, pins["ffb_ring_entry."+name])
		}
	}
	if unsafe.Sizeof(e) != ringEntrySize {
		t.Errorf("sizeof ringEntry: got %d, want %d", unsafe.Sizeof(e), ringEntrySize)
	}
}

func TestHandleRoundTrip(t *testing.T) {
	for _, h := range []handle{
		{index: 0, class: 0, heap: 1, tag: 1, gen: 1},
		{index: maxBlocks - 1, class: 15, heap: 2, tag: 255, gen: ^uint32(0)},
		{index: 12345, class: 9, heap: 2, tag: 77, gen: 0x80000000},
	} {
		raw := makeHandle(h.gen, h.tag, h.heap, h.class, h.index)
		if got := decodeHandle(raw); got != h {
			t.Errorf("decode(make(%+v)) = %+v", h, got)
		}
	}
	if id := makeCallID(7, 9); callIDSlot(id) != 7 || callIDGen(id) != 9 {
		t.Errorf("call id %#x decodes to (%d, %d), want (7, 9)", id, callIDSlot(id), callIDGen(id))
	}
}
