// options.go holds the Dial options: how long to spin before parking,
// whether to park at all, the handshake deadline, and how long to retry a
// socket that is not there yet.

package ffb

import "time"

// DefaultSpin is how long a waiter busy-polls the response ring before it
// parks, unless WithSpin says otherwise.
const DefaultSpin = 50 * time.Microsecond

// DefaultConnectTimeout bounds the handshake when the Dial context has no
// earlier deadline.
const DefaultConnectTimeout = 5 * time.Second

type options struct {
	spin           time.Duration
	spinOnly       bool
	connectTimeout time.Duration
	retryFor       time.Duration
}

func defaultOptions() options {
	return options{spin: DefaultSpin, connectTimeout: DefaultConnectTimeout}
}

// Option configures a Client at Dial time.
type Option func(*options)

// WithSpin sets how long a waiting goroutine busy-polls for its result
// before parking through the Go netpoller (0: park at once). Negative
// values are treated as 0.
func WithSpin(d time.Duration) Option {
	return func(o *options) {
		if d < 0 {
			d = 0
		}
		o.spin, o.spinOnly = d, false
	}
}

// WithSpinOnly makes waiters never park: lowest latency, one busy core per
// waiting goroutine. Deadlines, Close and peer death still end the wait.
func WithSpinOnly() Option {
	return func(o *options) { o.spinOnly = true }
}

// WithConnectTimeout bounds the connect and handshake (0: only the Dial
// context bounds it).
func WithConnectTimeout(d time.Duration) Option {
	return func(o *options) { o.connectTimeout = d }
}

// WithDialRetry makes Dial try again while the socket does not exist yet
// (ENOENT) or nobody listens on it (ECONNREFUSED), as when the server is
// still starting: at intervals from 1 ms doubling up to 50 ms, for up to d
// (0, the default: fail at once). The connect timeout is extended by d, so
// the handshake still gets its own time after the last try. The Dial
// context bounds it all. Negative values are treated as 0.
func WithDialRetry(d time.Duration) Option {
	return func(o *options) {
		if d < 0 {
			d = 0
		}
		o.retryFor = d
	}
}
