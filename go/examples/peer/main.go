// Command peer is the Go side of the Rust crate's calls-both-ways tests
// (rust/tests/bothways.rs): a client of a Rust server that registers
// handlers the server calls, and runs the commands the test writes to its
// standard input, each on a goroutine of its own, printing one line per
// outcome.
//
//	peer -socket /path/to/server.sock
//
// Handlers: go.upper (the input in upper case), go.panic (panics), go.block
// (waits for its context to end), go.nest (calls the server's rs.leaf with
// its input and answers "go(ANSWER)"), go.note (prints its input: a
// notification), and the stream handlers go.count (u32 n -> the u64s 0..n)
// and go.stall (one item, then waits for its context to end).
//
// Commands, one a line; TAG starts every line printed about it:
//
//	TAG call NAME TEXT                   -> TAG ok ANSWER | TAG err CODE MESSAGE
//	TAG call_timeout MS NAME TEXT        -> the same, the call's context ending after MS
//	TAG stream NAME N BREAK EVERY        -> TAG stream ok items=K in_order=true | TAG err ...
//
// A stream command calls NAME as a stream with the u64 N as input and
// checks that item i is the u64 i; it breaks after BREAK items (0: never)
// and, every EVERY items (0: never), sleeps 1 ms and tells the server how
// many it took (rs.progress, u64). Standard input's end ends the peer.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	ffb "github.com/ffi-bridge/ffi-bridge/go"
)

var out sync.Mutex

func say(format string, args ...any) {
	out.Lock()
	defer out.Unlock()
	fmt.Printf(format+"\n", args...)
}

func main() {
	socket := flag.String("socket", "", "server socket path (required)")
	flag.Parse()
	if *socket == "" {
		fmt.Fprintln(os.Stderr, "usage: peer -socket PATH")
		os.Exit(2)
	}
	ctx := context.Background()
	c, err := ffb.Dial(ctx, *socket)
	if err != nil {
		fmt.Printf("FAIL: dial: %v\n", err)
		os.Exit(1)
	}
	defer c.Close()
	if err := register(c); err != nil {
		fmt.Printf("FAIL: register: %v\n", err)
		os.Exit(1)
	}
	say("ready session %d", c.SessionID())
	var wg sync.WaitGroup
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		line := in.Text()
		wg.Add(1)
		go func() {
			defer wg.Done()
			command(ctx, c, line)
		}()
	}
	wg.Wait()
}

func register(c *ffb.Client) error {
	return errors.Join(
		c.Handle("go.upper", func(ctx context.Context, req *ffb.Request) (*ffb.Buffer, error) {
			return req.Client().FromBytes(bytes.ToUpper(req.Bytes()))
		}),
		c.Handle("go.panic", func(ctx context.Context, req *ffb.Request) (*ffb.Buffer, error) {
			panic("go handler panicked on purpose")
		}),
		c.Handle("go.block", func(ctx context.Context, req *ffb.Request) (*ffb.Buffer, error) {
			say("go.block: started")
			<-ctx.Done()
			say("go.block: cancelled")
			return nil, ctx.Err()
		}),
		c.Handle("go.nest", func(ctx context.Context, req *ffb.Request) (*ffb.Buffer, error) {
			cl := req.Client()
			in, err := cl.FromBytes(req.Bytes())
			if err != nil {
				return nil, err
			}
			defer in.Free()
			leaf, err := cl.Invoke(ctx, "rs.leaf", in)
			if ctx.Err() != nil {
				say("go.nest: cancelled")
			}
			if err != nil {
				return nil, err
			}
			defer leaf.Free()
			return cl.FromBytes([]byte("go(" + string(leaf.Bytes()) + ")"))
		}),
		c.Handle("go.note", func(ctx context.Context, req *ffb.Request) (*ffb.Buffer, error) {
			say("go.note: %s", req.Bytes())
			return nil, nil
		}),
		c.HandleStream("go.count", func(ctx context.Context, req *ffb.Request, send func(*ffb.Buffer) error) error {
			if req.Len() < 4 {
				return &ffb.Error{Code: ffb.CodeInvalidArgument, Message: "want a u32"}
			}
			n := binary.LittleEndian.Uint32(req.Bytes())
			for i := uint64(0); i < uint64(n); i++ {
				b, err := req.Client().FromBytes(binary.LittleEndian.AppendUint64(nil, i))
				if err != nil {
					return err
				}
				if err := send(b); err != nil {
					return err
				}
			}
			return nil
		}),
		c.HandleStream("go.stall", func(ctx context.Context, req *ffb.Request, send func(*ffb.Buffer) error) error {
			b, err := req.Client().FromBytes([]byte("first"))
			if err != nil {
				return err
			}
			if err := send(b); err != nil {
				return err
			}
			say("go.stall: started")
			<-ctx.Done()
			return ctx.Err()
		}),
	)
}

