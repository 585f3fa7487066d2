// status.go is the hand-written logic over the stable status-code table
// (zstatus.go, generated from include/ffb_status.h by `make gen`): names,
// texts, and the typed error built on the codes.

package ffb

import (
	"errors"
	"strconv"
)

// Code is an ffi-bridge status code. Values are part of the ABI: they
// equal the C enum ffb_status and are never renumbered. The constants
// (CodeOK, CodeNotFound, ...) and the sentinels for errors.Is (ErrNotFound,
// ...; they carry no message, never modify them) are in zstatus.go.
type Code int32

// Codes returns every code of the table in ascending order. The slice is
// new on each call.
func Codes() []Code {
	out := make([]Code, len(codeTable))
	for i := range codeTable {
		out[i] = codeTable[i].code
	}
	return out
}

// codeIndex finds c in codeTable.
var codeIndex = func() map[Code]int {
	m := make(map[Code]int, len(codeTable))
	for i := range codeTable {
		m[codeTable[i].code] = i
	}
	return m
}()

// String returns the stable identifier of c ("NOT_FOUND"), or "CODE(n)"
// for a value outside the table.
func (c Code) String() string {
	if i, ok := codeIndex[c]; ok {
		return codeTable[i].name
	}
	return "CODE(" + strconv.Itoa(int(c)) + ")"
}

// Description returns the English text of c, the one ffb_strerror gives
// in C ("no callback of that name or id"), or "unknown status" for a value
// outside the table.
func (c Code) Description() string {
	if i, ok := codeIndex[c]; ok {
		return codeTable[i].text
	}
	return "unknown status"
}

// Error is the error type of this package: a status Code and an optional
// message (for a callback failure, the UTF-8 message the server sent).
// errors.Is(err, sentinel) holds when the codes are equal.
type Error struct {
	Code    Code
	Message string
	err     error // optional cause, returned by Unwrap
}

// Error returns "ffb: CODE" or "ffb: CODE: message".
func (e *Error) Error() string {
	if e.Message == "" {
		return "ffb: " + e.Code.String()
	}
	return "ffb: " + e.Code.String() + ": " + e.Message
}

// Is reports whether target is an *Error with the same Code, so that the
// sentinels below match any error of their code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Unwrap returns the underlying cause (an OS error, a context error), or
// nil.
func (e *Error) Unwrap() error { return e.err }

// newError builds an *Error with a message.
func newError(c Code, msg string) *Error { return &Error{Code: c, Message: msg} }

// wrapError builds an *Error with a message and a cause.
func wrapError(c Code, msg string, cause error) *Error {
	return &Error{Code: c, Message: msg + ": " + cause.Error(), err: cause}
}

// CodeOf returns the Code of err: CodeOK for nil, the Code of the first
// *Error in err's chain, else CodeUnknown.
func CodeOf(err error) Code {
	if err == nil {
		return CodeOK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeUnknown
}
