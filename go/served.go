// served.go: a call of the server's being handled, and the handler's
// context. The context is the call itself rather than a
// context.WithCancel of the session's: no allocation of its own, nothing
// registered with the session's context (the session's end cancels every
// served call through the table), and contexts derived from it (a
// handler's WithTimeout) hook onto it with AfterFunc instead of a
// goroutine each.

package ffb

import (
	"context"
	"sync"
	"time"
)

type served struct {
	session context.Context // the session's: values only

	mu     sync.Mutex
	done   chan struct{}   // made on first Done, closed at cancel
	err    error           // context.Canceled once cancelled
	after  map[*int]func() // AfterFunc callbacks, run at cancel
	credit uint32          // stream items the server still takes
	more   chan struct{}   // streams only: credit came, or the call was cancelled
}

func newServed(session context.Context, stream bool) *served {
	sv := &served{session: session}
	if stream {
		sv.credit, sv.more = streamInitialCredit, make(chan struct{}, 1)
	}
	return sv
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (sv *served) Deadline() (time.Time, bool) { return time.Time{}, false }
func (sv *served) Value(key any) any           { return sv.session.Value(key) }

func (sv *served) Done() <-chan struct{} {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	if sv.done == nil {
		if sv.err != nil {
			return closedChan
		}
		sv.done = make(chan struct{})
	}
	return sv.done
}

func (sv *served) Err() error {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	return sv.err
}

// AfterFunc is what context.WithCancel and friends look for on a parent
// that is not one of theirs: f runs (on a goroutine of its own) once the
// call is cancelled; stop unregisters it.
func (sv *served) AfterFunc(f func()) (stop func() bool) {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	if sv.err != nil {
		go f()
		return func() bool { return false }
	}
	if sv.after == nil {
		sv.after = make(map[*int]func())
	}
	key := new(int)
	sv.after[key] = f
	return func() bool {
		sv.mu.Lock()
		defer sv.mu.Unlock()
		_, ok := sv.after[key]
		delete(sv.after, key)
		return ok
	}
}

// cancel ends the handler's context (the server cancelled the call, or
// the session is over, or the handler returned); then nudges a send that
// waits for credit.
func (sv *served) cancel() {
	sv.mu.Lock()
	if sv.err != nil {
		sv.mu.Unlock()
		return
	}
	sv.err = context.Canceled
	if sv.done != nil {
		close(sv.done)
	}
	after := sv.after
	sv.after = nil
	sv.mu.Unlock()
	for _, f := range after {
		go f()
	}
	sv.nudge()
}

func (sv *served) nudge() {
	if sv.more == nil {
		return
	}
	select {
	case sv.more <- struct{}{}:
	default:
	}
}