func command(ctx context.Context, c *ffb.Client, line string) {
	f := strings.SplitN(line, " ", 3)
	if len(f) < 2 {
		say("%s err INVALID_ARGUMENT bad command %q", line, line)
		return
	}
	tag, verb, rest := f[0], f[1], ""
	if len(f) == 3 {
		rest = f[2]
	}
	switch verb {
	case "call":
		name, text, _ := strings.Cut(rest, " ")
		call(ctx, c, tag, name, text)
	case "call_timeout":
		ms, more, _ := strings.Cut(rest, " ")
		name, text, _ := strings.Cut(more, " ")
		n, err := strconv.Atoi(ms)
		if err != nil {
			say("%s err INVALID_ARGUMENT bad timeout %q", tag, ms)
			return
		}
		tctx, cancel := context.WithTimeout(ctx, time.Duration(n)*time.Millisecond)
		defer cancel()
		call(tctx, c, tag, name, text)
	case "stream":
		var name string
		var n, brk, every uint64
		if _, err := fmt.Sscan(rest, &name, &n, &brk, &every); err != nil {
			say("%s err INVALID_ARGUMENT %v", tag, err)
			return
		}
		stream(ctx, c, tag, name, n, brk, every)
	default:
		say("%s err INVALID_ARGUMENT unknown command %q", tag, verb)
	}
}

func fail(tag string, err error) {
	var e *ffb.Error
	msg := err.Error()
	if errors.As(err, &e) {
		msg = e.Message
	}
	say("%s err %s %s", tag, ffb.CodeOf(err), msg)
}

func call(ctx context.Context, c *ffb.Client, tag, name, text string) {
	in, err := c.FromBytes([]byte(text))
	if err != nil {
		fail(tag, err)
		return
	}
	defer in.Free()
	res, err := c.Invoke(ctx, name, in)
	if err != nil {
		fail(tag, err)
		return
	}
	defer res.Free()
	say("%s ok %s", tag, res.Bytes())
}

func stream(ctx context.Context, c *ffb.Client, tag, name string, n, brk, every uint64) {
	in, err := c.FromBytes(binary.LittleEndian.AppendUint64(nil, n))
	if err != nil {
		fail(tag, err)
		return
	}
	defer in.Free()
	var got uint64
	inOrder := true
	for item, err := range c.Stream(ctx, name, in) {
		if err != nil {
			fail(tag, err)
			return
		}
		if item == nil || item.Len() != 8 || binary.LittleEndian.Uint64(item.Bytes()) != got {
			inOrder = false
		}
		if item != nil {
			item.Free()
		}
		got++
		if brk != 0 && got == brk {
			break
		}
		if every != 0 && got%every == 0 {
			time.Sleep(time.Millisecond)
			if err := progress(ctx, c, got); err != nil {
				fail(tag, err)
				return
			}
		}
	}
	say("%s stream ok items=%d in_order=%t", tag, got, inOrder)
}

func progress(ctx context.Context, c *ffb.Client, got uint64) error {
	in, err := c.FromBytes(binary.LittleEndian.AppendUint64(nil, got))
	if err != nil {
		return err
	}
	defer in.Free()
	res, err := c.Invoke(ctx, "rs.progress", in)
	if err != nil {
		return err
	}
	res.Free()
	return nil
}
