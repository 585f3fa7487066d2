// vectors_test.go runs the shared table of bad superblocks and server
// hellos, tests/vectors/superblock.txt (the C client runs the same rows in
// tests/test_badfd.c): each row through checkHello with a real sealed
// memfd and eventfds, rows named sb-* through parseSuperblock alone too.

package ffb

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// vsession is one session as the table describes it.
type vsession struct {
	sb    [sizeofSuperblock]byte
	hello [256]byte
	msg   [16]byte // msg.len at 0, msg.fds at 8
}

func (s *vsession) msgLen() uint64 { return binary.LittleEndian.Uint64(s.msg[0:]) }
func (s *vsession) msgFDs() uint64 { return binary.LittleEndian.Uint64(s.msg[8:]) }

// field returns the bytes of a table field in s.
func (s *vsession) field(name string) ([]byte, error) {
	switch name {
	case "msg.len":
		return s.msg[0:8], nil
	case "msg.fds":
		return s.msg[8:16], nil
	}
	strct, path, buf := "", "", []byte(nil)
	if p, ok := strings.CutPrefix(name, "sb."); ok {
		strct, path, buf = "ffb_superblock", p, s.sb[:]
	} else if p, ok := strings.CutPrefix(name, "hello."); ok {
		strct, path, buf = "ffb_server_hello", p, s.hello[:]
	}
	r, ok := leafFields[strct][path]
	if !ok {
		return nil, fmt.Errorf("unknown field %s", name)
	}
	return buf[r[0] : r[0]+r[1]], nil
}

func getLE(b []byte) uint64 {
	var w [8]byte
	copy(w[:], b)
	return binary.LittleEndian.Uint64(w[:])
}

func putLE(b []byte, v uint64) {
	var w [8]byte
	binary.LittleEndian.PutUint64(w[:], v)
	copy(b, w[:len(b)])
}

func vnumber(s string) (uint64, error) {
	if s == "LAYOUT_VERSION" {
		return layoutVersion, nil
	}
	if strings.HasPrefix(s, "-") {
		v, err := strconv.ParseInt(s, 0, 64)
		return uint64(v), err
	}
	return strconv.ParseUint(s, 0, 64)
}

// apply runs FIELD=VALUE, FIELD+=DELTA or FIELD=@FIELD on s.
func (s *vsession) apply(mut string) error {
	lhs, rhs, ok := strings.Cut(mut, "=")
	if !ok {
		return fmt.Errorf("bad mutation %q", mut)
	}
	name, add := strings.CutSuffix(lhs, "+")
	dst, err := s.field(name)
	if err != nil {
		return err
	}
	var v uint64
	if from, ok := strings.CutPrefix(rhs, "@"); ok {
		src, err := s.field(from)
		if err != nil {
			return err
		}
		v = getLE(src)
	} else if v, err = vnumber(rhs); err != nil {
		return fmt.Errorf("%s: %v", mut, err)
	}
	if add {
		v += getLE(dst)
	}
	putLE(dst, v)
	return nil
}

func codeNamed(name string) (Code, bool) {
	for _, e := range codeTable {
		if e.name == name {
			return e.code, true
		}
	}
	return 0, false
}

// sealedArena is a memfd of size bytes holding sb, sealed as an arena.
func sealedArena(t *testing.T, sb []byte, size uint64) int {
	fd, err := unix.MemfdCreate("ffb-session", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		t.Fatal(err)
	}
	if _, err := unix.Pwrite(fd, sb, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, arenaSeals); err != nil {
		t.Fatal(err)
	}
	return fd
}

// handshakeRow runs checkHello as the real handshake would receive s,
// and closes every fd it made whatever the outcome.
func handshakeRow(t *testing.T, s *vsession, arenaSize uint64) error {
	all := []int{sealedArena(t, s.sb[:], arenaSize)}
	for i := 0; i < 2; i++ {
		fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, fd)
	}
	n, size := s.msgFDs(), s.msgLen()
	if n > uint64(len(all)) || size > uint64(len(s.hello)) {
		t.Fatalf("msg.fds %d or msg.len %d out of the table's range", n, size)
	}
	closeFDs(all[n:]) // not sent
	msg, flags := s.hello[:size], 0
	if len(msg) > 2*sizeofServerHello { // what recvmsg does with the client's buffer
		msg, flags = msg[:2*sizeofServerHello], unix.MSG_TRUNC
	}
	sess, err := checkHello(msg, flags, all[:n])
	if err != nil {
		closeFDs(all[:n]) // checkHello leaves them to its caller on failure
		if sess != nil && sess.arena != nil {
			unix.Munmap(sess.arena)
		}
		return err
	}
	// Taken: the arena fd is closed, the bells are the session's.
	unix.Munmap(sess.arena)
	sess.clientBell.Close()
	if sess.serverBell >= 0 {
		unix.Close(sess.serverBell)
	}
	return nil
}

func TestSharedVectorsGetTheirCodes(t *testing.T) {
	f, err := os.Open(filepath.Join("..", "tests", "vectors", "superblock.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var base vsession
	rows := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		w := strings.Fields(sc.Text())
		if len(w) == 0 || strings.HasPrefix(w[0], "#") {
			continue
		}
		if w[0] == "base" {
			if err := base.apply(w[1] + "=" + w[2]); err != nil {
				t.Fatal(err)
			}
			continue
		}
		name, want := w[1], w[2]
		code, ok := codeNamed(want)
		if w[0] != "row" || !ok {
			t.Fatalf("bad line %q", sc.Text())
		}
		s := base
		for _, m := range w[3:] {
			if err := s.apply(m); err != nil {
				t.Fatalf("row %s: %v", name, err)
			}
		}
		rows++
		arenaSize := binary.LittleEndian.Uint64(base.sb[offSuperblockArenaSize:])
		if got := CodeOf(handshakeRow(t, &s, arenaSize)); got != code {
			t.Errorf("row %s: handshake %v, want %v", name, got, code)
		}
		if strings.HasPrefix(name, "sb-") {
			h := helloFacts{
				arenaSize:   binary.LittleEndian.Uint64(s.hello[offServerHelloArenaSize:]),
				flags:       binary.LittleEndian.Uint32(s.hello[offServerHelloFlags:]),
				sessionID:   binary.LittleEndian.Uint64(s.hello[offServerHelloSessionID:]),
				maxInflight: binary.LittleEndian.Uint32(s.hello[offServerHelloMaxInflight:]),
			}
			if _, err := parseSuperblock(s.sb[:], h); CodeOf(err) != code {
				t.Errorf("row %s: superblock check %v, want %v", name, CodeOf(err), code)
			}
		}
	}
	if rows < 40 {
		t.Errorf("ran %d rows, want the whole table", rows)
	}
}
