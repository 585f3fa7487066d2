// status.go owns the stable status-code table shared with the C core
// (include/ffb_status.h) and the typed error built on it.

package ffb

import (
	"errors"
	"strconv"
)

// Code is an ffi-bridge status code. Values are part of the ABI: they
// equal the C enum ffb_status and are never renumbered.
type Code int32

// The status table; keep in the order and with the values of ffb_status.h.
const (
	CodeOK               Code = 0
	CodeNullPointer      Code = 1
	CodeBufferTooSmall   Code = 2
	CodeInvalidUTF8      Code = 3
	CodeSerialization    Code = 4
	CodePanic            Code = 5
	CodeTimeout          Code = 6
	CodeNotFound         Code = 7
	CodeLockPoisoned     Code = 8
	CodeStaleHandle      Code = 9
	CodeDoubleFree       Code = 10
	CodeInvalidHandle    Code = 11
	CodeForeignHandle    Code = 12
	CodeArenaFull        Code = 13
	CodeRingFull         Code = 14
	CodePeerGone         Code = 15
	CodeVersionMismatch  Code = 16
	CodePermissionDenied Code = 17
	CodeInvalidArgument  Code = 18
	CodeProtocol         Code = 19
	CodeTooManySessions  Code = 20
	CodeTooManyCalls     Code = 21
	CodeBadFD            Code = 22
	CodeSystem           Code = 23
	CodeAlreadyExists    Code = 24
	CodeClosed           Code = 25
	CodeWouldBlock       Code = 26
	CodeBusy             Code = 27
	CodeCancelled        Code = 28
	CodeUnknown          Code = 99
)

var codeNames = map[Code]string{
	CodeOK:               "OK",
	CodeNullPointer:      "NULL_POINTER",
	CodeBufferTooSmall:   "BUFFER_TOO_SMALL",
	CodeInvalidUTF8:      "INVALID_UTF8",
	CodeSerialization:    "SERIALIZATION",
	CodePanic:            "PANIC",
	CodeTimeout:          "TIMEOUT",
	CodeNotFound:         "NOT_FOUND",
	CodeLockPoisoned:     "LOCK_POISONED",
	CodeStaleHandle:      "STALE_HANDLE",
	CodeDoubleFree:       "DOUBLE_FREE",
	CodeInvalidHandle:    "INVALID_HANDLE",
	CodeForeignHandle:    "FOREIGN_HANDLE",
	CodeArenaFull:        "ARENA_FULL",
	CodeRingFull:         "RING_FULL",
	CodePeerGone:         "PEER_GONE",
	CodeVersionMismatch:  "VERSION_MISMATCH",
	CodePermissionDenied: "PERMISSION_DENIED",
	CodeInvalidArgument:  "INVALID_ARGUMENT",
	CodeProtocol:         "PROTOCOL",
	CodeTooManySessions:  "TOO_MANY_SESSIONS",
	CodeTooManyCalls:     "TOO_MANY_CALLS",
	CodeBadFD:            "BAD_FD",
	CodeSystem:           "SYSTEM",
	CodeAlreadyExists:    "ALREADY_EXISTS",
	CodeClosed:           "CLOSED",
	CodeWouldBlock:       "WOULD_BLOCK",
	CodeBusy:             "BUSY",
	CodeCancelled:        "CANCELLED",
	CodeUnknown:          "UNKNOWN",
}

// Codes returns every code of the table in ascending order. The slice is
// new on each call.
func Codes() []Code {
	out := make([]Code, 0, len(codeNames))
	for c := CodeOK; c <= CodeCancelled; c++ {
		out = append(out, c)
	}
	return append(out, CodeUnknown)
}

// String returns the stable identifier of c ("NOT_FOUND"), or "CODE(n)"
// for a value outside the table.
func (c Code) String() string {
	if s, ok := codeNames[c]; ok {
		return s
	}
	return "CODE(" + strconv.Itoa(int(c)) + ")"
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

// Sentinels for errors.Is. They carry no message; never modify them.
var (
	ErrNullPointer      = &Error{Code: CodeNullPointer}
	ErrBufferTooSmall   = &Error{Code: CodeBufferTooSmall}
	ErrInvalidUTF8      = &Error{Code: CodeInvalidUTF8}
	ErrSerialization    = &Error{Code: CodeSerialization}
	ErrPanic            = &Error{Code: CodePanic}
	ErrTimeout          = &Error{Code: CodeTimeout}
	ErrNotFound         = &Error{Code: CodeNotFound}
	ErrLockPoisoned     = &Error{Code: CodeLockPoisoned}
	ErrStaleHandle      = &Error{Code: CodeStaleHandle}
	ErrDoubleFree       = &Error{Code: CodeDoubleFree}
	ErrInvalidHandle    = &Error{Code: CodeInvalidHandle}
	ErrForeignHandle    = &Error{Code: CodeForeignHandle}
	ErrArenaFull        = &Error{Code: CodeArenaFull}
	ErrRingFull         = &Error{Code: CodeRingFull}
	ErrPeerGone         = &Error{Code: CodePeerGone}
	ErrVersionMismatch  = &Error{Code: CodeVersionMismatch}
	ErrPermissionDenied = &Error{Code: CodePermissionDenied}
	ErrInvalidArgument  = &Error{Code: CodeInvalidArgument}
	ErrProtocol         = &Error{Code: CodeProtocol}
	ErrTooManySessions  = &Error{Code: CodeTooManySessions}
	ErrTooManyCalls     = &Error{Code: CodeTooManyCalls}
	ErrBadFD            = &Error{Code: CodeBadFD}
	ErrSystem           = &Error{Code: CodeSystem}
	ErrAlreadyExists    = &Error{Code: CodeAlreadyExists}
	ErrClosed           = &Error{Code: CodeClosed}
	ErrWouldBlock       = &Error{Code: CodeWouldBlock}
	ErrBusy             = &Error{Code: CodeBusy}
	ErrCancelled        = &Error{Code: CodeCancelled}
	ErrUnknown          = &Error{Code: CodeUnknown}
)

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
