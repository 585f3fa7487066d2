// What the ring needs from the CPU that sync/atomic does not offer (see
// cpu_amd64.go). PREFETCHW (0F 0D /1) has no mnemonic in the Go
// assembler; cores without it run it as a NOP.

#include "textflag.h"

// func prefetchRead(p unsafe.Pointer)
TEXT ·prefetchRead(SB), NOSPLIT|NOFRAME, $0-8
	MOVQ p+0(FP), AX
	PREFETCHT0 (AX)
	RET

// func prefetchWrite(p unsafe.Pointer)
TEXT ·prefetchWrite(SB), NOSPLIT|NOFRAME, $0-8
	MOVQ p+0(FP), AX
	BYTE $0x0F; BYTE $0x0D; BYTE $0x08 // PREFETCHW (AX)
	RET

// x86-TSO: a plain store is ordered after every earlier store, and
// every earlier load.

// func movStore32(p *uint32, v uint32)
TEXT ·movStore32(SB), NOSPLIT|NOFRAME, $0-12
	MOVQ p+0(FP), AX
	MOVL v+8(FP), BX
	MOVL BX, (AX)
	RET

// func movStore64(p *uint64, v uint64)
TEXT ·movStore64(SB), NOSPLIT|NOFRAME, $0-16
	MOVQ p+0(FP), AX
	MOVQ v+8(FP), BX
	MOVQ BX, (AX)
	RET
