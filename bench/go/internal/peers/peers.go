// Package peers holds the alternative transports a user would pick instead
// of ffi-bridge, each as an echo server and a client: the server returns
// the payload it got, the client checks every byte (see measure.RunEcho).
//
// Every peer listens on a Unix socket at a path the caller chooses (a fresh
// temporary directory, never a fixed path).
package peers

import (
	"fmt"
	"sort"

	"github.com/ffi-bridge/ffi-bridge/bench/internal/measure"
)

// Peer is one transport: Serve blocks serving echo on path; Dial connects
// a client and returns its echo call and a close function.
type Peer struct {
	Name  string
	Serve func(path string) error
	Dial  func(path string) (measure.Echo, func() error, error)
}

var registry = map[string]Peer{}

func register(p Peer) { registry[p.Name] = p }

// Lookup returns the peer called name.
func Lookup(name string) (Peer, error) {
	p, ok := registry[name]
	if !ok {
		return Peer{}, fmt.Errorf("unknown peer %q (have %v)", name, Names())
	}
	return p, nil
}

// Names lists the registered peers.
func Names() []string {
	var n []string
	for k := range registry {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}
