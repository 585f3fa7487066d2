package work

import (
	"encoding/binary"
	"errors"
)

// ErrUnsupported is returned by a peer for a workload it cannot run
// (e.g. JSON in the wasm module, which has no serde).
var ErrUnsupported = errors.New("workload not supported by this peer")

// Peer is one way for Go to call the Rust work functions. The harness
// writes each call's input into Input(n) (untimed: where the transport
// wants its input — a Go slice, an ffi-bridge arena buffer, wasm linear
// memory), then times one method call, then checks the answer (untimed).
// Returned slices are valid until the next call. Methods other than Spin
// and Empty are called from one goroutine; Spin must be safe for
// concurrent use when Concurrent reports true.
type Peer interface {
	Name() string
	// Input returns an n-byte buffer for the next call's input, the same
	// one for the same n.
	Input(n int) ([]byte, error)
	Empty() error
	Echo(n int) ([]byte, error)
	Checksum(n int) (uint64, error)
	Transform(n int) ([]byte, error)
	Quote(o *Order, q *Quote) error
	Spin(iters, seed uint64) (uint64, error)
	// Concurrent: Spin may be called from many goroutines at once.
	Concurrent() bool
	Placement() string
	Close() error
}

// SpinArgs encodes Spin's arguments as work.spin takes them (two
// little-endian u64s).
func SpinArgs(b []byte, iters, seed uint64) {
	binary.LittleEndian.PutUint64(b, iters)
	binary.LittleEndian.PutUint64(b[8:], seed)
}
