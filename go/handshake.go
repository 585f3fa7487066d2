// handshake.go connects to a server and turns its answer into a mapped,
// validated session (PROTOCOL.md §2): the client hello, the server hello
// with its SCM_RIGHTS fds, the checks on the memfd before mmap, and the
// superblock checks after it. Every received fd is closed on any failure.

package ffb

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// session is the raw result of a successful handshake.
type session struct {
	conn       *net.UnixConn
	arena      []byte
	layout     *arenaLayout
	clientBell *os.File // non-blocking eventfd, read through the netpoller
	serverBell int      // eventfd, or -1 with the futex doorbell
}

func closeFDs(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// handshake dials path and returns a mapped session or a typed error.
// Blocks until ctx is done or timeout passes.
// A connect that finds no socket or no listener is tried again for
// retryFor (WithDialRetry).
func handshake(ctx context.Context, path string, timeout, retryFor time.Duration) (*session, error) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout+retryFor)
		defer cancel()
	}
	conn, err := dialUnix(ctx, path, retryFor)
	if err != nil {
		return nil, err
	}
	s, err := handshakeConn(ctx, conn)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return s, nil
}

// dialUnix connects to path. A Unix connect fails at once with EAGAIN
// while the server's listen backlog is full (a flooded or frozen server):
// it tries again, 1 ms later and then at intervals doubling up to 50 ms,
// until ctx is done (TIMEOUT), as the C client's blocking connect waits.
// ENOENT and ECONNREFUSED (a server not up yet) are tried again the same
// way until retryFor has passed.
func dialUnix(ctx context.Context, path string, retryFor time.Duration) (*net.UnixConn, error) {
	var d net.Dialer
	wait := time.Millisecond
	retryUntil := time.Now().Add(retryFor)
	for {
		c, err := d.DialContext(ctx, "unixpacket", path)
		if err == nil {
			return c.(*net.UnixConn), nil
		}
		full := errors.Is(err, unix.EAGAIN)
		early := (errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ECONNREFUSED)) && time.Now().Before(retryUntil)
		if !full && !early && ctx.Err() == nil {
			return nil, wrapError(CodeSystem, "connect "+path, err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			why := "the server's backlog full"
			if !full {
				why = "no server listening yet"
			}
			return nil, &Error{Code: CodeTimeout, Message: "connect " + path + ": deadline passed, " + why, err: err}
		case <-t.C:
		}
		if wait < 50*time.Millisecond {
			wait *= 2
		}
	}
}

func handshakeConn(ctx context.Context, conn *net.UnixConn) (*session, error) {
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	var hello [sizeofClientHello]byte
	binary.LittleEndian.PutUint64(hello[offClientHelloMagic:], clientHelloMagic)
	binary.LittleEndian.PutUint32(hello[offClientHelloLayoutVersion:], LayoutVersion)
	if _, err := conn.Write(hello[:]); err != nil {
		return nil, ioError(ctx, "send hello", err)
	}

	buf := make([]byte, 2*sizeofServerHello)
	oob := make([]byte, unix.CmsgSpace(4*maxHelloFDs))
	n, oobn, flags, err := recvMsg(conn, buf, oob)
	if err != nil {
		return nil, ioError(ctx, "receive hello", err)
	}
	fds, perr := parseRights(oob[:oobn])
	conn.SetDeadline(time.Time{})
	s, err := checkHello(buf[:n], flags, fds)
	if err == nil && perr != nil {
		err = perr
	}
	if err != nil {
		closeFDs(fds)
		if s != nil && s.arena != nil {
			unix.Munmap(s.arena)
		}
		return nil, err
	}
	s.conn = conn
	return s, nil
}

// ioError maps a socket error during the handshake to a typed error.
func ioError(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded) {
		return &Error{Code: CodeTimeout, Message: what + ": handshake deadline passed", err: err}
	}
	return wrapError(CodePeerGone, what, err)
}

// recvMsg receives one message with MSG_CMSG_CLOEXEC through the netpoller.
func recvMsg(conn *net.UnixConn, buf, oob []byte) (n, oobn, flags int, err error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return 0, 0, 0, err
	}
	var rerr error
	err = raw.Read(func(fd uintptr) bool {
		n, oobn, flags, _, rerr = unix.Recvmsg(int(fd), buf, oob, unix.MSG_CMSG_CLOEXEC)
		return rerr != unix.EAGAIN
	})
	if err == nil {
		err = rerr
	}
	if err == nil && n == 0 && oobn == 0 {
		err = errors.New("connection closed by the server")
	}
	return n, oobn, flags, err
}

// parseRights returns every fd carried in oob (all of them, so the caller
// can close them on failure), and an error for a malformed message.
func parseRights(oob []byte) ([]int, error) {
	if len(oob) == 0 {
		return nil, nil
	}
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, wrapError(CodeBadFD, "control message", err)
	}
	var fds []int
	var bad error
	for i := range msgs {
		got, err := unix.ParseUnixRights(&msgs[i])
		if err != nil {
			bad = newError(CodeBadFD, "unexpected control message")
			continue
		}
		fds = append(fds, got...)
	}
	return fds, bad
}

