// status_test.go checks the lookups over the generated code table and
// the typed errors built on it.

package ffb_test

import (
	"errors"
	"fmt"
	"testing"

	ffb "github.com/ffi-bridge/ffi-bridge/go"
)

// The table itself is generated from include/ffb_status.h (zstatus.go;
// CI's `make gen-check` guards it). Here: the stable values and the
// lookups built on it.
func TestStableCodesKeepTheirValues(t *testing.T) {
	for _, c := range []struct {
		code ffb.Code
		name string
		v    int
	}{
		{ffb.CodeOK, "OK", 0}, {ffb.CodeNullPointer, "NULL_POINTER", 1}, {ffb.CodeBufferTooSmall, "BUFFER_TOO_SMALL", 2},
		{ffb.CodeInvalidUTF8, "INVALID_UTF8", 3}, {ffb.CodeSerialization, "SERIALIZATION", 4}, {ffb.CodePanic, "PANIC", 5},
		{ffb.CodeTimeout, "TIMEOUT", 6}, {ffb.CodeNotFound, "NOT_FOUND", 7}, {ffb.CodeLockPoisoned, "LOCK_POISONED", 8},
		{ffb.CodeUnknown, "UNKNOWN", 99},
	} {
		if int(c.code) != c.v || c.code.String() != c.name {
			t.Errorf("%s: got %d named %s, want %d", c.name, int(c.code), c.code, c.v)
		}
	}
	seen := map[string]bool{}
	codes := ffb.Codes()
	for i, c := range codes {
		if seen[c.String()] || c.Description() == "unknown status" {
			t.Errorf("code %d (%s): duplicate name or no text", int(c), c)
		}
		seen[c.String()] = true
		if i > 0 && c <= codes[i-1] {
			t.Errorf("Codes() out of order at %d", int(c))
		}
	}
	if got := ffb.CodeNotFound.Description(); got != "no callback of that name or id" {
		t.Errorf("NOT_FOUND text: got %q", got)
	}
	if got := ffb.Code(1234).Description(); got != "unknown status" {
		t.Errorf("text of an unknown code: got %q", got)
	}
}

func TestErrorsIsMatchesByCode(t *testing.T) {
	err := fmt.Errorf("wrapped: %w", &ffb.Error{Code: ffb.CodeNotFound, Message: "no.such"})
	if !errors.Is(err, ffb.ErrNotFound) {
		t.Errorf("errors.Is(%v, ErrNotFound): got false, want true", err)
	}
	if errors.Is(err, ffb.ErrTimeout) {
		t.Errorf("errors.Is(%v, ErrTimeout): got true, want false", err)
	}
	if got := ffb.CodeOf(err); got != ffb.CodeNotFound {
		t.Errorf("CodeOf: got %v, want NOT_FOUND", got)
	}
	if got, want := err.Error(), "wrapped: ffb: NOT_FOUND: no.such"; got != want {
		t.Errorf("message: got %q, want %q", got, want)
	}
	if got := ffb.Code(1234).String(); got != "CODE(1234)" {
		t.Errorf("unknown code name: got %q", got)
	}
}
