package main

import (
	"fmt"
	"time"

	"github.com/ffi-bridge/ffi-bridge/bench/internal/interleave"
	"github.com/ffi-bridge/ffi-bridge/bench/internal/pin"
	"github.com/ffi-bridge/ffi-bridge/bench/internal/workload"
)

// cmdLoop is one whole process for hyperfine: open the peer (start its
// server or plugin, dial, or compile the module), make count checked
// calls, close. Exit status 0 only if every answer was right.
func cmdLoop(o opts) error {
	if err := pin.PinProcess(pin.Client); err != nil {
		return err
	}
	p, err := workload.Open(*o.peer, *o.build, true)
	if err != nil {
		return err
	}
	defer p.Close()
	var seq uint64
	var s interleave.Subject
	switch *o.work {
	case "empty":
		s = workload.Empty(p)
	case "echo":
		s = workload.Echo(p, *o.size, &seq)
	case "checksum":
		s = workload.Checksum(p, *o.size, &seq)
	case "transform":
		s = workload.Transform(p, *o.size, &seq)
	case "json":
		s = workload.Quote(p, &seq)
	default:
		return fmt.Errorf("unknown workload %q", *o.work)
	}
	// Loop makes at least MinCalls; run in batches until count is reached.
	done := 0
	for done < *o.count {
		sm, err := s.Run(time.Time{})
		if err != nil {
			return err
		}
		done += sm.Ops
	}
	return nil
}
