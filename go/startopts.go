// startopts.go holds the Start options: the logger for the child's
// output, the grace period of Close, the start deadline, the restart
// policy and the options of the Clients Start dials.

package ffb

import (
	"log/slog"
	"time"
)

type startOptions struct {
	logger       *slog.Logger
	grace        time.Duration
	readyTimeout time.Duration
	restart      *RestartPolicy
	dial         []Option
}

func defaultStartOptions() startOptions {
	return startOptions{grace: DefaultGracePeriod, readyTimeout: DefaultReadyTimeout}
}

func (o *startOptions) log() *slog.Logger {
	if o.logger != nil {
		return o.logger
	}
	return slog.Default()
}

// StartOption configures a Process at Start time.
type StartOption func(*startOptions)

// WithLogger sends the child's stdout and stderr lines (those cmd does
// not redirect itself) and the supervisor's own events to l, one record
// per line, with the attributes "stream" and "pid". Default: slog.Default()
// at the time of each record.
func WithLogger(l *slog.Logger) StartOption {
	return func(o *startOptions) { o.logger = l }
}

// WithGracePeriod sets how long Close waits after SIGTERM before SIGKILL
// (DefaultGracePeriod; 0 sends SIGKILL at once).
func WithGracePeriod(d time.Duration) StartOption {
	return func(o *startOptions) { o.grace = max(d, 0) }
}

// WithReadyTimeout bounds each start of the child, from the fork to its
// first handshake (DefaultReadyTimeout).
func WithReadyTimeout(d time.Duration) StartOption {
	return func(o *startOptions) { o.readyTimeout = d }
}

// WithDialOptions sets the options of every Client Start and restarts
// dial (e.g. WithSpin).
func WithDialOptions(opts ...Option) StartOption {
	return func(o *startOptions) { o.dial = append(o.dial, opts...) }
}

// RestartPolicy says what the supervisor does when the child exits other
// than through Close: start it again after a backoff that begins at
// Backoff (100 ms if 0) and doubles up to MaxBackoff (5 s if 0), back to
// Backoff after a child that served longer than MaxBackoff. MaxRestarts
// consecutive failed restarts (or crashes right after) end supervision
// (0: never give up).
type RestartPolicy struct {
	Backoff     time.Duration
	MaxBackoff  time.Duration
	MaxRestarts int
}

// WithRestart makes the supervisor restart a crashed child by policy p.
// Without it a crash ends the Process: its Client fails with PEER_GONE,
// Done is closed and Err reports the exit.
func WithRestart(p RestartPolicy) StartOption {
	if p.Backoff <= 0 {
		p.Backoff = 100 * time.Millisecond
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = 5 * time.Second
	}
	p.MaxBackoff = max(p.MaxBackoff, p.Backoff)
	return func(o *startOptions) { o.restart = &p }
}
