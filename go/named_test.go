// named_test.go: named callbacks of `ffb serve` — replies in new server
// blocks, a callback's own error code and message, unknown names, JSON.

package ffb_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	ffb "github.com/ffi-bridge/ffi-bridge/go"
)

func TestNamedCalls(t *testing.T) {
	c := dial(t, startServer(t))
	ctx := context.Background()
	for _, tc := range []struct{ name, in, want string }{
		{"demo.upper", "hello, arena", "HELLO, ARENA"},
		{"demo.reverse", "abcdef", "fedcba"},
		{"demo.upper", strings.Repeat("x", 5000), strings.Repeat("X", 5000)},
	} {
		in, err := c.FromBytes([]byte(tc.in))
		if err != nil {
			t.Fatal(err)
		}
		out, err := c.Invoke(ctx, tc.name, in)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if out == in || out.Handle() == in.Handle() {
			t.Errorf("%s: got the input block back, want a new server block", tc.name)
		}
		if got := string(out.Bytes()); got != tc.want {
			t.Errorf("%s(%.20q): got %.20q, want %.20q", tc.name, tc.in, got, tc.want)
		}
		if got := string(in.Bytes()); got != tc.in {
			t.Errorf("%s: input changed to %.20q", tc.name, got)
		}
		if err := out.Free(); err != nil {
			t.Errorf("Free reply: %v", err)
		}
		if err := in.Free(); err != nil {
			t.Errorf("Free input: %v", err)
		}
	}
	// Replies were released; a further call flushes the RELEASEs.
	if _, err := c.Version(ctx); err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.ServerBlocksHeld != 0 || st.BlocksInUse != 0 {
		t.Errorf("after freeing everything: got %+v", st)
	}
}

func TestNamedCallErrors(t *testing.T) {
	c := dial(t, startServer(t))
	ctx := context.Background()

	in, _ := c.FromBytes([]byte("x"))
	defer in.Free()
	_, err := c.Invoke(ctx, "demo.fail", in)
	var fe *ffb.Error
	if !errors.As(err, &fe) || fe.Code != ffb.CodeInvalidArgument || !errors.Is(err, ffb.ErrInvalidArgument) {
		t.Fatalf("demo.fail: got %v, want INVALID_ARGUMENT", err)
	}
	if !strings.Contains(fe.Message, "failing on purpose") {
		t.Errorf("demo.fail message: got %q, want the callback's text", fe.Message)
	}
	if got := string(in.Bytes()); got != "x" {
		t.Errorf("input after a failed call: got %q, want it usable and unchanged", got)
	}

	_, err = c.Invoke(ctx, "no.such.handler", in)
	if !errors.Is(err, ffb.ErrNotFound) {
		t.Fatalf("unknown name: got %v, want NOT_FOUND", err)
	}
	if _, err := c.Invoke(ctx, "", in); !errors.Is(err, ffb.ErrInvalidArgument) {
		t.Errorf("empty name: got %v, want INVALID_ARGUMENT", err)
	}
	if _, err := c.Invoke(ctx, strings.Repeat("n", 256), in); !errors.Is(err, ffb.ErrInvalidArgument) {
		t.Errorf("256-byte name: got %v, want INVALID_ARGUMENT", err)
	}
	if _, err := c.Invoke(ctx, "bad\xff", in); !errors.Is(err, ffb.ErrInvalidUTF8) {
		t.Errorf("non-UTF-8 name: got %v, want INVALID_UTF8", err)
	}
	// The session survives all of it.
	if _, err := c.Echo(ctx, in); err != nil {
		t.Fatalf("echo after errors: %v", err)
	}
	if st := c.Stats(); st.ProtocolErrors != 0 {
		t.Errorf("protocol errors: got %d, want 0", st.ProtocolErrors)
	}
}

func TestInvokeJSON(t *testing.T) {
	c := dial(t, startServer(t))
	var out string
	if err := c.InvokeJSON(context.Background(), "demo.upper", "abc", &out); err != nil {
		t.Fatalf("InvokeJSON: %v", err)
	}
	if out != "ABC" {
		t.Errorf("InvokeJSON demo.upper \"abc\": got %q, want \"ABC\"", out)
	}
	var echoed map[string][]int
	if err := c.InvokeJSON(context.Background(), "ffi.echo", map[string][]int{"values": {1, 2, 3}}, &echoed); err != nil {
		t.Fatalf("InvokeJSON echo: %v", err)
	}
	if len(echoed["values"]) != 3 || echoed["values"][2] != 3 {
		t.Errorf("InvokeJSON echo: got %v", echoed)
	}
	if err := c.InvokeJSON(context.Background(), "ffi.echo", make(chan int), nil); !errors.Is(err, ffb.ErrSerialization) {
		t.Errorf("unencodable input: got %v, want SERIALIZATION", err)
	}
	if st := c.Stats(); st.BlocksInUse != 0 {
		t.Errorf("InvokeJSON leaked %d blocks", st.BlocksInUse)
	}
}
