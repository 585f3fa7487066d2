// Command demo is the Go side of `make demo`: a pure-Go (no cgo) client of
// an ffi-bridge server that shows zero-copy echo, a named JSON call, typed
// errors and latency figures, and exits 0 only if every check passed.
//
//	demo -socket /path/to/server.sock [-c-server] [-n 100000]
//
// Against the Rust example server every check runs. Against `ffb serve`
// (the C server) pass -c-server: demo.json.sum and demo.panic exist only
// in the Rust example, so they are skipped and said so.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"time"

	ffb "github.com/ffi-bridge/ffi-bridge/go"
)

func main() {
	socket := flag.String("socket", "", "server socket path (required)")
	cServer := flag.Bool("c-server", false, "the server is `ffb serve`: skip the Rust-only handlers demo.json.sum and demo.panic")
	n := flag.Int("n", 100000, "echo calls for the latency line")
	flag.Parse()
	if *socket == "" {
		fmt.Fprintln(os.Stderr, "usage: demo -socket PATH [-c-server] [-n N]")
		os.Exit(2)
	}
	if err := run(*socket, *cServer, *n); err != nil {
		fmt.Printf("FAIL: %v\n", err)
		os.Exit(1)
	}
	fmt.Println("all checks passed")
}

func run(socket string, cServer bool, n int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := ffb.Dial(ctx, socket)
	if err != nil {
		return fmt.Errorf("dial %s: %w", socket, err)
	}
	defer c.Close()
	v, err := c.Version(ctx)
	if err != nil {
		return fmt.Errorf("ffi.version: %w", err)
	}
	fmt.Printf("connected: session %d, server version %q, up to %d calls in flight (pure Go, no cgo)\n",
		c.SessionID(), v, c.MaxInflight())

	for _, size := range []int{64, 1 << 20} {
		if err := zeroCopyEcho(ctx, c, size); err != nil {
			return err
		}
	}
	if err := upperAndFail(ctx, c); err != nil {
		return err
	}
	if cServer {
		fmt.Println("demo.json.sum: skipped (-c-server: served only by the Rust example server)")
	} else if err := jsonSum(ctx, c); err != nil {
		return err
	}
	if err := typedErrors(ctx, c, cServer); err != nil {
		return err
	}
	return latency(ctx, c, n)
}

func zeroCopyEcho(ctx context.Context, c *ffb.Client, size int) error {
	buf, err := c.Alloc(size)
	if err != nil {
		return err
	}
	defer buf.Free()
	p := buf.Bytes()
	for i := range p {
		p[i] = byte(i*7 + 3)
	}
	want := bytes.Clone(p)
	h := buf.Handle()
	t0 := time.Now()
	out, err := c.Echo(ctx, buf)
	el := time.Since(t0)
	if err != nil {
		return fmt.Errorf("echo %d B: %w", size, err)
	}
	same := out == buf && out.Handle() == h
	verified := bytes.Equal(out.Bytes(), want)
	fmt.Printf("zero-copy echo %-5s (%7d B): same handle back: %v (%#x), all %d bytes verified: %v, %v\n",
		sizeName(size), size, same, h, size, verified, el.Round(time.Microsecond/10))
	if !same || !verified {
		return fmt.Errorf("echo of %d B: same handle %v, bytes verified %v", size, same, verified)
	}
	return nil
}

// sizeName is "64 B", "4 KiB", "1 MiB".
func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

// upperAndFail shows a callback's new reply block and a callback's own
// error with its message.
func upperAndFail(ctx context.Context, c *ffb.Client) error {
	in, err := c.FromBytes([]byte("hello, arena"))
	if err != nil {
		return err
	}
	defer in.Free()
	out, err := c.Invoke(ctx, "demo.upper", in)
	if err != nil {
		return fmt.Errorf("demo.upper: %w", err)
	}
	got := string(out.Bytes())
	out.Free()
	fmt.Printf("demo.upper \"hello, arena\" -> %q (a new block of the server's)\n", got)
	if got != "HELLO, ARENA" {
		return fmt.Errorf("demo.upper: got %q", got)
	}
	_, err = c.Invoke(ctx, "demo.fail", in)
	fmt.Printf("demo.fail -> %v; errors.Is(err, ffb.ErrInvalidArgument) = %v\n", err, errors.Is(err, ffb.ErrInvalidArgument))
	if !errors.Is(err, ffb.ErrInvalidArgument) {
		return fmt.Errorf("demo.fail: got %v, want INVALID_ARGUMENT", err)
	}
	return nil
}

