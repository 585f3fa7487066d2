// stats.go asks a running server for its figures with a stats request
// (PROTOCOL.md §2.5): a connection that sends the stats hello, reads one
// reply and closes, never a session. Pure Go, like the rest of the
// package.

package ffb

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// ServerStats is a server's figures at one moment (struct ffb_server_stats
// of include/ffb.h, and its registered functions). Gauges say "now"; the
// others are totals since the server started.
type ServerStats struct {
	SessionsActive      uint64 // sessions open now
	SessionsTotal       uint64 // handshakes completed
	SessionsRefused     uint64 // credentials, version, caps
	SessionsCut         uint64 // closed for a protocol violation
	Calls               uint64 // CALL entries dispatched (a CALLV counts its calls)
	ProtocolErrors      uint64
	WakeupsSent         uint64 // doorbells rung toward clients
	Parks               uint64 // times a dispatcher went to sleep
	PooledCalls         uint64 // calls handed to the worker pool
	DeferredCalls       uint64 // calls kept past their callback
	CallsInFlight       uint64 // kept calls not answered yet (now)
	Cancels             uint64 // CANCEL entries received
	SlowInlineCalls     uint64 // inline calls over the inline budget
	ServerCalls         uint64 // calls the server made to client handlers
	StreamItems         uint64 // stream items sent to clients
	AnswersDropped      uint64 // client answers naming no pending call
	HandshakesDropped   uint64 // connections closed with no hello read
	SessionsHandshaking uint64 // connections whose hello is not read yet (now)
	StatsRequests       uint64 // stats requests answered
	StatsRefused        uint64 // stats requests refused
	PoolWaiting         uint64 // pooled calls waiting for a free worker (now)
	PoolBusy            uint64 // workers running a pooled call (now)
	Uptime              time.Duration
	// Results counts answered calls by status: Results[CodeOK] are the
	// successful ones; codes from 31 up (CodeUnknown) count in Results[31].
	Results [statsStatusSlots]uint64
	// Functions are the registered functions, lowest slot first (at most
	// 64; FunctionsTotal says how many there are).
	Functions      []FunctionStats
	FunctionsTotal int
}

// FunctionStats is one function's answered calls and their latency, from
// the dispatcher taking the request to its answer being pushed.
type FunctionStats struct {
	ID     uint32
	Name   string // cut to 48 bytes by the server
	Calls  uint64 // answered, a cancelled call too
	Errors uint64 // answered with a status other than OK
	// Latency[b] counts calls of [2^(b-1), 2^b) ns (b = 31: 2^30 ns or more).
	Latency [statsLatBuckets]uint64
}

// Quantile is the q-quantile (0 < q <= 1) of the latency histogram: the
// upper bound of the bucket it falls in, 0 with no calls.
func (f *FunctionStats) Quantile(q float64) time.Duration {
	var total uint64
	for _, n := range f.Latency {
		total += n
	}
	if total == 0 {
		return 0
	}
	want := q * float64(total)
	rank := uint64(want)
	if float64(rank) < want {
		rank++
	}
	rank = max(rank, 1)
	var seen uint64
	for b, n := range f.Latency {
		seen += n
		if seen >= rank {
			return time.Duration(uint64(1) << b) // b = 0: 1 ns, like the C quantile
		}
	}
	return time.Duration(uint64(1) << (statsLatBuckets - 1))
}

// counters in the order of struct ffb_server_stats, before Results.
func (s *ServerStats) counters() []*uint64 {
	return []*uint64{&s.SessionsActive, &s.SessionsTotal, &s.SessionsRefused, &s.SessionsCut, &s.Calls,
		&s.ProtocolErrors, &s.WakeupsSent, &s.Parks, &s.PooledCalls, &s.DeferredCalls, &s.CallsInFlight,
		&s.Cancels, &s.SlowInlineCalls, &s.ServerCalls, &s.StreamItems, &s.AnswersDropped,
		&s.HandshakesDropped, &s.SessionsHandshaking, &s.StatsRequests, &s.StatsRefused, &s.PoolWaiting,
		&s.PoolBusy, nil /* uptime_ns */}
}

