package ffb_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	ffb "github.com/ffi-bridge/ffi-bridge/go"
)

// Connect to a server, check the session, close it.
func ExampleDial() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := ffb.Dial(ctx, socketPath)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	fmt.Println("session open:", c.SessionID() != 0, "in-flight cap > 0:", c.MaxInflight() > 0)
	// Output: session open: true in-flight cap > 0: true
}

// Call a named callback with bytes written straight into the arena.
func ExampleClient_Invoke() {
	c, err := ffb.Dial(context.Background(), socketPath)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	in, err := c.FromBytes([]byte("hello, arena"))
	if err != nil {
		log.Fatal(err)
	}
	defer in.Free()
	out, err := c.Invoke(context.Background(), "demo.upper", in)
	if err != nil {
		log.Fatal(err)
	}
	defer out.Free()
	fmt.Println(string(out.Bytes()))

	_, err = c.Invoke(context.Background(), "no.such.handler", in)
	fmt.Println(errors.Is(err, ffb.ErrNotFound))
	// Output:
	// HELLO, ARENA
	// true
}

// JSON in, JSON out; buffers are managed for you.
func ExampleClient_InvokeJSON() {
	c, err := ffb.Dial(context.Background(), socketPath)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	var out string
	if err := c.InvokeJSON(context.Background(), "demo.upper", "abc", &out); err != nil {
		log.Fatal(err)
	}
	fmt.Println(out)
	// Output: ABC
}

// ffi.echo moves a handle, not the bytes: the reply is the same Buffer.
func ExampleClient_Echo() {
	c, err := ffb.Dial(context.Background(), socketPath)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	in, _ := c.Alloc(1 << 20)
	defer in.Free()
	in.Bytes()[12345] = 42
	out, err := c.Echo(context.Background(), in)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(out == in, out.Handle() == in.Handle(), out.Len(), out.Bytes()[12345])
	// Output: true true 1048576 42
}

// Pipelining: submit many calls from one goroutine, then collect them.
func ExampleClient_Submit() {
	c, err := ffb.Dial(context.Background(), socketPath)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	var calls []ffb.Call
	for i := 0; i < 4; i++ {
		b, _ := c.FromBytes([]byte{byte('a' + i)})
		defer b.Free()
		call, err := c.Submit(ctx, "ffi.echo", b)
		if err != nil {
			log.Fatal(err)
		}
		calls = append(calls, call)
	}
	for _, call := range calls {
		out, err := call.Wait(ctx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Print(string(out.Bytes()))
	}
	fmt.Println()
	// Output: abcd
}

// Run many calls as one batch: one publish per group of entries, results
// collected in bulk, per-call errors in each BatchCall. The []BatchCall
// and its Buffers can be reused for the next batch.
func ExampleClient_CallBatch() {
	c, err := ffb.Dial(context.Background(), socketPath)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	var calls []ffb.BatchCall
	for _, s := range []string{"one", "two", "three"} {
		in, err := c.FromBytes([]byte(s))
		if err != nil {
			log.Fatal(err)
		}
		defer in.Free()
		calls = append(calls, ffb.BatchCall{Name: "demo.upper", In: in})
	}
	calls = append(calls, ffb.BatchCall{Name: "no.such.handler"})
	err = c.CallBatch(context.Background(), calls)
	fmt.Println("first error is NOT_FOUND:", errors.Is(err, ffb.ErrNotFound))
	for _, bc := range calls {
		if bc.Err != nil {
			fmt.Println(bc.Name, ffb.CodeOf(bc.Err))
			continue
		}
		fmt.Println(string(bc.Out.Bytes()))
		bc.Out.Free() // a reply in a new server block
	}
	// Output:
	// first error is NOT_FOUND: true
	// ONE
	// TWO
	// THREE
	// no.such.handler NOT_FOUND
}
