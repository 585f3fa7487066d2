// Package workload turns the work functions into interleave subjects:
// for each peer and payload size, a Run that prepares each call's input
// (untimed), times the call, and checks the answer against the Go
// reference (untimed) — every answer, and the bytes the workload claims
// to move.
package workload

import (
	"bytes"
	"fmt"

	"github.com/ffi-bridge/ffi-bridge/bench/internal/measure"
	"github.com/ffi-bridge/ffi-bridge/bench/internal/work"
)

// MinCalls per slice, even when one call outlasts the slice.
const MinCalls = 3

// FullCheckEvery: echo replies are checked in full every this many calls
// (stamps on every call), as ffbclient does; checksum and transform
// answers are checked in full on every call.
const FullCheckEvery = 64

// text is the source payload of transform: a fixed pattern of mixed-case
// ASCII letters, digits and bytes above 0x7f, so uppercasing changes
// about a third of the bytes.
func text(n int) []byte {
	b := measure.NewPayload(n)
	for i := range b {
		switch i % 3 {
		case 0:
			b[i] = 'a' + byte(i/3%26)
		case 1:
			b[i] = 'A' + byte(i/3%26)
		}
	}
	return b
}

// stamped is a size-n reference kept equal to what the harness wrote into
// the peer's input buffer, plus (for transform) its uppercase.
type stamped struct {
	src, upper []byte
}

func newStamped(n int, withUpper bool) *stamped {
	s := &stamped{src: text(n)}
	if withUpper {
		s.upper = make([]byte, n)
		work.Upper(s.src, s.upper)
	}
	return s
}

// stamp writes seq into src (and the input, if given) and keeps upper in
// step at the stamped bytes.
func (s *stamped) stamp(in []byte, seq uint64) {
	measure.Stamp(s.src, seq)
	if in != nil {
		measure.Stamp(in, seq)
	}
	if s.upper != nil {
		n := len(s.src)
		if n < 8 {
			work.Upper(s.src, s.upper)
			return
		}
		for _, off := range []int{0, (n / 2) &^ 7, n - 8} {
			work.Upper(s.src[off:off+8], s.upper[off:off+8])
		}
	}
}

func checkBytes(what string, got, want []byte) error {
	if len(got) != len(want) {
		return fmt.Errorf("%s: %d bytes back, want %d", what, len(got), len(want))
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("%s: wrong bytes (%d-byte payload)", what, len(want))
	}
	return nil
}
