// echo_test.go: the built-ins against a real server — zero-copy echo of
// every size class boundary up to 16 MiB with byte checks and handle
// identity, and ffi.version.

package ffb_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	ffb "github.com/ffi-bridge/ffi-bridge/go"
)

func fill(b []byte, seed int) {
	for i := range b {
		b[i] = byte(i*31 + seed)
	}
}

func checkFill(b []byte, seed int) error {
	for i := range b {
		if want := byte(i*31 + seed); b[i] != want {
			return fmt.Errorf("byte %d: got %#x, want %#x", i, b[i], want)
		}
	}
	return nil
}

func TestEchoSizes(t *testing.T) {
	for _, mode := range []struct {
		name string
		args []string
	}{{"futex", nil}, {"eventfd", []string{"--eventfd"}}} {
		t.Run(mode.name, func(t *testing.T) {
			s := startServer(t, mode.args...)
			c := dial(t, s)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			for _, n := range []int{0, 1, 63, 64, 65, 4096, 65536, 1 << 20, 4<<20 + 3, 16 << 20} {
				buf, err := c.Alloc(n)
				if err != nil {
					t.Fatalf("Alloc(%d): %v", n, err)
				}
				fill(buf.Bytes(), n)
				h := buf.Handle()
				out, err := c.Echo(ctx, buf)
				if err != nil {
					t.Fatalf("Echo %d bytes: %v", n, err)
				}
				if out != buf || out.Handle() != h {
					t.Fatalf("Echo %d bytes: got handle %#x (same Buffer %v), want %#x", n, out.Handle(), out == buf, h)
				}
				if got := out.Len(); got != n {
					t.Fatalf("Echo %d bytes: got length %d", n, got)
				}
				if err := checkFill(out.Bytes(), n); err != nil {
					t.Fatalf("Echo %d bytes: %v", n, err)
				}
				if err := buf.Free(); err != nil {
					t.Fatalf("Free after echo of %d bytes: %v", n, err)
				}
			}
			if st := c.Stats(); st.BlocksInUse != 0 || st.Pending != 0 {
				t.Errorf("after the echoes: got %+v, want no blocks in use and nothing pending", st)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	c := dial(t, startServer(t))
	v, err := c.Version(context.Background())
	if err != nil {
		t.Fatalf("Version: %v", err)
	}
	if v == "" {
		t.Fatalf("Version: got an empty string")
	}
	t.Logf("server version %q", v)
	if st := c.Stats(); st.ServerBlocksHeld != 0 {
		t.Errorf("server blocks held after Version: got %d, want 0", st.ServerBlocksHeld)
	}
}

func TestEchoNilInput(t *testing.T) {
	c := dial(t, startServer(t))
	out, err := c.Echo(context.Background(), nil)
	if err != nil || out != nil {
		t.Fatalf("Echo(nil): got (%v, %v), want (nil, nil)", out, err)
	}
	var _ = ffb.ErrNotFound
}