// QueryStats asks the server at socketPath for its figures without
// becoming a session (the same credential rule as a Dial). It blocks until
// the answer, ctx is done (TIMEOUT), or 5 s pass. Errors: a *Error with
// CodePeerGone (no server listening, or it closed without an answer),
// CodePermissionDenied, CodeVersionMismatch (a server that does not know
// stats requests), CodeProtocol (a malformed reply), CodeTimeout,
// CodeSystem. Any goroutine.
func QueryStats(ctx context.Context, socketPath string) (*ServerStats, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := dialUnix(ctx, socketPath, 0)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || isConnRefused(err) {
			return nil, wrapError(CodePeerGone, "stats "+socketPath+": no server", err)
		}
		return nil, err
	}
	defer conn.Close()
	if d, ok := ctx.Deadline(); ok {
		conn.SetDeadline(d)
	}
	stopWatch := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stopWatch()

	req := make([]byte, sizeofClientHello)
	binary.LittleEndian.PutUint64(req[offClientHelloMagic:], statsHelloMagic)
	binary.LittleEndian.PutUint32(req[offClientHelloLayoutVersion:], layoutVersion)
	if _, err := conn.Write(req); err != nil {
		return nil, wrapError(CodePeerGone, "stats: send request", err)
	}
	buf := make([]byte, statsMaxReply+1)
	n, err := conn.Read(buf)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil, &Error{Code: CodeTimeout, Message: "stats: no reply in time", err: err}
		}
		return nil, wrapError(CodePeerGone, "stats: closed without a reply", err)
	}
	return parseStatsReply(buf[:n])
}

func isConnRefused(err error) bool { return errors.Is(err, unix.ECONNREFUSED) }

// parseStatsReply checks and decodes one reply (PROTOCOL.md §2.5).
func parseStatsReply(b []byte) (*ServerStats, error) {
	le := binary.LittleEndian
	if len(b) < 16 {
		return nil, newError(CodeProtocol, "stats: reply of "+strconv.Itoa(len(b))+" bytes")
	}
	magic, version, status := le.Uint64(b[0:]), le.Uint32(b[8:]), int32(le.Uint32(b[12:]))
	refusal := func(st int32) error {
		c := Code(st)
		if st <= 0 || st >= 100 {
			c = CodeUnknown
		}
		return newError(c, "stats request refused")
	}
	if magic == serverHelloMagic { // a server that knows no stats request
		if status == 0 {
			return nil, newError(CodeVersionMismatch, "stats: the server does not answer stats requests")
		}
		return nil, refusal(status)
	}
	if magic != statsReplyMagic || version != layoutVersion {
		return nil, newError(CodeVersionMismatch, "stats: reply magic or layout version")
	}
	if status != 0 {
		return nil, refusal(status)
	}
	if len(b) < sizeofStatsReply {
		return nil, newError(CodeProtocol, "stats: short reply header")
	}
	ncounters := int(le.Uint32(b[offStatsReplyNcounters:]))
	nfuncs := int(le.Uint32(b[offStatsReplyNfuncs:]))
	if nfuncs > statsMaxFunctions || ncounters > statsMaxReply/8 ||
		len(b) != sizeofStatsReply+8*ncounters+sizeofStatsFn*nfuncs {
		return nil, newError(CodeProtocol, "stats: reply length does not match its counts")
	}
	s := &ServerStats{FunctionsTotal: int(le.Uint32(b[offStatsReplyFuncsTotal:]))}
	vals := make([]uint64, ncounters)
	for i := range vals {
		vals[i] = le.Uint64(b[sizeofStatsReply+8*i:])
	}
	// Missing counters stay 0, unknown ones (a newer server's) are ignored.
	at := func(i int) uint64 {
		if i < len(vals) {
			return vals[i]
		}
		return 0
	}
	fields := s.counters()
	for i, p := range fields {
		if p != nil {
			*p = at(i)
		}
	}
	s.Uptime = time.Duration(at(len(fields) - 1))
	for i := range s.Results {
		s.Results[i] = at(len(fields) + i)
	}
	fb := b[sizeofStatsReply+8*ncounters:]
	for k := 0; k < nfuncs; k++ {
		e := fb[k*sizeofStatsFn : (k+1)*sizeofStatsFn]
		nl := int(le.Uint32(e[offStatsFnNameLen:]))
		if nl > statsNameLen {
			return nil, newError(CodeProtocol, "stats: function name length")
		}
		f := FunctionStats{
			ID:     le.Uint32(e[offStatsFnFnID:]),
			Name:   string(e[offStatsFnName : offStatsFnName+nl]),
			Calls:  le.Uint64(e[offStatsFnCalls:]),
			Errors: le.Uint64(e[offStatsFnErrors:]),
		}
		for j := range f.Latency {
			f.Latency[j] = le.Uint64(e[offStatsFnLatency+8*j:])
		}
		s.Functions = append(s.Functions, f)
	}
	return s, nil
}
