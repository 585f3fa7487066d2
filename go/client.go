// client.go owns the Client: Dial, Close, the session's failure state and
// the background goroutine that watches the socket for a goodbye or the
// server's death.

package ffb

import (
	"context"
	"encoding/binary"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Client is one session with an ffi-bridge server. All methods are safe
// for concurrent use by many goroutines. Make it with Dial; end it with
// Close.
type Client struct {
	opts   options
	s      *session
	layout *arenaLayout
	heaps  *heaps
	reg    *registry

	closed atomic.Bool
	dead   atomic.Pointer[Error] // first fatal condition: peer gone, protocol, closed
	done   chan struct{}         // closed when dead is set
	ctx    context.Context       // ends with the session: the handlers' contexts derive from it
	cancel context.CancelFunc
	mapMu  sync.RWMutex   // held exclusively by Close while it unmaps
	wg     sync.WaitGroup // background goroutines

	prodMu      sync.Mutex // the request ring's single producer
	prod        ringProd
	relMu       sync.Mutex
	releases    []uint64     // server blocks to RELEASE with the next publish
	ctl         []ringEntry  // CANCEL, CREDIT and answers to push with the next publish
	nReleases   atomic.Int32 // len(releases) + len(ctl), read without relMu
	unpublished atomic.Bool  // deferred submits wait for a publish

	drainMu         sync.Mutex   // the response ring's single consumer
	handlersStarted bool         // the drain started handlers (drainMu)
	spinners        atomic.Int32 // waiters spinning past their first 64 polls
	cons            ringCons
	drainHead       atomic.Uint32 // cons.head as of the last drain, for lock-free peeks

	namesMu sync.RWMutex
	names   map[string]uint32

	parkers  atomic.Int32  // waiters asleep on their slot
	batchers atomic.Int32  // CallBatch runs that may write vector blocks
	kick     chan struct{} // buffered(1): wakes the bell goroutine

	vecMu   sync.Mutex
	vecFree []*vecBlock // vector blocks of finished CALLVs, for CallBatch

	streams     *streamTable // stream calls (stream.go)
	openStreams atomic.Int32
	handlers    *handlerTable // the server's calls to us (handle.go)

	ringServer chan struct{} // buffered(1): asks serverBellLoop to ring the server

	nCalls                      uint64 // guarded by prodMu
	nDropped, nProtocol, nParks atomic.Uint64
	nMissedWakeups              atomic.Uint64
}

// Dial connects to the server listening on socketPath, performs the
// handshake, verifies the arena fd (seals, size) before mapping it and the
// layout after, and returns a ready Client. It blocks until the session is
// up, ctx is done, or the connect timeout passes; while the server's listen
// backlog is full it keeps trying to connect until then (and while the
// socket is not there yet, with WithDialRetry). Errors: SYSTEM
// (connect), PEER_GONE, TIMEOUT (also a backlog that stayed full),
// VERSION_MISMATCH, PERMISSION_DENIED, TOO_MANY_SESSIONS, BAD_FD, PROTOCOL.
func Dial(ctx context.Context, socketPath string, opts ...Option) (*Client, error) {
	o := defaultOptions()
	for _, f := range opts {
		f(&o)
	}
	s, err := handshake(ctx, socketPath, o.connectTimeout, o.retryFor)
	if err != nil {
		return nil, err
	}
	c, err := newClient(s, o)
	if err != nil {
		s.conn.Close()
		s.clientBell.Close()
		if s.serverBell >= 0 {
			unix.Close(s.serverBell)
		}
		unix.Munmap(s.arena)
		return nil, err
	}
	c.wg.Add(2)
	go c.monitor()
	go c.bellLoop()
	if s.serverBell >= 0 {
		go c.serverBellLoop(s.serverBell) // owns and closes the fd; not waited for by Close
	}
	return c, nil
}

// newClient builds the client state over a mapped, validated session.
// It starts no goroutines (tests drive a Client built this way directly).
func newClient(s *session, o options) (*Client, error) {
	l := s.layout
	c := &Client{
		opts:   o,
		s:      s,
		layout: l,
		heaps:  newHeaps(l),
		reg:    newRegistry(l.maxInflight),

		streams:  newStreamTable(),
		handlers: newHandlerTable(),
		done:     make(chan struct{}),
		names:    make(map[string]uint32),
		kick:     make(chan struct{}, 1),

		ringServer: make(chan struct{}, 1),
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	base := unsafe.Pointer(unsafe.SliceData(s.arena))
	if !c.prod.attach(unsafe.Add(base, l.reqOff), l.reqEntries) ||
		!c.cons.attach(unsafe.Add(base, l.respOff), l.respEntries) {
		return nil, newError(CodeProtocol, "ring indices out of bounds at attach")
	}
	c.drainHead.Store(c.cons.head)
	return c, nil
}

// Close ends the session: every pending call fails with CLOSED, the
// background goroutines stop, the arena is unmapped and the fds closed.
// Slices from Buffer.Bytes must not be used after Close. Safe to call more
// than once and from any goroutine; returns nil, or ErrClosed if the
// Client was already closed. Blocks until the goroutines have stopped.
func (c *Client) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return ErrClosed
	}
	c.fail(newError(CodeClosed, "client closed"))
	if c.s.conn != nil {
		c.s.conn.Close()
	}
	if c.s.clientBell != nil {
		c.s.clientBell.Close()
	}
	c.wg.Wait()
	for i := range c.reg.slots { // waiters still peeking at the rings finish first
		for c.reg.slots[i].active.Load() != 0 {
			runtime.Gosched()
		}
	}
	for c.batchers.Load() != 0 {
		runtime.Gosched()
	}
	for c.handlers.running.Load() != 0 { // their contexts ended: they return soon
		runtime.Gosched()
	}
	c.drainMu.Lock()
	c.prodMu.Lock()
	c.mapMu.Lock()
	if c.s.arena != nil {
		unix.Munmap(c.s.arena)
		c.s.arena = nil
	}
	c.mapMu.Unlock()
	c.prodMu.Unlock()
	c.drainMu.Unlock()
	return nil
}

