// Command workplugin is the go-plugin peer's plugin process: it serves
// the Rust work functions (bench/rust/work, linked as a staticlib through
// cgo) over go-plugin's gRPC transport. It is launched by the host
// (pluginpeer.Launch), never by hand; it pins every thread to CPU 0 with
// GOMAXPROCS=1, like the other peers' servers, unless launched with
// FFB_WORK_PLUGIN_UNPINNED=1 (the concurrency workload).
package main

import (
	"fmt"
	"os"

	"github.com/hashicorp/go-plugin"

	"github.com/ffi-bridge/ffi-bridge/bench/internal/pin"
	"github.com/ffi-bridge/ffi-bridge/bench/internal/pluginpeer"
	"github.com/ffi-bridge/ffi-bridge/bench/internal/rustcgo"
)

type rust struct{}

func (rust) Empty()                    { rustcgo.Empty() }
func (rust) Checksum(in []byte) uint64 { return rustcgo.Checksum(in) }
func (rust) Spin(i, s uint64) uint64   { return rustcgo.Spin(i, s) }

func (rust) Echo(in []byte) []byte {
	out := make([]byte, len(in))
	rustcgo.Echo(in, out)
	return out
}

func (rust) Transform(in []byte) []byte {
	out := make([]byte, len(in))
	rustcgo.Transform(in, out)
	return out
}

func (rust) QuoteJSON(in []byte) ([]byte, error) { return rustcgo.QuoteJSON(in, make([]byte, 0, 4096)) }

func main() {
	if os.Getenv("FFB_WORK_PLUGIN_UNPINNED") != "1" {
		if err := pin.PinProcess(pin.Server); err != nil {
			fmt.Fprintln(os.Stderr, "workplugin:", err)
			os.Exit(1)
		}
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: pluginpeer.Handshake,
		Plugins:         plugin.PluginSet{"work": &pluginpeer.Plugin{Impl: rust{}}},
		GRPCServer:      pluginpeer.ServeGRPC,
	})
}
