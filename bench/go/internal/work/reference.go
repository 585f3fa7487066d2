// Package work is the Go side of the bench's second round: the reference
// implementations of the Rust work functions (bench/rust/work), used to
// check every answer a transport gives, the JSON types, the payloads, and
// the Peer interface every transport implements.
package work

import (
	"encoding/binary"
	"math/bits"
	"strings"
)

const (
	p1 = 0x9E3779B97F4A7C15
	p2 = 0xC2B2AE3D27D4EB4F
)

var seeds = [4]uint64{0x243F6A8885A308D3, 0x13198A2E03707344, 0xA4093822299F31D0, 0x082EFA98EC4E6C89}

func step(lane, w uint64) uint64 { return bits.RotateLeft64((lane^w)*p1, 29) }

// Checksum is the Go twin of ffb_bench_work::checksum: four lanes over
// the little-endian words (word i into lane i mod 4), a zero-padded
// partial word last, then a final mix with the length.
func Checksum(b []byte) uint64 {
	lanes := seeds
	n := len(b)
	words := 0
	for ; len(b) >= 32; b = b[32:] {
		lanes[0] = step(lanes[0], binary.LittleEndian.Uint64(b))
		lanes[1] = step(lanes[1], binary.LittleEndian.Uint64(b[8:]))
		lanes[2] = step(lanes[2], binary.LittleEndian.Uint64(b[16:]))
		lanes[3] = step(lanes[3], binary.LittleEndian.Uint64(b[24:]))
	}
	for ; len(b) >= 8; b = b[8:] {
		lanes[words&3] = step(lanes[words&3], binary.LittleEndian.Uint64(b))
		words++
	}
	if len(b) > 0 {
		var t [8]byte
		copy(t[:], b)
		lanes[words&3] = step(lanes[words&3], binary.LittleEndian.Uint64(t[:]))
	}
	h := uint64(n) * p2
	for _, l := range lanes {
		h = bits.RotateLeft64((h^l)*p2, 31)
	}
	h ^= h >> 33
	h *= p1
	return h ^ (h >> 29)
}

// Upper writes the ASCII uppercase of in into out (len(out) >= len(in)).
func Upper(in, out []byte) {
	out = out[:len(in)]
	for i, c := range in {
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		out[i] = c
	}
}

// Spin is the Go twin of ffb_bench_work::spin_work.
func Spin(iters, seed uint64) uint64 {
	x := seed
	if x == 0 {
		x = 1
	}
	var acc uint64
	for i := uint64(0); i < iters; i++ {
		x ^= x >> 12
		x ^= x << 25
		x ^= x >> 27
		acc = bits.RotateLeft64(acc, 7) ^ (x * 0x2545F4914F6CDD1D)
	}
	return acc
}

// Item, Order and Quote are the JSON workload's types (bench/rust/work/src/quote.rs).
type Item struct {
	SKU       string `json:"sku"`
	Qty       uint32 `json:"qty"`
	UnitCents uint64 `json:"unit_cents"`
}

// Order is the JSON request.
type Order struct {
	ID       uint64  `json:"id"`
	Customer string  `json:"customer"`
	Items    []Item  `json:"items"`
	Coupon   *string `json:"coupon,omitempty"`
}

// Quote is the JSON answer.
type Quote struct {
	ID         uint64 `json:"id"`
	Customer   string `json:"customer"`
	Lines      uint32 `json:"lines"`
	Units      uint64 `json:"units"`
	TotalCents uint64 `json:"total_cents"`
}

// QuoteOf is the reference for work.quote.
func QuoteOf(o *Order) Quote {
	q := Quote{ID: o.ID, Lines: uint32(len(o.Items))}
	var b strings.Builder
	for _, c := range []byte(o.Customer) {
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		b.WriteByte(c)
	}
	q.Customer = b.String()
	for _, it := range o.Items {
		q.Units += uint64(it.Qty)
		q.TotalCents += uint64(it.Qty) * it.UnitCents
	}
	if o.Coupon != nil && *o.Coupon == "TENOFF" {
		q.TotalCents -= q.TotalCents / 10
	}
	return q
}

// NewOrder returns the seq-th order of the JSON workload: five lines, a
// coupon on every other order, ~300 bytes of JSON; every field depends on
// seq, so a stale answer cannot pass.
func NewOrder(seq uint64) *Order {
	o := &Order{ID: seq, Customer: "customer-" + string(rune('a'+seq%26)) + "-ada lovelace"}
	for i := uint64(0); i < 5; i++ {
		o.Items = append(o.Items, Item{SKU: "sku-" + string(rune('a'+(seq+i)%26)), Qty: uint32(1 + (seq+i)%7),
			UnitCents: 100 + (seq*31+i*17)%10000})
	}
	if seq%2 == 0 {
		c := "TENOFF"
		o.Coupon = &c
	}
	return o
}
