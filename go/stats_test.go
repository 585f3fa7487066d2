// stats_test.go: QueryStats against a real `ffb serve` counts exactly the
// calls made, per function and status, without being a session; a
// malformed stats request is refused and leaves the session alone.

package ffb_test

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"path/filepath"
	"testing"
	"time"

	ffb "github.com/ffi-bridge/ffi-bridge/go"
)

func functionNamed(s *ffb.ServerStats, name string) *ffb.FunctionStats {
	for i := range s.Functions {
		if s.Functions[i].Name == name {
			return &s.Functions[i]
		}
	}
	return nil
}

func TestQueryStatsCountsTheCallsMade(t *testing.T) {
	s := startServer(t)
	c := dial(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const nEcho, nFail = 300, 4
	buf, err := c.Alloc(64)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < nEcho; i++ {
		if buf, err = c.Echo(ctx, buf); err != nil {
			t.Fatalf("Echo %d: %v", i, err)
		}
	}
	for i := 0; i < nFail; i++ {
		if _, err := c.Invoke(ctx, "demo.fail", nil); ffb.CodeOf(err) != ffb.CodeInvalidArgument {
			t.Fatalf("demo.fail: got %v, want INVALID_ARGUMENT", err)
		}
	}
	st, err := ffb.QueryStats(ctx, s.Socket)
	if err != nil {
		t.Fatalf("QueryStats: %v", err)
	}
	if st.SessionsActive != 1 || st.SessionsTotal != 1 || st.SessionsCut != 0 {
		t.Errorf("sessions: got active %d total %d cut %d, want 1 1 0", st.SessionsActive, st.SessionsTotal, st.SessionsCut)
	}
	if got, want := st.Calls, uint64(nEcho+nFail); got != want {
		t.Errorf("Calls: got %d, want %d", got, want)
	}
	if got := st.Results[ffb.CodeOK]; got != nEcho {
		t.Errorf("Results[OK]: got %d, want %d", got, nEcho)
	}
	if got := st.Results[ffb.CodeInvalidArgument]; got != nFail {
		t.Errorf("Results[INVALID_ARGUMENT]: got %d, want %d", got, nFail)
	}
	echo, fail := functionNamed(st, "ffi.echo"), functionNamed(st, "demo.fail")
	if echo == nil || fail == nil {
		t.Fatalf("functions: got %+v, want ffi.echo and demo.fail", st.Functions)
	}
	if echo.Calls != nEcho || echo.Errors != 0 {
		t.Errorf("ffi.echo: got %d calls %d errors, want %d 0", echo.Calls, echo.Errors, nEcho)
	}
	if fail.Calls != nFail || fail.Errors != nFail {
		t.Errorf("demo.fail: got %d calls %d errors, want %d %d", fail.Calls, fail.Errors, nFail, nFail)
	}
	// A built-in is counted, not timed; a callback's every call is timed.
	if p50 := echo.Quantile(0.5); p50 != 0 {
		t.Errorf("ffi.echo (a built-in, not timed): got p50 %v, want 0", p50)
	}
	if p50, p99 := fail.Quantile(0.5), fail.Quantile(0.99); p50 <= 0 || p99 < p50 {
		t.Errorf("demo.fail quantiles: got p50 %v p99 %v", p50, p99)
	}
	if st.FunctionsTotal != len(st.Functions) || st.Uptime <= 0 || st.StatsRequests != 1 {
		t.Errorf("got FunctionsTotal %d of %d, Uptime %v, StatsRequests %d", st.FunctionsTotal, len(st.Functions), st.Uptime, st.StatsRequests)
	}
	// Asking was no session: the client still works.
	if _, err := c.Echo(ctx, buf); err != nil {
		t.Fatalf("Echo after QueryStats: %v", err)
	}
}

func TestQueryStatsRefusals(t *testing.T) {
	s := startServer(t)
	c := dial(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// 40 bytes with the stats magic: PROTOCOL, as the header alone.
	conn, err := net.Dial("unixpacket", s.Socket)
	if err != nil {
		t.Fatal(err)
	}
	req := make([]byte, 40)
	binary.LittleEndian.PutUint64(req, 0x5354415453424646) // "FFBSTATS"
	binary.LittleEndian.PutUint32(req[8:], 4)
	if _, err := conn.Write(req); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	reply := make([]byte, 128)
	n, err := conn.Read(reply)
	conn.Close()
	if err != nil || n != 56 {
		t.Fatalf("malformed request: got %d bytes, %v; want a 56-byte refusal", n, err)
	}
	if got := ffb.Code(int32(binary.LittleEndian.Uint32(reply[12:]))); got != ffb.CodeProtocol {
		t.Errorf("malformed request: got status %v, want PROTOCOL", got)
	}

	st, err := ffb.QueryStats(ctx, s.Socket)
	if err != nil {
		t.Fatal(err)
	}
	if st.StatsRefused != 1 || st.SessionsActive != 1 || st.SessionsCut != 0 || st.SessionsRefused != 0 {
		t.Errorf("got StatsRefused %d, sessions active %d cut %d refused %d; want 1 1 0 0", st.StatsRefused, st.SessionsActive, st.SessionsCut, st.SessionsRefused)
	}
	if _, err := c.Version(ctx); err != nil {
		t.Fatalf("the session after a malformed stats request: %v", err)
	}

	_, err = ffb.QueryStats(ctx, filepath.Join(t.TempDir(), "none.sock"))
	if !errors.Is(err, ffb.ErrPeerGone) {
		t.Errorf("QueryStats of no server: got %v, want PEER_GONE", err)
	}
}
