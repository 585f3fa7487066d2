// layout.go owns the byte layout shared with C and Rust (PROTOCOL.md,
// include/ffb_layout.h): magics, sizes, field offsets, handle and id bit
// fields. layout_test.go checks every number here against the C header.

package ffb

// LayoutVersion is the protocol layout version this package speaks.
const LayoutVersion = 3

// Magic numbers: ASCII tags read as little-endian u64.
const (
	arenaMagic       uint64 = 0x414E455241424646 // "FFBARENA"
	serverHelloMagic uint64 = 0x4F4C4C4548424646 // "FFBHELLO"
	clientHelloMagic uint64 = 0x4E45494C43424646 // "FFBCLIEN"
	goodbyeMagic     uint64 = 0x4559424447424646 // "FFBGDBYE"
)

// Arena geometry.
const (
	superblockSize         = 1024
	regionAlign            = 4096
	maxClasses             = 16
	numClasses             = 10
	minBlockShift          = 6
	classShiftStep         = 2
	maxBlockSize           = 1 << 24
	maxBlocks              = 1 << 18
	maxArenaSize           = 1 << 36
	minRingEntries         = 2
	maxRingEntries         = 65536
	heapClient             = 1
	heapServer             = 2
	flagFutexBell          = 0x1
	flagVectorCalls        = 0x2
	arenaSeals             = 0x7 // F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW
	maxHelloFDs            = 3
	maxFunctions           = 4096
	maxNameLen             = 255
	fnEcho          uint32 = 0x00010000
	fnVersion       uint32 = 0x00010001
)

// classBlockSize is the block size of class k.
func classBlockSize(k uint32) uint32 { return 1 << (minBlockShift + classShiftStep*k) }

// Superblock field offsets.
const (
	sbMagic           = 0
	sbLayoutVersion   = 8
	sbSuperblockSize  = 12
	sbArenaSize       = 16
	sbFlags           = 24
	sbMaxInflight     = 28
	sbSessionID       = 32
	sbArenaTag        = 40
	sbReqRingOffset   = 48
	sbReqRingEntries  = 56
	sbRespRingEntries = 60
	sbRespRingOffset  = 64
	sbHeaps           = 128
	sbReserved2       = 704

	heapDescSize     = 288
	heapNClasses     = 0
	heapOffset       = 8
	heapSize         = 16
	heapClasses      = 32
	classDescSize    = 16
	classOffset      = 0
	classBlockSizeAt = 8
	classCount       = 12
)

// Ring control block and entry layout.
const (
	ringCtlSize      = 384
	ringEntrySize    = 32
	ringPTail        = 0
	ringCHead        = 128
	ringCNeedsWakeup = 256

	entCallID     = 0
	entHandle     = 8
	entLen        = 16
	entKind       = 20
	entFnOrStatus = 24
	entSeq        = 28

	kindCall    = 1
	kindLookup  = 2
	kindRelease = 3
	kindResult  = 4
	kindCallV   = 5
	kindCancel  = 6
)

// Handshake messages.
const (
	clientHelloSize = 32
	chMagic         = 0
	chLayoutVersion = 8
	chFlags         = 12

	serverHelloSize = 64
	shMagic         = 0
	shLayoutVersion = 8
	shStatus        = 12
	shArenaSize     = 16
	shFlags         = 24
	shNFDs          = 28
	shSessionID     = 32
	shMaxInflight   = 40

	goodbyeSize  = 16
	gbMagic      = 0
	gbStatus     = 8
	fdArena      = 0
	fdClientBell = 1
	fdServerBell = 2
)

// Handle bit fields.
const (
	handleIndexBits  = 18
	handleClassShift = 18
	handleClassBits  = 4
	handleHeapShift  = 22
	handleHeapBits   = 2
	handleTagShift   = 24
	handleTagBits    = 8
	handleGenShift   = 32
)

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

// Call ids: low 32 bits the pending slot, high 32 bits its generation.
func makeCallID(slot, gen uint32) uint64 { return uint64(gen)<<32 | uint64(slot) }
func callIDSlot(id uint64) uint32        { return uint32(id) }
func callIDGen(id uint64) uint32         { return uint32(id >> 32) }
