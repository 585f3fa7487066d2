// childlog.go turns a child's output into log records, one per line.

package ffb

import (
	"bytes"
	"sync/atomic"
)

// maxLogLine caps a record: a longer line is logged in pieces.
const maxLogLine = 16 << 10

// lineLogger is an io.Writer for exec.Cmd.Stdout/Stderr (os/exec calls
// Write from one goroutine). Any bytes are fine: nothing is parsed.
type lineLogger struct {
	o      *startOptions
	stream string
	pid    atomic.Int64
	buf    []byte
}

func (w *lineLogger) Write(b []byte) (int, error) {
	w.buf = append(w.buf, b...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 && len(w.buf) < maxLogLine {
			break
		}
		if i < 0 || i > maxLogLine {
			i = maxLogLine
		}
		w.emit(w.buf[:i])
		if i < len(w.buf) && w.buf[i] == '\n' {
			i++
		}
		w.buf = w.buf[i:]
	}
	if len(w.buf) == 0 {
		w.buf = nil // let a big buffer go
	}
	return len(b), nil
}

// flush logs a last line that had no newline (after the child is waited).
func (w *lineLogger) flush() {
	if len(w.buf) > 0 {
		w.emit(w.buf)
		w.buf = nil
	}
}

func (w *lineLogger) emit(line []byte) {
	w.o.log().Info(string(bytes.TrimRight(line, "\r")), "stream", w.stream, "pid", w.pid.Load())
}
