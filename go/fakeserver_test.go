// fakeserver_test.go builds a session arena exactly as PROTOCOL.md lays
// it out, in a real sealed memfd, and drives the server ends of its rings
// from Go. Unit tests use it for ring, registry and dispatch logic and for
// hostile-server cases the real server never produces.

package ffb

import (
	"encoding/binary"
	"os"
	"sync"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

type fakeArena struct {
	fd     int
	arena  []byte
	size   uint64
	tag    uint32
	sb     [superblockSize]byte
	hello  helloFacts
	layout *arenaLayout
}

func pageUp(x uint64) uint64 { return (x + regionAlign - 1) &^ (regionAlign - 1) }

// newFakeArena lays out and seals an arena with `count` blocks in each of
// the first nclasses classes of both heaps.
func newFakeArena(t testing.TB, ringEntries, maxInflight uint32, nclasses uint32, count uint32) *fakeArena {
	t.Helper()
	le := binary.LittleEndian
	fa := &fakeArena{tag: 7}
	var sb = fa.sb[:]
	off := uint64(regionAlign)
	reqOff := off
	off = pageUp(off + ringCtlSize + uint64(ringEntries)*ringEntrySize)
	respOff := off
	off = pageUp(off + ringCtlSize + uint64(ringEntries)*ringEntrySize)
	for hp := 0; hp < 2; hp++ {
		d := sb[offSuperblockHeaps+hp*sizeofHeapDesc:]
		start := off
		le.PutUint32(d[offHeapDescNclasses:], nclasses)
		le.PutUint64(d[offHeapDescOffset:], start)
		for k := uint32(0); k < nclasses; k++ {
			cd := d[offHeapDescClasses+int(k)*sizeofClassDesc:]
			le.PutUint64(cd[offClassDescOffset:], off)
			le.PutUint32(cd[offClassDescBlockSize:], classBlockSize(k))
			le.PutUint32(cd[offClassDescCount:], count)
			off = pageUp(off + uint64(count)*uint64(classBlockSize(k)))
		}
		le.PutUint64(d[offHeapDescSize:], off-start)
	}
	fa.size = off
	le.PutUint64(sb[offSuperblockMagic:], arenaMagic)
	le.PutUint32(sb[offSuperblockLayoutVersion:], LayoutVersion)
	le.PutUint32(sb[offSuperblockSuperblockSize:], superblockSize)
	le.PutUint64(sb[offSuperblockArenaSize:], fa.size)
	le.PutUint32(sb[offSuperblockMaxInflight:], maxInflight)
	le.PutUint64(sb[offSuperblockSessionID:], 42)
	le.PutUint32(sb[offSuperblockArenaTag:], fa.tag)
	le.PutUint64(sb[offSuperblockReqRingOffset:], reqOff)
	le.PutUint32(sb[offSuperblockReqRingEntries:], ringEntries)
	le.PutUint32(sb[offSuperblockRespRingEntries:], ringEntries)
	le.PutUint64(sb[offSuperblockRespRingOffset:], respOff)
	fa.hello = helloFacts{arenaSize: fa.size, flags: 0, sessionID: 42, maxInflight: maxInflight}

	fd, err := unix.MemfdCreate("ffb-test", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		t.Fatalf("memfd_create: %v", err)
	}
	fa.fd = fd
	if err := unix.Ftruncate(fd, int64(fa.size)); err != nil {
		t.Fatalf("ftruncate: %v", err)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_SEAL); err != nil {
		t.Fatalf("seal: %v", err)
	}
	fa.arena, err = unix.Mmap(fd, 0, int(fa.size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		t.Fatalf("mmap: %v", err)
	}
	copy(fa.arena, sb)
	fa.layout, err = parseSuperblock(sb, fa.hello)
	if err != nil {
		t.Fatalf("fake superblock rejected: %v", err)
	}
	t.Cleanup(func() { unix.Munmap(fa.arena); unix.Close(fd) })
	return fa
}

// setIndices starts both rings at index start (to test wrap-around).
func (fa *fakeArena) setIndices(start uint32) {
	for _, off := range []uint64{fa.layout.reqOff, fa.layout.respOff} {
		binary.LittleEndian.PutUint32(fa.arena[off+offRingCtlPTail:], start)
		binary.LittleEndian.PutUint32(fa.arena[off+offRingCtlCHead:], start)
	}
}

// fakeServer is the server end of a fakeArena's rings, run by one
// goroutine. handle decides the answer to each CALL (nil: echo).
type fakeServer struct {
	fa      *fakeArena
	req     ringCons
	resp    ringProd
	handle  func(s *fakeServer, e ringEntry) (ringEntry, bool)
	stop    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	calls   int
	release int
	cancel  int
	bell    *os.File // write end of the client bell (an eventfd)
	later   []delayed
}

type delayed struct {
	due time.Time
	e   ringEntry
}

// sendLater queues out to be published after d (server goroutine only).
func (fs *fakeServer) sendLater(out ringEntry, d time.Duration) {
	fs.later = append(fs.later, delayed{time.Now().Add(d), out})
}

// newFakeClient returns a Client over fa with a running fake server.
func newFakeClient(t testing.TB, fa *fakeArena, o options, handle func(*fakeServer, ringEntry) (ringEntry, bool)) (*Client, *fakeServer) {
	t.Helper()
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		t.Fatalf("eventfd: %v", err)
	}
	dup, _ := unix.Dup(efd)
	// The client gets its own mapping of the memfd, as in another process.
	mapping, err := unix.Mmap(fa.fd, 0, int(fa.size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		t.Fatalf("mmap: %v", err)
	}
	s := &session{arena: mapping, layout: fa.layout, serverBell: -1,
		clientBell: os.NewFile(uintptr(efd), "bell")}
	c, err := newClient(s, o)
	if err != nil {
		t.Fatalf("newClient: %v", err)
	}
	c.wg.Add(1)
	go c.bellLoop()
	base := unsafe.Pointer(unsafe.SliceData(fa.arena))
	fs := &fakeServer{fa: fa, handle: handle, stop: make(chan struct{}), bell: os.NewFile(uintptr(dup), "bell-w")}
	fs.req.attach(unsafe.Add(base, fa.layout.reqOff), fa.layout.reqEntries)
	fs.resp.attach(unsafe.Add(base, fa.layout.respOff), fa.layout.respEntries)
	fs.wg.Add(1)
	go fs.run()
	t.Cleanup(func() {
		c.Close()
		close(fs.stop)
		fs.wg.Wait()
		fs.bell.Close()
	})
	return c, fs
}

func (fs *fakeServer) run() {
	defer fs.wg.Done()
	var e ringEntry
	for {
		select {
		case <-fs.stop:
			return
		default:
		}
		for len(fs.later) > 0 && time.Now().After(fs.later[0].due) {
			fs.push(fs.later[0].e)
			fs.later = fs.later[1:]
		}
		n := fs.req.ready()
		if n <= 0 {
			time.Sleep(5 * time.Microsecond)
			continue
		}
		for ; n > 0; n-- {
			fs.req.pop(&e)
			switch e.kind {
			case kindRelease:
				fs.mu.Lock()
				fs.release++
				fs.mu.Unlock()
				continue
			case kindCancel: // no answer: the cancelled call still gets its own
				fs.mu.Lock()
				fs.cancel++
				fs.mu.Unlock()
				continue
			case kindCall, kindLookup:
				fs.mu.Lock()
				fs.calls++
				fs.mu.Unlock()
			}
			out := ringEntry{callID: e.callID, handle: e.handle, len: e.len, kind: kindResult}
			send := true
			if fs.handle != nil {
				out, send = fs.handle(fs, e)
			}
			if send {
				fs.push(out)
			}
		}
		fs.req.release()
	}
}

// push publishes one response entry and rings the client bell if asked.
func (fs *fakeServer) push(out ringEntry) {
	for fs.resp.free(1) < 1 {
		time.Sleep(time.Microsecond)
	}
	fs.resp.push(out.callID, out.handle, out.len, out.kind, out.fnOrStatus)
	if fs.resp.publish() {
		fs.bell.Write(bellOne[:])
	}
}

// serverHandle makes server-heap handle (class k, index i, gen g).
func (fa *fakeArena) serverHandle(g, k, i uint32) uint64 {
	return makeHandle(g, fa.tag, heapServer, k, i)
}
