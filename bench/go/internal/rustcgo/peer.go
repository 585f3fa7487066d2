package rustcgo

import (
	"encoding/json"

	"github.com/ffi-bridge/ffi-bridge/bench/internal/work"
)

// Placement of the in-process peers.
const Placement = "one process CPU1 (in-process: caller and callee on the same thread)"

// Peer implements work.Peer over cgo.
type Peer struct {
	in, out []byte
	qbuf    []byte
}

// NewPeer returns the cgo peer.
func NewPeer() *Peer { return &Peer{qbuf: make([]byte, 0, 4096)} }

func (p *Peer) Name() string                     { return "cgo-rust" }
func (p *Peer) Placement() string                { return Placement }
func (p *Peer) Concurrent() bool                 { return true }
func (p *Peer) Close() error                     { return nil }
func (p *Peer) Empty() error                     { Empty(); return nil }
func (p *Peer) Spin(i, s uint64) (uint64, error) { return Spin(i, s), nil }

func (p *Peer) Input(n int) ([]byte, error) {
	if len(p.in) != n {
		p.in, p.out = make([]byte, n), make([]byte, n)
	}
	return p.in, nil
}

func (p *Peer) Echo(n int) ([]byte, error) { Echo(p.in[:n], p.out); return p.out[:n], nil }

func (p *Peer) Checksum(n int) (uint64, error) { return Checksum(p.in[:n]), nil }

func (p *Peer) Transform(n int) ([]byte, error) { Transform(p.in[:n], p.out); return p.out[:n], nil }

// Quote is the natural JSON path of a cgo caller: encoding/json in Go,
// the bytes across, serde_json in Rust, the bytes back, encoding/json.
func (p *Peer) Quote(o *work.Order, q *work.Quote) error {
	in, err := json.Marshal(o)
	if err != nil {
		return err
	}
	out, err := QuoteJSON(in, p.qbuf)
	if err != nil {
		return err
	}
	return json.Unmarshal(out, q)
}
