// Package pluginpeer is the hashicorp/go-plugin peer: a supervised plugin
// process (bench/go/cmd/workplugin, which links the Rust work functions
// through cgo) serving them over go-plugin's gRPC transport, and the host
// side that launches it and calls it. The service is hand-written
// (grpc.ServiceDesc, no generated code) with a raw-bytes codec chosen by
// content subtype, so go-plugin's own protobuf services are untouched and
// the cost measured is go-plugin's gRPC path, not a serializer.
package pluginpeer

import (
	"context"
	"encoding/binary"
	"errors"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
)

// Handshake is the cookie host and plugin must agree on.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "FFB_BENCH_WORK_PLUGIN",
	MagicCookieValue: "checksum-transform-quote-spin",
}

// MaxMsg fits 16 MiB payloads.
const MaxMsg = 64 << 20

const codecName = "ffb-work-raw"

// rawCodec marshals *[]byte as itself.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) {
	p, ok := v.(*[]byte)
	if !ok {
		return nil, errors.New("ffb-work-raw: want *[]byte")
	}
	return *p, nil
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	p, ok := v.(*[]byte)
	if !ok {
		return errors.New("ffb-work-raw: want *[]byte")
	}
	*p = append((*p)[:0], data...)
	return nil
}

func (rawCodec) Name() string { return codecName }

func init() { encoding.RegisterCodec(rawCodec{}) }

// Functions is what the plugin process serves: bytes in, bytes out.
type Functions interface {
	Empty()
	Echo(in []byte) []byte
	Checksum(in []byte) uint64
	Transform(in []byte) []byte
	QuoteJSON(in []byte) ([]byte, error)
	Spin(iters, seed uint64) uint64
}

const service = "ffb.bench.Work"

type unary func(f Functions, in []byte) ([]byte, error)

var methods = map[string]unary{
	"Empty": func(f Functions, _ []byte) ([]byte, error) { f.Empty(); return nil, nil },
	"Echo":  func(f Functions, in []byte) ([]byte, error) { return f.Echo(in), nil },
	"Checksum": func(f Functions, in []byte) ([]byte, error) {
		return binary.LittleEndian.AppendUint64(nil, f.Checksum(in)), nil
	},
	"Transform": func(f Functions, in []byte) ([]byte, error) { return f.Transform(in), nil },
	"Quote":     func(f Functions, in []byte) ([]byte, error) { return f.QuoteJSON(in) },
	"Spin": func(f Functions, in []byte) ([]byte, error) {
		if len(in) != 16 {
			return nil, errors.New("Spin: want 16 bytes")
		}
		v := f.Spin(binary.LittleEndian.Uint64(in), binary.LittleEndian.Uint64(in[8:]))
		return binary.LittleEndian.AppendUint64(nil, v), nil
	},
}

func serviceDesc() *grpc.ServiceDesc {
	d := &grpc.ServiceDesc{ServiceName: service, HandlerType: (*Functions)(nil)}
	for name, m := range methods {
		d.Methods = append(d.Methods, grpc.MethodDesc{
			MethodName: name,
			Handler: func(srv any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
				var in []byte
				if err := dec(&in); err != nil {
					return nil, err
				}
				out, err := m(srv.(Functions), in)
				return &out, err
			},
		})
	}
	return d
}

// Plugin is the go-plugin GRPCPlugin of the work service: Impl on the
// plugin side, nil on the host side.
type Plugin struct {
	plugin.NetRPCUnsupportedPlugin
	Impl Functions
}

// GRPCServer registers the service (plugin side).
func (p *Plugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	s.RegisterService(serviceDesc(), p.Impl)
	return nil
}

// GRPCClient returns a *Conn over the plugin's connection (host side).
func (p *Plugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, cc *grpc.ClientConn) (any, error) {
	return &Conn{cc: cc}, nil
}

// Conn calls the plugin's methods.
type Conn struct{ cc *grpc.ClientConn }

// Call invokes method with in and returns the answer in *out.
func (c *Conn) Call(ctx context.Context, method string, in []byte, out *[]byte) error {
	return c.cc.Invoke(ctx, "/"+service+"/"+method, &in, out, grpc.CallContentSubtype(codecName))
}

// ServeGRPC is the plugin process's gRPC server: go-plugin's options plus
// message limits that fit 16 MiB.
func ServeGRPC(opts []grpc.ServerOption) *grpc.Server {
	return plugin.DefaultGRPCServer(append(opts, grpc.MaxRecvMsgSize(MaxMsg), grpc.MaxSendMsgSize(MaxMsg)))
}