// Err returns the condition that ended the session (PEER_GONE, PROTOCOL,
// CLOSED or the server's goodbye status), or nil while it is healthy.
func (c *Client) Err() error {
	if e := c.dead.Load(); e != nil {
		return e
	}
	return nil
}

// fail ends the session with err (first caller wins): later calls fail at
// once and every pending call completes with err.
func (c *Client) fail(err *Error) {
	if !c.dead.CompareAndSwap(nil, err) {
		return
	}
	close(c.done)
	c.cancel()
	for i := range c.reg.slots {
		s := &c.reg.slots[i]
		w := s.word.Load()
		if uint32(w) == slotPending && s.word.CompareAndSwap(w, w+slotClaimed-slotPending) {
			s.complete(uint32(w>>32), callResult{err: err})
		}
	}
	c.failStreams(err)
	c.handlers.cancelAll()
}

// protocolViolation counts a broken rule and fails the session closed.
func (c *Client) protocolViolation(what string) {
	c.nProtocol.Add(1)
	c.fail(newError(CodeProtocol, what))
}

// monitor reads the socket through the netpoller: a goodbye carries the
// server's reason, EOF or an error means the server is gone. Either way
// every pending call ends within the scheduler's netpoll latency, even
// while other goroutines spin.
func (c *Client) monitor() {
	defer c.wg.Done()
	var buf [64]byte
	for {
		n, err := c.s.conn.Read(buf[:])
		if err != nil || n == 0 {
			c.fail(newError(CodePeerGone, "server closed the session"))
			return
		}
		if n == sizeofGoodbye && binary.LittleEndian.Uint64(buf[offGoodbyeMagic:]) == goodbyeMagic {
			// PROTOCOL.md §9: a status of the table, 1..99; anything
			// else is itself a violation (as in the C client).
			if st := Code(int32(binary.LittleEndian.Uint32(buf[offGoodbyeStatus:]))); st > CodeOK && st <= CodeUnknown {
				c.fail(newError(st, "server said goodbye"))
				return
			}
		}
		// Anything else on the socket after the handshake is a violation.
		c.protocolViolation(fmt.Sprintf("unexpected %d-byte message on the socket", n))
		return
	}
}

// Stats is a snapshot of a Client's counters.
type Stats struct {
	Calls            uint64 // CALL and LOOKUP entries submitted
	Pending          int    // call slots in use (including abandoned ones)
	Dropped          uint64 // results for calls not pending (late, duplicate, forged)
	ProtocolErrors   uint64 // broken rules seen in server-written data
	Parks            uint64 // times the client slept on its bell
	MissedWakeups    uint64 // sleeps that ended by timeout with results waiting (the server did not ring)
	BlocksInUse      int    // client-heap blocks held by Buffers (allocated or lent)
	ServerBlocksHeld int    // server-heap blocks held and not yet released
}

// Stats returns a snapshot of the counters. Any goroutine; does not block
// on calls in flight.
func (c *Client) Stats() Stats {
	inUse, held := c.heaps.counts()
	c.vecMu.Lock()
	inUse -= len(c.vecFree) // CallBatch's vector blocks, kept for the next batch
	c.vecMu.Unlock()
	c.prodMu.Lock()
	calls := c.nCalls
	c.prodMu.Unlock()
	return Stats{
		Calls:            calls,
		Pending:          c.reg.pending(),
		Dropped:          c.nDropped.Load(),
		ProtocolErrors:   c.nProtocol.Load(),
		Parks:            c.nParks.Load(),
		MissedWakeups:    c.nMissedWakeups.Load(),
		BlocksInUse:      inUse,
		ServerBlocksHeld: held,
	}
}

// MaxInflight returns how many calls the server lets this session have
// outstanding; further submits wait for a free slot.
func (c *Client) MaxInflight() int { return int(c.layout.maxInflight) }

// SessionID returns the server-assigned session id (non-zero).
func (c *Client) SessionID() uint64 { return c.layout.sessionID }
