// handshake_internal_test.go: a hostile or broken server's hello, fds and
// superblock are refused with the right code before (or right after) mmap.

package ffb

import (
	"encoding/binary"
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

func TestSuperblockRejectsBadFields(t *testing.T) {
	fa := newFakeArena(t, 16, 8, 3, 4)
	le := binary.LittleEndian
	for _, tc := range []struct {
		name   string
		mutate func(sb []byte)
		want   *Error
	}{
		{"magic", func(sb []byte) { le.PutUint64(sb[offSuperblockMagic:], 1) }, ErrVersionMismatch},
		{"version", func(sb []byte) { le.PutUint32(sb[offSuperblockLayoutVersion:], LayoutVersion+1) }, ErrVersionMismatch},
		{"size", func(sb []byte) { le.PutUint64(sb[offSuperblockArenaSize:], fa.size+4096) }, ErrProtocol},
		{"tag 0", func(sb []byte) { le.PutUint32(sb[offSuperblockArenaTag:], 0) }, ErrProtocol},
		{"tag 256", func(sb []byte) { le.PutUint32(sb[offSuperblockArenaTag:], 256) }, ErrProtocol},
		{"entries not pow2", func(sb []byte) { le.PutUint32(sb[offSuperblockReqRingEntries:], 12) }, ErrProtocol},
		{"ring unaligned", func(sb []byte) {
			le.PutUint64(sb[offSuperblockRespRingOffset:], le.Uint64(sb[offSuperblockRespRingOffset:])+64)
		}, ErrProtocol},
		{"ring outside", func(sb []byte) { le.PutUint64(sb[offSuperblockReqRingOffset:], fa.size) }, ErrProtocol},
		{"rings overlap", func(sb []byte) {
			le.PutUint64(sb[offSuperblockRespRingOffset:], le.Uint64(sb[offSuperblockReqRingOffset:]))
		}, ErrProtocol},
		{"ring over superblock", func(sb []byte) { le.PutUint64(sb[offSuperblockReqRingOffset:], 0) }, ErrProtocol},
		{"inflight 0", func(sb []byte) { le.PutUint32(sb[offSuperblockMaxInflight:], 0) }, ErrProtocol},
		{"inflight over ring", func(sb []byte) { le.PutUint32(sb[offSuperblockMaxInflight:], 17) }, ErrProtocol},
		{"nclasses", func(sb []byte) { le.PutUint32(sb[offSuperblockHeaps:], 11) }, ErrProtocol},
		{"block size", func(sb []byte) { le.PutUint32(sb[offSuperblockHeaps+offHeapDescClasses+offClassDescBlockSize:], 128) }, ErrProtocol},
		{"count", func(sb []byte) {
			le.PutUint32(sb[offSuperblockHeaps+offHeapDescClasses+offClassDescCount:], maxBlocks+1)
		}, ErrProtocol},
		{"class overflow", func(sb []byte) {
			le.PutUint64(sb[offSuperblockHeaps+offHeapDescClasses+offClassDescOffset:], ^uint64(0)-63)
		}, ErrProtocol},
		{"class misaligned", func(sb []byte) {
			le.PutUint64(sb[offSuperblockHeaps+offHeapDescClasses+offClassDescOffset:], le.Uint64(sb[offSuperblockHeaps+offHeapDescClasses+offClassDescOffset:])+8)
		}, ErrProtocol},
		{"heaps overlap", func(sb []byte) {
			copy(sb[offSuperblockHeaps+sizeofHeapDesc:offSuperblockHeaps+2*sizeofHeapDesc], sb[offSuperblockHeaps:offSuperblockHeaps+sizeofHeapDesc])
		}, ErrProtocol},
		{"class outside heap", func(sb []byte) { le.PutUint64(sb[offSuperblockHeaps+offHeapDescSize:], 64) }, ErrProtocol},
	} {
		sb := fa.sb
		tc.mutate(sb[:])
		if _, err := parseSuperblock(sb[:], fa.hello); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
	h := fa.hello
	h.sessionID++
	if _, err := parseSuperblock(fa.sb[:], h); !errors.Is(err, ErrProtocol) {
		t.Errorf("session id differs from the hello: got %v, want PROTOCOL", err)
	}
}

func helloMsg(fa *fakeArena, nfds uint32) []byte {
	le := binary.LittleEndian
	m := make([]byte, sizeofServerHello)
	le.PutUint64(m[offServerHelloMagic:], serverHelloMagic)
	le.PutUint32(m[offServerHelloLayoutVersion:], LayoutVersion)
	le.PutUint64(m[offServerHelloArenaSize:], fa.size)
	le.PutUint32(m[offServerHelloNfds:], nfds)
	le.PutUint64(m[offServerHelloSessionID:], fa.hello.sessionID)
	le.PutUint32(m[offServerHelloMaxInflight:], fa.hello.maxInflight)
	return m
}

func eventFD(t *testing.T) int {
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

func TestCheckHelloRefusesBadFDs(t *testing.T) {
	fa := newFakeArena(t, 16, 8, 2, 4)
	dupArena := func() int {
		fd, err := unix.Dup(fa.fd)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(fd) })
		return fd
	}
	unsealed, _ := unix.MemfdCreate("unsealed", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	unix.Ftruncate(unsealed, int64(fa.size))
	defer unix.Close(unsealed)
	writeSealed, _ := unix.MemfdCreate("wsealed", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	unix.Ftruncate(writeSealed, int64(fa.size))
	unix.FcntlInt(uintptr(writeSealed), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_WRITE|unix.F_SEAL_SEAL)
	defer unix.Close(writeSealed)

	ok := helloMsg(fa, 3)
	for _, tc := range []struct {
		name  string
		msg   []byte
		flags int
		fds   []int
		want  *Error
	}{
		{"unsealed", ok, 0, []int{unsealed, eventFD(t), eventFD(t)}, ErrBadFD},
		{"write-sealed", ok, 0, []int{writeSealed, eventFD(t), eventFD(t)}, ErrBadFD},
		{"not a file", ok, 0, []int{eventFD(t), eventFD(t), eventFD(t)}, ErrBadFD},
		{"bell not eventfd", ok, 0, []int{dupArena(), dupArena(), eventFD(t)}, ErrBadFD},
		{"too few fds", ok, 0, []int{dupArena(), eventFD(t)}, ErrBadFD},
		{"ctrunc", ok, unix.MSG_CTRUNC, []int{dupArena(), eventFD(t), eventFD(t)}, ErrBadFD},
		{"refused", func() []byte {
			m := helloMsg(fa, 0)
			binary.LittleEndian.PutUint32(m[offServerHelloStatus:], uint32(CodeTooManySessions))
			return m
		}(), 0, nil, ErrTooManySessions},
		{"short", ok[:40], 0, nil, ErrProtocol},
		{"bad magic", func() []byte { m := helloMsg(fa, 3); m[0] ^= 1; return m }(), 0, nil, ErrVersionMismatch},
		{"size differs", func() []byte {
			m := helloMsg(fa, 3)
			binary.LittleEndian.PutUint64(m[offServerHelloArenaSize:], fa.size+4096)
			return m
		}(), 0, []int{dupArena(), eventFD(t), eventFD(t)}, ErrBadFD},
	} {
		s, err := checkHello(tc.msg, tc.flags, tc.fds)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
		if s != nil && s.arena != nil {
			t.Errorf("%s: mapped the arena before refusing it", tc.name)
			unix.Munmap(s.arena)
		}
	}
	// And the good case maps and validates; it takes ownership of the fds.
	arenaFD, _ := unix.Dup(fa.fd)
	bell, _ := unix.Eventfd(0, unix.EFD_CLOEXEC)
	serverBell, _ := unix.Eventfd(0, unix.EFD_CLOEXEC)
	s, err := checkHello(ok, 0, []int{arenaFD, bell, serverBell})
	if err != nil {
		t.Fatalf("good hello: %v", err)
	}
	if s.serverBell != serverBell || s.layout.tag != fa.tag {
		t.Errorf("good hello: got server bell %d and tag %d, want %d and %d", s.serverBell, s.layout.tag, serverBell, fa.tag)
	}
	unix.Munmap(s.arena)
	s.clientBell.Close()
	unix.Close(serverBell)
}
