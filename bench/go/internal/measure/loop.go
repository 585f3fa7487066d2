package measure

import (
	"fmt"
	"time"
)

// Echo is one round trip of a transport: send req, return the reply (valid
// until the next call).
type Echo func(req []byte) ([]byte, error)

// Budget bounds one measurement: at most MaxIters timed iterations and,
// once MinIters are done, no more than Time of wall clock.
type Budget struct {
	Time     time.Duration
	MinIters int
	MaxIters int
}

// RunEcho times echo round trips of size-byte payloads. Every iteration
// stamps the payload with its sequence number; the timed region is the
// round trip alone; every reply is verified in full afterwards (untimed).
// The first error or wrong answer stops the run and is returned.
func RunEcho(r *Result, echo Echo, size int, b Budget) error {
	req := NewPayload(size)
	warm := b.MinIters/10 + 10
	for i := 0; i < warm; i++ {
		Stamp(req, uint64(i)+1)
		got, err := echo(req)
		if err != nil {
			return err
		}
		if err := Verify(got, req); err != nil {
			return err
		}
	}
	lat := make([]float64, 0, min(b.MaxIters, 1<<20))
	var busy time.Duration
	begin := time.Now()
	for i := 0; i < b.MaxIters; i++ {
		if i >= b.MinIters && time.Since(begin) > b.Time {
			break
		}
		Stamp(req, uint64(warm+i)+1)
		t0 := time.Now()
		got, err := echo(req)
		d := time.Since(t0)
		if err != nil {
			return err
		}
		if err := Verify(got, req); err != nil {
			return fmt.Errorf("iteration %d: %w", i, err)
		}
		busy += d
		lat = append(lat, float64(d.Nanoseconds()))
	}
	r.PayloadBytes = size
	r.Checked = true
	r.Timing = "per call; ops_per_s = calls / time inside calls (verification excluded)"
	Summarize(r, lat, busy)
	return nil
}
