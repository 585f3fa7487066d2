// supervise.go launches the child of a Process and watches it: the fork
// from a locked OS thread (for Pdeathsig), readiness by handshake, the
// stop by SIGTERM then SIGKILL, and restarts with backoff.
//
// Pdeathsig (PR_SET_PDEATHSIG) fires when the *thread* that forked the
// child exits, not the process (golang/go#27505), and the Go runtime ends
// a thread when a goroutine that locked it returns without unlocking. So
// each child is forked by a goroutine that locks its thread first and
// keeps it, blocked in Wait, for the child's whole life: no other
// goroutine can run on that thread and end it. Go's fork also checks,
// after arming Pdeathsig in the child, that the parent did not die in
// between; the server checks once more (FFB_PARENT_PID) after exec.

package ffb

import (
	"context"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"syscall"
	"time"
)

// child is one run of the server process.
type child struct {
	cmd     *exec.Cmd
	logs    []*lineLogger
	started time.Time
	exited  chan struct{} // closed after Wait returned
	err     error         // Wait's result, read after exited
}

// command copies the template with the socket, the env and Pdeathsig.
func (p *Process) command() *exec.Cmd {
	t := p.tmpl
	c := &exec.Cmd{Path: t.Path, Args: t.Args, Dir: t.Dir, Err: t.Err,
		Stdin: t.Stdin, Stdout: t.Stdout, Stderr: t.Stderr, WaitDelay: t.WaitDelay}
	env := t.Env
	if env == nil {
		env = os.Environ()
	}
	c.ExtraFiles = append(slices.Clone(t.ExtraFiles), p.lnf)
	c.Env = append(slices.Clone(env),
		"FFB_LISTEN_FD="+strconv.Itoa(2+len(c.ExtraFiles)),
		"FFB_PARENT_PID="+strconv.Itoa(os.Getpid()))
	var attr syscall.SysProcAttr
	if t.SysProcAttr != nil {
		attr = *t.SysProcAttr
	}
	if attr.Pdeathsig == 0 {
		attr.Pdeathsig = syscall.SIGKILL
	}
	c.SysProcAttr = &attr
	if c.WaitDelay == 0 {
		c.WaitDelay = time.Second // a grandchild holding our pipes
	}
	return c
}

// launch starts one child and dials it until its first handshake.
func (p *Process) launch(ctx context.Context) (*child, *Client, error) {
	cmd := p.command()
	ch := &child{cmd: cmd, exited: make(chan struct{})}
	if cmd.Stdout == nil {
		ch.logs = append(ch.logs, &lineLogger{o: &p.o, stream: "stdout"})
		cmd.Stdout = ch.logs[len(ch.logs)-1]
	}
	if cmd.Stderr == nil {
		ch.logs = append(ch.logs, &lineLogger{o: &p.o, stream: "stderr"})
		cmd.Stderr = ch.logs[len(ch.logs)-1]
	}
	started := make(chan error, 1)
	go ch.run(started)
	if err := <-started; err != nil {
		return nil, nil, wrapError(CodeSystem, "ffb.Start: "+cmd.Path, err)
	}
	p.o.log().Debug("ffb: server started", "pid", cmd.Process.Pid, "addr", p.addr)

	if p.o.readyTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.o.readyTimeout)
		defer cancel()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-ch.exited:
			cancel()
		case <-ctx.Done():
		}
	}()
	// The socket listens before the fork: connect succeeds at once and
	// the handshake completes when the child accepts.
	c, err := Dial(ctx, p.addr, append([]Option{WithConnectTimeout(0)}, p.o.dial...)...)
	if err == nil {
		return ch, c, nil
	}
	select {
	case <-ch.exited:
		return nil, nil, &Error{Code: CodePeerGone, Message: "ffb.Start: the server exited before it served: " +
			exitError(cmd.Process.Pid, ch.err, false).Error(), err: ch.err}
	default:
	}
	cmd.Process.Kill()
	<-ch.exited
	return nil, nil, err
}

// run forks the child from a locked thread and keeps the thread until
// the child is waited for (see the file comment).
func (ch *child) run(started chan<- error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := ch.cmd.Start(); err != nil {
		close(ch.exited)
		started <- err
		return
	}
	ch.started = time.Now()
	for _, l := range ch.logs {
		l.pid.Store(int64(ch.cmd.Process.Pid))
	}
	started <- nil
	ch.err = ch.cmd.Wait()
	for _, l := range ch.logs {
		l.flush()
	}
	close(ch.exited)
}

// stop sends SIGTERM, then SIGKILL after grace; returns how it ended.
func (ch *child) stop(grace time.Duration) error {
	ch.cmd.Process.Signal(syscall.SIGTERM)
	killed := false
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-ch.exited:
	case <-t.C:
		killed = true
		ch.cmd.Process.Kill()
		<-ch.exited
	}
	return exitError(ch.cmd.Process.Pid, ch.err, killed)
}

// supervise waits for each child to end; by the restart policy it starts
// the next one. Returns (closing done) when Close stopped the child or
// the policy gives up.
func (p *Process) supervise(ch *child) {
	defer close(p.done)
	var backoff time.Duration
	failures := 0
	for {
		select {
		case <-ch.exited:
		case <-p.stopping:
			return
		}
		err := exitError(ch.cmd.Process.Pid, ch.err, false)
		p.mu.Lock()
		if p.closing {
			p.mu.Unlock()
			return
		}
		p.exitErr = err
		old := p.client
		p.mu.Unlock()
		if err == nil {
			err = errCleanExit
		}
		p.o.log().Warn("ffb: server exited", "pid", ch.cmd.Process.Pid, "err", err)
		r := p.o.restart
		if r == nil {
			return
		}
		// The socket's EOF ends the old session's calls with PEER_GONE.
		select {
		case <-old.done:
		case <-time.After(time.Second):
		}
		if time.Since(ch.started) > r.MaxBackoff {
			backoff, failures = 0, 0
		}
		for {
			if r.MaxRestarts > 0 && failures >= r.MaxRestarts {
				p.o.log().Error("ffb: server restarts exhausted", "restarts", failures)
				return
			}
			backoff = min(max(backoff*2, r.Backoff), r.MaxBackoff)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-p.stopping:
				t.Stop()
				return
			}
			failures++
			nch, nc, lerr := p.launch(p.ctx)
			if lerr != nil {
				p.o.log().Warn("ffb: server restart failed", "err", lerr, "backoff", backoff)
				continue
			}
			p.mu.Lock()
			if p.closing {
				p.mu.Unlock()
				nc.Close()
				nch.stop(p.o.grace)
				return
			}
			p.cur, p.client, p.exitErr = nch, nc, nil
			p.mu.Unlock()
			old.Close()
			p.o.log().Info("ffb: server restarted", "pid", nch.cmd.Process.Pid)
			ch = nch
			break
		}
	}
}
