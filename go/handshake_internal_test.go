// handshake_internal_test.go: a hostile or broken server's fds are refused
// with the right code before mmap. (Bad hello and superblock fields: the
// shared table, vectors_test.go.)

package ffb

import (
	"encoding/binary"
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

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
		{"ctrunc", ok, unix.MSG_CTRUNC, []int{dupArena(), eventFD(t), eventFD(t)}, ErrBadFD},
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