func jsonSum(ctx context.Context, c *ffb.Client) error {
	in := map[string][]int{"values": {1, 2, 3, 4}}
	var out struct {
		Sum   int `json:"sum"`
		Count int `json:"count"`
	}
	err := c.InvokeJSON(ctx, "demo.json.sum", in, &out)
	if errors.Is(err, ffb.ErrNotFound) {
		return fmt.Errorf("demo.json.sum: %w (is this the C server? then pass -c-server)", err)
	}
	if err != nil {
		return fmt.Errorf("demo.json.sum: %w", err)
	}
	fmt.Printf("demo.json.sum {\"values\":[1,2,3,4]} -> {\"sum\":%d,\"count\":%d}\n", out.Sum, out.Count)
	if out.Sum != 10 || out.Count != 4 {
		return fmt.Errorf("demo.json.sum: got sum %d count %d, want 10 and 4", out.Sum, out.Count)
	}
	return nil
}

func typedErrors(ctx context.Context, c *ffb.Client, cServer bool) error {
	in, err := c.FromBytes([]byte("x"))
	if err != nil {
		return err
	}
	defer in.Free()
	_, err = c.Invoke(ctx, "no.such.handler", in)
	fmt.Printf("no.such.handler -> %v; errors.Is(err, ffb.ErrNotFound) = %v\n", err, errors.Is(err, ffb.ErrNotFound))
	if !errors.Is(err, ffb.ErrNotFound) {
		return fmt.Errorf("no.such.handler: got %v, want NOT_FOUND", err)
	}
	if cServer {
		fmt.Println("demo.panic: skipped (-c-server: served only by the Rust example server)")
		return nil
	}
	_, err = c.Invoke(ctx, "demo.panic", in)
	var fe *ffb.Error
	errors.As(err, &fe)
	fmt.Printf("demo.panic -> %v; errors.Is(err, ffb.ErrPanic) = %v\n", err, errors.Is(err, ffb.ErrPanic))
	if !errors.Is(err, ffb.ErrPanic) {
		return fmt.Errorf("demo.panic: got %v, want PANIC", err)
	}
	// The server survives its callback's panic.
	if _, err := c.Echo(ctx, in); err != nil {
		return fmt.Errorf("echo after the panic: %w", err)
	}
	fmt.Println("server still serving after the panic: true")
	return nil
}

func latency(ctx context.Context, c *ffb.Client, n int) error {
	if n < 1 {
		n = 1
	}
	buf, err := c.Alloc(64)
	if err != nil {
		return err
	}
	defer buf.Free()
	lat := make([]time.Duration, n)
	start := time.Now()
	for i := 0; i < n; i++ {
		t0 := time.Now()
		p := buf.Bytes()
		p[0], p[63] = byte(i), byte(i>>8)
		out, err := c.Echo(ctx, buf)
		if err != nil {
			return fmt.Errorf("echo %d: %w", i, err)
		}
		if q := out.Bytes(); out != buf || q[0] != byte(i) || q[63] != byte(i>>8) {
			return fmt.Errorf("echo %d: wrong reply", i)
		}
		lat[i] = time.Since(t0)
	}
	total := time.Since(start)
	slices.Sort(lat)
	fmt.Printf("echo 64 B x %d (verified): p50 %v, p99 %v, throughput %.0f calls/s\n",
		n, lat[n/2], lat[n*99/100], float64(n)/total.Seconds())
	return nil
}
