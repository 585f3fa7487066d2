package ffb_test

// The code blocks of go/README.md are the bodies of these examples,
// line for line (mk/docs_check.py compares them): they compile, run
// against `ffb serve` in `go test`, and check their output.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log"

	ffb "github.com/ffi-bridge/ffi-bridge/go"
)

// The tour of go/README.md: calls, zero-copy echo, JSON, pipelining, batches.
func Example_tour() {
	ctx := context.Background()
	c, err := ffb.Dial(ctx, socketPath) // handshake, fd checks, mmap
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	in, _ := c.FromBytes([]byte("hello")) // bytes live in the arena
	defer in.Free()
	out, err := c.Invoke(ctx, "demo.upper", in) // *Buffer, or an *ffb.Error
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(out.Bytes())) // a slice over shared memory
	out.Free()

	same, _ := c.Echo(ctx, in) // ffi.echo: the same Buffer back, zero copy
	fmt.Println(same == in)

	var upper string // JSON in, JSON out
	if err := c.InvokeJSON(ctx, "demo.upper", "json", &upper); err != nil {
		log.Fatal(err)
	}
	fmt.Println(upper)

	call, _ := c.Submit(ctx, "ffi.echo", in) // pipelining: submit now...
	back, err := call.Wait(ctx)              // ...wait later
	fmt.Println(back == in, err)

	_, err = c.Invoke(ctx, "no.such.handler", in)
	fmt.Println(errors.Is(err, ffb.ErrNotFound)) // sentinels match by code

	a, _ := c.FromBytes([]byte("one"))
	b, _ := c.FromBytes([]byte("two"))
	defer a.Free()
	defer b.Free()
	calls := []ffb.BatchCall{{Name: "ffi.echo", In: a}, {Name: "demo.upper", In: b}}
	err = c.CallBatch(ctx, calls) // many calls, one wait: Out and Err per call
	fmt.Println(err, string(calls[0].Out.Bytes()), string(calls[1].Out.Bytes()))
	calls[1].Out.Free() // a new block of the server's; calls[0].Out is a itself
	// Output:
	// HELLO
	// true
	// JSON
	// true <nil>
	// true
	// <nil> one TWO
}

// Calls both ways and streams, as in go/README.md.
func Example_bothWays() {
	ctx := context.Background()
	c, err := ffb.Dial(ctx, socketPath)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	// A handler the server may call (demo.back calls the handler its
	// input names, with the rest of its input).
	err = c.Handle("shell.greet", func(ctx context.Context, req *ffb.Request) (*ffb.Buffer, error) {
		return req.Client().FromBytes(append([]byte("hello, "), req.Bytes()...))
	})
	if err != nil {
		log.Fatal(err)
	}
	in, _ := c.FromBytes([]byte("shell.greet\ngopher"))
	defer in.Free()
	out, err := c.Invoke(ctx, "demo.back", in)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(out.Bytes()))
	out.Free()

	// A stream: demo.count answers n items, u64 0, 1, ..., n-1.
	n, _ := c.FromBytes(binary.LittleEndian.AppendUint32(nil, 3))
	defer n.Free()
	for item, err := range c.Stream(ctx, "demo.count", n) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Print(binary.LittleEndian.Uint64(item.Bytes()), " ")
		item.Free()
	}
	fmt.Println()
	// Output:
	// hello, gopher
	// 0 1 2
}
