package peers_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ffi-bridge/ffi-bridge/bench/internal/measure"
	"github.com/ffi-bridge/ffi-bridge/bench/internal/peers"
)

// dial serves peer name in this process (a goroutine, no pinning: these
// tests check the peers; ffbbench does the placed measurements) and
// connects a client to it.
func dial(tb testing.TB, name string) measure.Echo {
	tb.Helper()
	p, err := peers.Lookup(name)
	if err != nil {
		tb.Fatal(err)
	}
	sock := filepath.Join(tb.TempDir(), name+".sock")
	go p.Serve(sock) //nolint:errcheck // ends with the process
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s: socket never appeared", name)
		}
		time.Sleep(time.Millisecond)
	}
	echo, closeFn, err := p.Dial(sock)
	if err != nil {
		tb.Fatalf("%s: dial: %v", name, err)
	}
	tb.Cleanup(func() { closeFn() })
	return echo
}

func TestPeersEchoEveryByte(t *testing.T) {
	for _, name := range peers.Names() {
		t.Run(name, func(t *testing.T) {
			echo := dial(t, name)
			for i, n := range []int{64, 4096, 65536, 1 << 20, 64, 3 << 20} {
				req := measure.NewPayload(n)
				measure.Stamp(req, uint64(i)+1)
				got, err := echo(req)
				if err != nil {
					t.Fatalf("echo %d bytes: %v", n, err)
				}
				if err := measure.Verify(got, req); err != nil {
					t.Fatalf("echo %d bytes: %v", n, err)
				}
			}
		})
	}
}

func TestLookupUnknownPeer(t *testing.T) {
	if _, err := peers.Lookup("carrier-pigeon"); err == nil {
		t.Fatal("got nil error for an unknown peer, want one")
	}
}

func BenchmarkPeerEcho(b *testing.B) {
	for _, name := range peers.Names() {
		for _, n := range []int{64, 4096, 65536, 1 << 20} {
			b.Run(fmt.Sprintf("%s/%d", name, n), func(b *testing.B) {
				echo := dial(b, name)
				req := measure.NewPayload(n)
				b.SetBytes(int64(n))
				b.ReportAllocs()
				seq := uint64(0)
				for b.Loop() {
					seq++
					measure.Stamp(req, seq)
					got, err := echo(req)
					if err != nil {
						b.Fatal(err)
					}
					if err := measure.VerifyStamps(got, req); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
