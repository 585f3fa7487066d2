package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/ffi-bridge/ffi-bridge/bench/internal/measure"
	"github.com/ffi-bridge/ffi-bridge/bench/internal/peers"
	"github.com/ffi-bridge/ffi-bridge/bench/internal/pin"
)

const placement = "server process CPU0, client process CPU1 (each GOMAXPROCS=1, all threads pinned)"

// withServer starts `ffbbench serve -peer name` pinned to CPU 0 on a socket
// in a fresh temporary directory, connects a client, runs fn with its echo
// call, and tears everything down.
func withServer(name string, fn func(measure.Echo) error) error {
	p, err := peers.Lookup(name)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "ffbbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, name+".sock")
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(self, "serve", "-peer", name, "-socket", sock)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := pin.StartPinned(cmd, pin.Server); err != nil {
		return err
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	if err := waitForSocket(sock, 10*time.Second); err != nil {
		return fmt.Errorf("%s server: %w", name, err)
	}
	echo, closeFn, err := p.Dial(sock)
	if err != nil {
		return fmt.Errorf("%s dial: %w", name, err)
	}
	defer closeFn()
	return fn(echo)
}

func waitForSocket(path string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		c, err := net.Dial("unix", path)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("socket %s not ready: %w", path, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
