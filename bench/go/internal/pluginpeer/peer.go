package pluginpeer

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/ffi-bridge/ffi-bridge/bench/internal/work"
)

// Placement of the go-plugin measurements.
const Placement = "plugin process CPU0 (GOMAXPROCS=1, all threads pinned), host process CPU1"

// Peer implements work.Peer by launching the plugin binary and calling it.
type Peer struct {
	client *plugin.Client
	conn   *Conn
	ctx    context.Context
	in     []byte
	out    []byte

	placement string
}

// UnpinnedEnv, set in the plugin's environment, keeps it off CPU 0 (it
// then runs where the host lets it, with the runtime's GOMAXPROCS).
const UnpinnedEnv = "FFB_WORK_PLUGIN_UNPINNED=1"

// Launch starts the plugin at path (pinned to CPU 0, or unpinned) and
// dispenses its work service.
func Launch(path string, pinned bool) (*Peer, error) {
	cmd := exec.Command(path)
	placement := Placement
	if !pinned {
		cmd.Env = append(os.Environ(), UnpinnedEnv)
		placement = "plugin process and host process both unpinned (2 CPUs)"
	}
	c := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  Handshake,
		Plugins:          plugin.PluginSet{"work": &Plugin{}},
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           hclog.New(&hclog.LoggerOptions{Level: hclog.Error, Name: "workplugin"}),
		GRPCDialOptions: []grpc.DialOption{grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(MaxMsg), grpc.MaxCallSendMsgSize(MaxMsg))},
	})
	rpc, err := c.Client()
	if err != nil {
		c.Kill()
		return nil, fmt.Errorf("go-plugin: start %s: %w", path, err)
	}
	raw, err := rpc.Dispense("work")
	if err != nil {
		c.Kill()
		return nil, fmt.Errorf("go-plugin: dispense: %w", err)
	}
	return &Peer{client: c, conn: raw.(*Conn), ctx: context.Background(), placement: placement}, nil
}

func (p *Peer) Name() string      { return "go-plugin" }
func (p *Peer) Placement() string { return p.placement }
func (p *Peer) Concurrent() bool  { return true }
func (p *Peer) Close() error      { p.client.Kill(); return nil }

func (p *Peer) Input(n int) ([]byte, error) {
	if len(p.in) != n {
		p.in = make([]byte, n)
	}
	return p.in, nil
}

func (p *Peer) Empty() error {
	var out []byte
	return p.conn.Call(p.ctx, "Empty", nil, &out)
}

func (p *Peer) Echo(n int) ([]byte, error) {
	err := p.conn.Call(p.ctx, "Echo", p.in[:n], &p.out)
	return p.out, err
}

func (p *Peer) Checksum(n int) (uint64, error) {
	if err := p.conn.Call(p.ctx, "Checksum", p.in[:n], &p.out); err != nil {
		return 0, err
	}
	if len(p.out) != 8 {
		return 0, fmt.Errorf("go-plugin Checksum: %d bytes, want 8", len(p.out))
	}
	return binary.LittleEndian.Uint64(p.out), nil
}

func (p *Peer) Transform(n int) ([]byte, error) {
	err := p.conn.Call(p.ctx, "Transform", p.in[:n], &p.out)
	return p.out, err
}

// Quote: encoding/json on the host, the JSON bytes over gRPC, serde_json
// in the plugin's Rust code, and back.
func (p *Peer) Quote(o *work.Order, q *work.Quote) error {
	in, err := json.Marshal(o)
	if err != nil {
		return err
	}
	var out []byte
	if err := p.conn.Call(p.ctx, "Quote", in, &out); err != nil {
		return err
	}
	return json.Unmarshal(out, q)
}

// Spin is safe for concurrent use (each call has its own buffers).
func (p *Peer) Spin(iters, seed uint64) (uint64, error) {
	in := make([]byte, 16)
	work.SpinArgs(in, iters, seed)
	var out []byte
	if err := p.conn.Call(p.ctx, "Spin", in, &out); err != nil {
		return 0, err
	}
	if len(out) != 8 {
		return 0, fmt.Errorf("go-plugin Spin: %d bytes, want 8", len(out))
	}
	return binary.LittleEndian.Uint64(out), nil
}
