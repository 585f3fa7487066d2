// Command crux is the Go shell of the Crux-shaped example
// (rust/examples/crux_core.rs): the Rust core owns the model and the
// logic, this shell owns the world. It registers the effect handlers the
// core calls back -- shell.http.get (against a local HTTP server it
// starts itself, on 127.0.0.1), shell.kv.get / shell.kv.set (a map),
// shell.time.ticks (a stream of timer ticks), shell.ping -- then sends
// events, prints every effect it resolves and the view model, checks the
// view model, and exits 0 only if every check passed.
//
//	crux -socket /path/to/core.sock [-bench N]
//
// With -bench N it also times N event -> effects -> resolve -> view
// cycles of each kind and N Rust -> Go calls, and prints their p50/p99.
package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	ffb "github.com/ffi-bridge/ffi-bridge/go"
)

// weather is what the local weather API knows.
var weather = map[string]struct {
	TempC float64
	Sky   string
}{
	"Paris": {18.5, "cloudy"},
	"Tokyo": {24.0, "sunny"},
}

type shell struct {
	api   string
	quiet bool // bench cycles print nothing
	mu    sync.Mutex
	kv    map[string]string
	http  *http.Client
}

func (s *shell) say(format string, args ...any) {
	if !s.quiet {
		fmt.Printf(format+"\n", args...)
	}
}

func main() {
	socket := flag.String("socket", "", "the crux core's socket path (required)")
	bench := flag.Int("bench", 0, "also time this many cycles of each kind and print p50/p99")
	flag.Parse()
	if *socket == "" {
		fmt.Fprintln(os.Stderr, "usage: crux -socket PATH [-bench N]")
		os.Exit(2)
	}
	if err := run(*socket, *bench); err != nil {
		fmt.Printf("FAIL: %v\n", err)
		os.Exit(1)
	}
	fmt.Println("all checks passed")
}

// serveWeather starts the weather API on a loopback port; returns its URL.
func serveWeather() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/weather", func(w http.ResponseWriter, r *http.Request) {
		city := r.URL.Query().Get("city")
		wx, ok := weather[city]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"city": city, "temp_c": wx.TempC, "sky": wx.Sky})
	})
	go http.Serve(ln, mux)
	return "http://" + ln.Addr().String(), nil
}

func run(socket string, bench int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	api, err := serveWeather()
	if err != nil {
		return err
	}
	c, err := ffb.Dial(ctx, socket)
	if err != nil {
		return fmt.Errorf("dial %s: %w", socket, err)
	}
	defer c.Close()
	s := &shell{api: api, kv: map[string]string{}, http: &http.Client{Timeout: 5 * time.Second}}
	if err := s.register(c); err != nil {
		return err
	}
	fmt.Printf("shell: session %d, weather API at %s\n", c.SessionID(), api)

	events := []map[string]any{
		{"type": "configure", "api": api},
		{"type": "refresh", "city": "Paris"},
		{"type": "refresh", "city": "Paris"},
		{"type": "refresh", "city": "Tokyo"},
		{"type": "increment"},
		{"type": "increment"},
		{"type": "increment"},
		{"type": "watch", "ticks": 3},
	}
	for _, ev := range events {
		out, err := event(ctx, c, ev)
		if err != nil {
			return err
		}
		b, _ := json.Marshal(ev)
		fmt.Printf("event %s -> %d effects resolved\n", b, len(out.Effects))
	}
	var view map[string]any
	if err := c.InvokeJSON(ctx, "core.view", nil, &view); err != nil {
		return fmt.Errorf("core.view: %w", err)
	}
	b, _ := json.Marshal(view)
	fmt.Printf("view %s\n", b)
	want := map[string]any{
		"city": "Tokyo", "weather": "Tokyo: 24.0 °C, sunny", "refreshes": 1.0,
		"count": 3.0, "ticks": 3.0, "effects_resolved": 13.0,
	}
	ok := len(view) == len(want)
	for k, v := range want {
		ok = ok && view[k] == v
	}
	fmt.Printf("view model ok: %t (kv refreshes:Paris = %s, count = %s)\n", ok, s.get("refreshes:Paris"), s.get("count"))
	if !ok {
		return errors.New("the view model is not what the events make")
	}
	_, err = event(ctx, c, map[string]any{"type": "refresh", "city": "Atlantis"})
	var e *ffb.Error
	if !errors.As(err, &e) || e.Code != ffb.CodeInvalidArgument || !strings.Contains(e.Message, "404") {
		return fmt.Errorf("refresh of an unknown city: got %v, want the shell's INVALID_ARGUMENT with the HTTP status", err)
	}
	fmt.Printf("a failed effect fails its event: %s %q\n", e.Code, e.Message)
	if bench > 0 {
		return s.bench(ctx, c, bench)
	}
	return nil
}

type outcome struct {
	Effects   []string `json:"effects"`
	PingP50ns int64    `json:"ping_p50_ns"`
	PingP99ns int64    `json:"ping_p99_ns"`
}

func event(ctx context.Context, c *ffb.Client, ev map[string]any) (outcome, error) {
	var out outcome
	err := c.InvokeJSON(ctx, "core.event", ev, &out)
	return out, err
}

