package peers

import (
	"encoding/binary"
	"errors"
	"io"
	"net"

	"github.com/ffi-bridge/ffi-bridge/bench/internal/measure"
)

// The UDS peer: a SOCK_STREAM Unix socket, each message a 4-byte
// little-endian length then the payload; the server writes back the same
// frame. Client and server go through the Go netpoller, as a Go user's
// code would.

func init() { register(Peer{Name: "uds", Serve: serveUDS, Dial: dialUDS}) }

func serveUDS(path string) error {
	ln, err := net.Listen("unix", path)
	if err != nil {
		return err
	}
	defer ln.Close()
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go echoUDS(c)
	}
}

func echoUDS(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 4+64)
	for {
		if _, err := io.ReadFull(c, buf[:4]); err != nil {
			return
		}
		n := int(binary.LittleEndian.Uint32(buf))
		if 4+n > cap(buf) {
			buf = append(buf[:4], make([]byte, n)...)
		}
		if _, err := io.ReadFull(c, buf[4:4+n]); err != nil {
			return
		}
		if _, err := c.Write(buf[:4+n]); err != nil {
			return
		}
	}
}

func dialUDS(path string) (measure.Echo, func() error, error) {
	c, err := net.Dial("unix", path)
	if err != nil {
		return nil, nil, err
	}
	var hdr [4]byte
	var resp []byte
	echo := func(req []byte) ([]byte, error) {
		binary.LittleEndian.PutUint32(hdr[:], uint32(len(req)))
		bufs := net.Buffers{hdr[:], req} // one writev
		if _, err := bufs.WriteTo(c); err != nil {
			return nil, err
		}
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			return nil, err
		}
		n := int(binary.LittleEndian.Uint32(hdr[:]))
		if n > 1<<30 {
			return nil, errors.New("uds: reply too large")
		}
		if n > cap(resp) {
			resp = make([]byte, n)
		}
		resp = resp[:n]
		_, err := io.ReadFull(c, resp)
		return resp, err
	}
	return echo, c.Close, nil
}
