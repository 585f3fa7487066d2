package peers

import (
	"context"
	"errors"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/ffi-bridge/ffi-bridge/bench/internal/measure"
)

// The gRPC peer: a unary method /ffb.bench.Echo/Echo over a Unix socket,
// with a codec that passes raw bytes (no protobuf code generation; the
// cost measured is gRPC's framing, HTTP/2 and scheduling, not a
// serializer). Message size limits are raised to fit 16 MiB payloads.

func init() { register(Peer{Name: "grpc", Serve: serveGRPC, Dial: dialGRPC}) }

const grpcMethod = "/ffb.bench.Echo/Echo"
const grpcMaxMsg = 64 << 20

// rawCodec marshals *[]byte as itself.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) {
	p, ok := v.(*[]byte)
	if !ok {
		return nil, errors.New("rawCodec: want *[]byte")
	}
	return *p, nil
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	p, ok := v.(*[]byte)
	if !ok {
		return errors.New("rawCodec: want *[]byte")
	}
	*p = append((*p)[:0], data...)
	return nil
}

func (rawCodec) Name() string { return "ffb-raw" }

type echoService interface{}

var grpcDesc = grpc.ServiceDesc{
	ServiceName: "ffb.bench.Echo",
	HandlerType: (*echoService)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Echo",
		Handler: func(_ any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			var in []byte
			if err := dec(&in); err != nil {
				return nil, err
			}
			return &in, nil
		},
	}},
}

func serveGRPC(path string) error {
	ln, err := net.Listen("unix", path)
	if err != nil {
		return err
	}
	s := grpc.NewServer(grpc.ForceServerCodec(rawCodec{}),
		grpc.MaxRecvMsgSize(grpcMaxMsg), grpc.MaxSendMsgSize(grpcMaxMsg))
	s.RegisterService(&grpcDesc, struct{}{})
	return s.Serve(ln)
}

func dialGRPC(path string) (measure.Echo, func() error, error) {
	cc, err := grpc.NewClient("unix://"+path,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{}),
			grpc.MaxCallRecvMsgSize(grpcMaxMsg), grpc.MaxCallSendMsgSize(grpcMaxMsg)))
	if err != nil {
		return nil, nil, err
	}
	ctx := context.Background()
	var resp []byte
	echo := func(req []byte) ([]byte, error) {
		err := cc.Invoke(ctx, grpcMethod, &req, &resp)
		return resp, err
	}
	return echo, cc.Close, nil
}
