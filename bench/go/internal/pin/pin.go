// Package pin places benchmark processes on CPUs: the server side of every
// measurement runs on CPU 0 and the client side on CPU 1.
//
// PinProcess pins every thread the Go runtime has started so far (threads
// it starts later inherit the mask of the thread that creates them) and
// locks the calling goroutine to its OS thread. StartPinned starts a child
// process whose threads all begin life on the given CPU, so its runtime
// sees one CPU from the start.
package pin

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// Server and Client are the CPUs of the two sides of every benchmark.
const (
	Server = 0
	Client = 1
)

func set(cpu int) *unix.CPUSet {
	var s unix.CPUSet
	s.Zero()
	s.Set(cpu)
	return &s
}

// PinProcess locks the calling goroutine to its thread, pins every thread of
// this process to cpu and sets GOMAXPROCS to 1. Returns an error if the
// kernel refuses a thread.
func PinProcess(cpu int) error {
	runtime.LockOSThread()
	runtime.GOMAXPROCS(1)
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, set(cpu)); err != nil {
			return fmt.Errorf("pin thread %d to cpu %d: %w", tid, cpu, err)
		}
	}
	return nil
}

// StartPinned starts cmd with its initial thread pinned to cpu: it pins the
// calling (locked) thread to cpu, forks, and restores the thread's mask.
// The caller must have called PinProcess (the goroutine must be locked).
func StartPinned(cmd *exec.Cmd, cpu int) error {
	var old unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		return err
	}
	if err := unix.SchedSetaffinity(0, set(cpu)); err != nil {
		return err
	}
	err := cmd.Start()
	if rerr := unix.SchedSetaffinity(0, &old); err == nil {
		err = rerr
	}
	return err
}