// checkHello validates the server hello and the received fds, then maps
// and validates the arena: PROTOCOL.md §2.3, rules H1-H9 in that order,
// then the superblock (§3.1). msg is what arrived (up to twice a hello:
// flags has MSG_TRUNC for more). On error the caller closes fds (and
// unmaps a returned session's arena).
func checkHello(msg []byte, flags int, fds []int) (*session, error) {
	le := binary.LittleEndian
	switch {
	case flags&unix.MSG_CTRUNC != 0: // H1
		return nil, newError(CodeBadFD, "control data truncated (MSG_CTRUNC)")
	case flags&unix.MSG_TRUNC != 0: // H2
		return nil, newError(CodeProtocol, "server hello longer than twice its size")
	case len(msg) < offServerHelloArenaSize: // H3
		return nil, newError(CodeProtocol, fmt.Sprintf("server hello of %d bytes", len(msg)))
	}
	if m := le.Uint64(msg[offServerHelloMagic:]); m != serverHelloMagic { // H4
		return nil, newError(CodeVersionMismatch, fmt.Sprintf("server hello magic %#x", m))
	}
	if v := le.Uint32(msg[offServerHelloLayoutVersion:]); v != LayoutVersion {
		return nil, newError(CodeVersionMismatch, fmt.Sprintf("server layout version %d, want %d", v, LayoutVersion))
	}
	if len(msg) != sizeofServerHello { // H5
		return nil, newError(CodeProtocol, fmt.Sprintf("server hello of %d bytes", len(msg)))
	}
	if st := int32(le.Uint32(msg[offServerHelloStatus:])); st != 0 { // H6
		c := Code(st)
		if st < 0 || c > CodeUnknown {
			c = CodeUnknown
		}
		return nil, newError(c, "server refused the session")
	}
	h := helloFacts{
		arenaSize:   le.Uint64(msg[offServerHelloArenaSize:]),
		flags:       le.Uint32(msg[offServerHelloFlags:]),
		sessionID:   le.Uint64(msg[offServerHelloSessionID:]),
		maxInflight: le.Uint32(msg[offServerHelloMaxInflight:]),
	}
	nfds := le.Uint32(msg[offServerHelloNfds:])
	want := uint32(3)
	if h.flags&sbFutexDoorbell != 0 {
		want = 2
	}
	if nfds != want || len(fds) != int(want) { // H7
		return nil, newError(CodeBadFD, fmt.Sprintf("hello names %d fds, received %d, want %d", nfds, len(fds), want))
	}
	if h.arenaSize < regionAlign || h.arenaSize > maxArenaSize { // H8
		return nil, newError(CodeProtocol, fmt.Sprintf("arena_size %d out of range", h.arenaSize))
	}
	// H9: the arena fd and the bells, before anything maps the arena.
	if err := checkArenaFD(fds[fdArena], h.arenaSize); err != nil {
		return nil, err
	}
	for _, fd := range fds[fdClientBell:] {
		if err := checkEventFD(fd); err != nil {
			return nil, err
		}
	}
	arena, err := unix.Mmap(fds[fdArena], 0, int(h.arenaSize), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, wrapError(CodeSystem, "mmap arena", err)
	}
	s := &session{arena: arena, serverBell: -1}
	// §2.4: validate a private copy; never read the superblock again. H1:
	// the server wrote it before sealing and sending the fd, and recvmsg
	// ordered those writes before this copy.
	var sb [superblockSize]byte
	copy(sb[:], arena)
	if s.layout, err = parseSuperblock(sb[:], h); err != nil {
		return s, err
	}
	if err := unix.SetNonblock(fds[fdClientBell], true); err != nil {
		return s, wrapError(CodeSystem, "client bell", err)
	}
	if len(fds) == 3 {
		s.serverBell = fds[fdServerBell]
	}
	// Mapped: the memfd itself is no longer needed.
	unix.Close(fds[fdArena])
	s.clientBell = os.NewFile(uintptr(fds[fdClientBell]), "ffb-client-bell")
	return s, nil
}

// checkArenaFD requires a regular file with exactly the arena seals and
// the announced size, before anything maps it.
func checkArenaFD(fd int, size uint64) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return wrapError(CodeBadFD, "fstat arena", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return newError(CodeBadFD, "arena fd is not a regular file")
	}
	seals, err := unix.FcntlInt(uintptr(fd), unix.F_GET_SEALS, 0)
	if err != nil {
		return wrapError(CodeBadFD, "arena seals", err)
	}
	if seals != arenaSeals {
		return newError(CodeBadFD, fmt.Sprintf("arena seals %#x, want %#x", seals, arenaSeals))
	}
	if st.Size < 0 || uint64(st.Size) != size {
		return newError(CodeBadFD, fmt.Sprintf("arena fd size %d, hello says %d", st.Size, size))
	}
	return nil
}

// checkEventFD requires an eventfd (an anonymous inode named eventfd).
func checkEventFD(fd int) error {
	link, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
	if err != nil {
		return nil // no /proc: cannot tell, and a wrong fd only breaks wake-ups
	}
	if link != "anon_inode:[eventfd]" {
		return newError(CodeBadFD, "bell fd is "+link+", want an eventfd")
	}
	return nil
}
