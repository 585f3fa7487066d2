// start.go owns Start and the Process it returns: a server run as a child
// of this program on a private socket, with a connected Client, stopped by
// Close. The child's supervision (launch, logs, restarts) is supervise.go.

package ffb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// DefaultGracePeriod is how long Close waits after SIGTERM before it sends
// SIGKILL, unless WithGracePeriod says otherwise.
const DefaultGracePeriod = 5 * time.Second

// DefaultReadyTimeout bounds a start (the child's first handshake) when
// the Start context has no earlier deadline.
const DefaultReadyTimeout = 10 * time.Second

// Process is a server running as a child process (Start). Its methods are
// safe for concurrent use.
type Process struct {
	o    startOptions
	addr string // "@ffb-..." in the abstract namespace
	ln   *net.UnixListener
	lnf  *os.File // the listener's fd as the child gets it
	tmpl *exec.Cmd

	mu      sync.Mutex
	client  *Client
	cur     *child
	closing bool
	exitErr error // how the last child ended (nil: clean)
	done    chan struct{}

	ctx      context.Context // ends at Close: bounds restarts
	cancel   context.CancelFunc
	stopping <-chan struct{} // ctx.Done()
}

var errCleanExit = errors.New("exit status 0")

// Start runs cmd as a server child and returns once it serves: it creates
// a listening socket in the abstract namespace under a random name (no
// file is ever created), passes it to the child as an extra fd named by
// FFB_LISTEN_FD, with FFB_PARENT_PID set to this process (ffb serve, C
// servers through ffb_server_listen_env and Rust ones through
// ffb::Server::from_env take both), and dials it until the first handshake
// succeeds. Nothing is read from the child's output to decide readiness:
// its stdout and stderr lines, unless cmd sets them, go to the logger
// (WithLogger), so stray output never matters.
//
// The child gets SIGKILL if this process dies (Pdeathsig; see
// supervise.go for why that holds in Go), and the server checks at start
// that this process still lives (FFB_PARENT_PID). A wrapper in between
// (sh -c, cargo run) works if it passes the fd and the environment on.
//
// ctx bounds the start only (with DefaultReadyTimeout, WithReadyTimeout);
// end the child with Close. cmd must not have been started; Start sets
// its ExtraFiles, Env and SysProcAttr.Pdeathsig (if unset) on copies and
// never changes cmd. Errors: the start error of cmd; TIMEOUT if the child
// did not answer a handshake in time; PEER_GONE (wrapping the exit
// status) if it exited before; those of Dial.
func Start(ctx context.Context, cmd *exec.Cmd, opts ...StartOption) (*Process, error) {
	o := defaultStartOptions()
	for _, f := range opts {
		f(&o)
	}
	if cmd.Process != nil {
		return nil, newError(CodeInvalidArgument, "ffb.Start: cmd was already started")
	}
	var name [12]byte
	if _, err := rand.Read(name[:]); err != nil {
		return nil, wrapError(CodeSystem, "ffb.Start: random socket name", err)
	}
	addr := fmt.Sprintf("@ffb-%d-%s", os.Getpid(), hex.EncodeToString(name[:]))
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: addr, Net: "unixpacket"})
	if err != nil {
		return nil, wrapError(CodeSystem, "ffb.Start: listen "+addr, err)
	}
	lnf, err := ln.File()
	if err != nil {
		ln.Close()
		return nil, wrapError(CodeSystem, "ffb.Start: listener fd", err)
	}
	p := &Process{o: o, addr: addr, ln: ln, lnf: lnf, tmpl: cmd, done: make(chan struct{})}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.stopping = p.ctx.Done()
	ch, c, err := p.launch(ctx)
	if err != nil {
		p.cancel()
		p.closeSocket()
		return nil, err
	}
	p.cur, p.client = ch, c
	go p.supervise(ch)
	return p, nil
}

// Client returns the connected Client of the current child. With a
// restart policy it is a new Client after each restart: the previous one
// then fails its calls with PEER_GONE and is closed (its Buffers must not
// be used any more, as after Client.Close); call Client again rather than
// keeping the result across a PEER_GONE. Any goroutine; does not block.
func (p *Process) Client() *Client {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.client
}

// Pid returns the process id of the current child.
func (p *Process) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cur.cmd.Process.Pid
}

// Addr returns the child's socket address ("@ffb-..." in the abstract
// namespace): more Clients may Dial it.
func (p *Process) Addr() string { return p.addr }

// Stats asks the child for its figures (QueryStats on its socket): what
// `ffb stat` shows, without a session.
func (p *Process) Stats(ctx context.Context) (*ServerStats, error) { return QueryStats(ctx, p.addr) }

// Close closes the Client, sends the child SIGTERM, waits up to the grace
// period (WithGracePeriod) for it to exit, then sends SIGKILL, and stops
// supervising. Returns nil if the child exited with status 0, else an
// error describing how it ended (an *exec.ExitError inside, for
// errors.As); ErrClosed if already closed. Blocks until the child is gone.
func (p *Process) Close() error {
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		return ErrClosed
	}
	p.closing = true
	ch, c := p.cur, p.client
	p.mu.Unlock()
	p.cancel()

	c.Close()
	err := ch.stop(p.o.grace)
	<-p.done
	p.closeSocket()
	p.mu.Lock()
	defer p.mu.Unlock()
	if err == nil {
		err = p.exitErr // a crash the policy did not restart
	}
	return err
}

// Done is closed once no child runs any more and none will be started:
// after Close, or after a crash the restart policy gives up on. Err then
// says how the last child ended.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err returns how the last child ended (nil while it runs or after a
// clean exit).
func (p *Process) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exitErr
}

func (p *Process) closeSocket() {
	p.lnf.Close()
	p.ln.Close()
}

// exitError describes a child's end; nil for exit status 0.
func exitError(pid int, err error, killed bool) error {
	if err == nil {
		return nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && killed {
			return fmt.Errorf("ffb: server pid %d killed after the grace period: %w", pid, err)
		}
	}
	return fmt.Errorf("ffb: server pid %d: %w", pid, err)
}