func (s *shell) get(k string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.kv[k]
}

func (s *shell) register(c *ffb.Client) error {
	return errors.Join(
		c.Handle("shell.http.get", func(ctx context.Context, req *ffb.Request) (*ffb.Buffer, error) {
			url := string(req.Bytes())
			hr, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return nil, &ffb.Error{Code: ffb.CodeInvalidArgument, Message: err.Error()}
			}
			resp, err := s.http.Do(hr)
			if err != nil {
				return nil, &ffb.Error{Code: ffb.CodeUnknown, Message: err.Error()}
			}
			defer resp.Body.Close()
			var body json.RawMessage
			if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&body) != nil {
				s.say("effect http.get %s -> %s", url, resp.Status)
				// Not NOT_FOUND: that code means "no such handler" to the
				// transport, which looks the name up again and retries.
				return nil, &ffb.Error{Code: ffb.CodeInvalidArgument, Message: "http.get " + url + ": " + resp.Status}
			}
			s.say("effect http.get %s -> %d %s", url, resp.StatusCode, body)
			return req.Client().FromBytes(body)
		}),
		c.Handle("shell.kv.get", func(ctx context.Context, req *ffb.Request) (*ffb.Buffer, error) {
			k := string(req.Bytes())
			v := s.get(k)
			s.say("effect kv.get %s -> %q", k, v)
			if v == "" {
				return nil, nil
			}
			return req.Client().FromBytes([]byte(v))
		}),
		c.Handle("shell.kv.set", func(ctx context.Context, req *ffb.Request) (*ffb.Buffer, error) {
			var kv struct{ Key, Value string }
			if err := req.JSON(&kv); err != nil {
				return nil, err
			}
			s.mu.Lock()
			s.kv[kv.Key] = kv.Value
			s.mu.Unlock()
			s.say("effect kv.set %s = %q", kv.Key, kv.Value)
			return nil, nil
		}),
		c.HandleStream("shell.time.ticks", func(ctx context.Context, req *ffb.Request, send func(*ffb.Buffer) error) error {
			if req.Len() != 4 {
				return &ffb.Error{Code: ffb.CodeInvalidArgument, Message: "want a u32 count"}
			}
			n := binary.LittleEndian.Uint32(req.Bytes())
			t := time.NewTicker(5 * time.Millisecond)
			defer t.Stop()
			for i := uint32(0); i < n; i++ {
				select {
				case now := <-t.C:
					b, err := req.Client().FromBytes(binary.LittleEndian.AppendUint64(nil, uint64(now.UnixMilli())))
					if err != nil {
						return err
					}
					if err := send(b); err != nil {
						return err
					}
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			s.say("effect time.ticks -> %d ticks", n)
			return nil
		}),
		c.Handle("shell.ping", func(ctx context.Context, req *ffb.Request) (*ffb.Buffer, error) {
			return req.Client().FromBytes(req.Bytes())
		}),
	)
}

// bench times n cycles of each kind and n Rust -> Go calls.
func (s *shell) bench(ctx context.Context, c *ffb.Client, n int) error {
	s.quiet = true
	defer func() { s.quiet = false }()
	cycles := []struct {
		what string
		ev   map[string]any
	}{
		{"increment (1 effect: kv.set)", map[string]any{"type": "increment"}},
		{"refresh (3 effects: kv.get, http.get over TCP, kv.set)", map[string]any{"type": "refresh", "city": "Paris"}},
	}
	for _, cy := range cycles {
		d := make([]time.Duration, 0, n)
		for range n {
			t0 := time.Now()
			if _, err := event(ctx, c, cy.ev); err != nil {
				return err
			}
			var view map[string]any
			if err := c.InvokeJSON(ctx, "core.view", nil, &view); err != nil {
				return err
			}
			d = append(d, time.Since(t0))
		}
		slices.Sort(d)
		fmt.Printf("bench: crux cycle event -> %s -> view, %d cycles: p50 %.1f us p99 %.1f us\n",
			cy.what, n, us(d[len(d)/2]), us(d[len(d)*99/100]))
	}
	// The other direction, for comparison: an event with no effect is one
	// Go -> Rust call of an async handler (on the core's worker pool).
	d := make([]time.Duration, 0, n)
	for range n {
		t0 := time.Now()
		if _, err := event(ctx, c, map[string]any{"type": "configure", "api": s.api}); err != nil {
			return err
		}
		d = append(d, time.Since(t0))
	}
	slices.Sort(d)
	fmt.Printf("bench: Go -> Rust call round trip (an async handler, no effect), %d calls: p50 %.1f us p99 %.1f us\n",
		n, us(d[len(d)/2]), us(d[len(d)*99/100]))
	out, err := event(ctx, c, map[string]any{"type": "ping", "n": n})
	if err != nil {
		return err
	}
	fmt.Printf("bench: Rust -> Go call round trip (64 B, from an async handler), %d calls: p50 %.1f us p99 %.1f us\n",
		n, float64(out.PingP50ns)/1e3, float64(out.PingP99ns)/1e3)
	return nil
}

func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
