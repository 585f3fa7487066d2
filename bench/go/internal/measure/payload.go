package measure

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// NewPayload returns size bytes of a fixed non-zero pattern.
func NewPayload(size int) []byte {
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(i*131 + 7)
	}
	return b
}

// Stamp writes seq into the first, middle and last 8 bytes of b (b is at
// least 8 bytes; shorter payloads get a 1-byte stamp), so a stale or
// replayed answer cannot pass Verify.
func Stamp(b []byte, seq uint64) {
	if len(b) < 8 {
		if len(b) > 0 {
			b[0] = byte(seq)
		}
		return
	}
	binary.LittleEndian.PutUint64(b, seq)
	binary.LittleEndian.PutUint64(b[(len(b)/2)&^7:], seq)
	binary.LittleEndian.PutUint64(b[len(b)-8:], seq)
}

// Verify reports whether got is byte-for-byte want.
func Verify(got, want []byte) error {
	if len(got) != len(want) {
		return fmt.Errorf("echo returned %d bytes, want %d", len(got), len(want))
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("echo returned different bytes (%d-byte payload)", len(want))
	}
	return nil
}

// VerifyStamps reports whether got has want's length and want's stamps
// (first, middle and last 8 bytes, see Stamp): the cheap per-call check
// for a transport that does not copy the payload.
func VerifyStamps(got, want []byte) error {
	if len(got) != len(want) {
		return fmt.Errorf("echo returned %d bytes, want %d", len(got), len(want))
	}
	n := len(want)
	if n < 8 {
		return Verify(got, want)
	}
	for _, off := range []int{0, (n / 2) &^ 7, n - 8} {
		if !bytes.Equal(got[off:off+8], want[off:off+8]) {
			return fmt.Errorf("echo stamp at byte %d differs (%d-byte payload)", off, n)
		}
	}
	return nil
}
