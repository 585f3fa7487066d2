package ffb

import (
	"fmt"
	"os"
	"sync/atomic"
)

func bellInfo(c *Client) string {
	rc, err := c.s.clientBell.SyscallConn()
	if err != nil {
		return err.Error()
	}
	var out string
	rc.Control(func(fd uintptr) {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/self/fdinfo/%d", fd))
		out = fmt.Sprintf("bell fd %d: %q", fd, b)
	})
	return out
}

// DebugState describes the ring words and waiter counts (tests only).
func DebugState(c *Client) string {
	return fmt.Sprintf("req ptail=%d chead=%d nw=%d | resp ptail=%d chead=%d nw=%d | cons head=%d drainHead=%d parkers=%d pending=%d unpublished=%v prod tail=%d published=%d",
		atomic.LoadUint32(c.prod.pTail), atomic.LoadUint32(c.prod.cHead), atomic.LoadUint32(c.prod.cNeedsWakeup),
		atomic.LoadUint32(c.cons.pTail), atomic.LoadUint32(c.cons.cHead), atomic.LoadUint32(c.cons.cNeedsWakeup),
		c.cons.head, c.drainHead.Load(), c.parkers.Load(), c.reg.pending(), c.unpublished.Load(), c.prod.tail, c.prod.published) + " " + bellInfo(c)
}
