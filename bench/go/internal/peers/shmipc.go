package peers

import (
	"encoding/binary"
	"errors"
	"io"
	"net"

	"github.com/cloudwego/shmipc-go"

	"github.com/ffi-bridge/ffi-bridge/bench/internal/measure"
)

// The shmipc-go peer (CloudWeGo): shared-memory buffers plus a Unix socket
// for events. One stream, kept for the whole run; each message is a 4-byte
// length then the payload, written into shmipc's buffers and flushed; the
// server reads it, writes it back and flushes. Memory is a memfd (no
// /dev/shm path), large enough for two 16 MiB payloads in flight.

func init() { register(Peer{Name: "shmipc", Serve: serveShmipc, Dial: dialShmipc}) }

const shmipcCap = 256 << 20

func shmipcConfig() *shmipc.Config {
	c := shmipc.DefaultConfig()
	c.ShareMemoryBufferCap = shmipcCap
	c.MemMapType = shmipc.MemMapTypeMemFd
	c.LogOutput = io.Discard
	return c
}

func serveShmipc(path string) error {
	ln, err := net.Listen("unix", path)
	if err != nil {
		return err
	}
	defer ln.Close()
	for {
		conn, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer conn.Close()
			s, err := shmipc.Server(conn, shmipcConfig())
			if err != nil {
				return
			}
			defer s.Close()
			for {
				st, err := s.AcceptStream()
				if err != nil {
					return
				}
				go echoShmipc(st)
			}
		}()
	}
}

func echoShmipc(st *shmipc.Stream) {
	defer st.Close()
	r, w := st.BufferReader(), st.BufferWriter()
	for {
		hdr, err := r.ReadBytes(4)
		if err != nil {
			return
		}
		n := int(binary.LittleEndian.Uint32(hdr))
		data, err := r.ReadBytes(n)
		if err != nil {
			return
		}
		out, err := w.Reserve(4)
		if err != nil {
			return
		}
		binary.LittleEndian.PutUint32(out, uint32(n))
		if _, err := w.WriteBytes(data); err != nil {
			return
		}
		r.ReleasePreviousRead()
		if err := st.Flush(false); err != nil {
			return
		}
	}
}

func dialShmipc(path string) (measure.Echo, func() error, error) {
	conf := shmipc.DefaultSessionManagerConfig()
	conf.Config = shmipcConfig()
	conf.Network = "unix"
	conf.Address = path
	sm, err := shmipc.NewSessionManager(conf)
	if err != nil {
		return nil, nil, err
	}
	st, err := sm.GetStream()
	if err != nil {
		sm.Close()
		return nil, nil, err
	}
	r, w := st.BufferReader(), st.BufferWriter()
	echo := func(req []byte) ([]byte, error) {
		// the previous reply was read in place; give its buffers back now
		r.ReleasePreviousRead()
		out, err := w.Reserve(4)
		if err != nil {
			return nil, err
		}
		binary.LittleEndian.PutUint32(out, uint32(len(req)))
		if _, err := w.WriteBytes(req); err != nil {
			return nil, err
		}
		if err := st.Flush(false); err != nil {
			return nil, err
		}
		hdr, err := r.ReadBytes(4)
		if err != nil {
			return nil, err
		}
		n := int(binary.LittleEndian.Uint32(hdr))
		if n > 1<<30 {
			return nil, errors.New("shmipc: reply too large")
		}
		data, err := r.ReadBytes(n)
		if err != nil {
			return nil, err
		}
		return data, nil // valid until the next call releases it
	}
	closeFn := func() error {
		sm.PutBack(st)
		return sm.Close()
	}
	return echo, closeFn, nil
}
