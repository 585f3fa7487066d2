package work_test

import (
	"testing"

	"github.com/ffi-bridge/ffi-bridge/bench/internal/work"
)

func TestChecksumSeesEveryByteAndTheLength(t *testing.T) {
	p := make([]byte, 4099)
	for i := range p {
		p[i] = byte(i*131 + 7)
	}
	base := work.Checksum(p)
	for _, i := range []int{0, 1, 8, 2048, 4095, 4098} {
		q := append([]byte(nil), p...)
		q[i] ^= 1
		if work.Checksum(q) == base {
			t.Errorf("flip at byte %d not seen", i)
		}
	}
	if work.Checksum(p[:4098]) == base {
		t.Error("length not seen")
	}
}

func TestQuoteOfAppliesTheCoupon(t *testing.T) {
	c := "TENOFF"
	o := &work.Order{ID: 7, Customer: "ada", Coupon: &c, Items: []work.Item{{"a", 2, 150}, {"b", 1, 700}}}
	got := work.QuoteOf(o)
	want := work.Quote{ID: 7, Customer: "ADA", Lines: 2, Units: 3, TotalCents: 900}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}
