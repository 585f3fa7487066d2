package workload

import (
	"fmt"
	"path/filepath"

	"github.com/ffi-bridge/ffi-bridge/bench/internal/ffbwork"
	"github.com/ffi-bridge/ffi-bridge/bench/internal/pin"
	"github.com/ffi-bridge/ffi-bridge/bench/internal/pluginpeer"
	"github.com/ffi-bridge/ffi-bridge/bench/internal/rustcgo"
	"github.com/ffi-bridge/ffi-bridge/bench/internal/rustpurego"
	"github.com/ffi-bridge/ffi-bridge/bench/internal/wasmpeer"
	"github.com/ffi-bridge/ffi-bridge/bench/internal/work"
)

// Peer names, as the harness's -peers flag takes them.
var PeerNames = []string{"ffb", "cgo", "purego", "wazero", "goplugin"}

// Open starts or loads one peer from the bench build directory (where
// make -C bench puts ffb-work-server, libffbwork.so, work.wasm and
// workplugin). pinned places servers on CPU 0 (the caller is on CPU 1);
// otherwise servers are unpinned and the ffi-bridge client spins 200 us,
// then parks (ffbwork.ClientSpin).
func Open(name, build string, pinned bool) (work.Peer, error) {
	switch name {
	case "ffb":
		cpu := pin.Server
		if !pinned {
			cpu = -1
		}
		return ffbwork.Start(filepath.Join(build, "ffb-work-server"), cpu)
	case "cgo":
		return rustcgo.NewPeer(), nil
	case "purego":
		return rustpurego.Open(filepath.Join(build, "libffbwork.so"))
	case "wazero":
		return wasmpeer.Open(filepath.Join(build, "work.wasm"))
	case "goplugin":
		return pluginpeer.Launch(filepath.Join(build, "workplugin"), pinned)
	}
	return nil, fmt.Errorf("unknown peer %q (have %v)", name, PeerNames)
}
