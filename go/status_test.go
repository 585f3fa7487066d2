// status_test.go checks the Go code table against include/ffb_status.h,
// parsed from the C header itself.

package ffb_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	ffb "github.com/ffi-bridge/ffi-bridge/go"
)

func TestCodesMatchCHeader(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "include", "ffb_status.h"))
	if err != nil {
		t.Fatalf("read the C status header: %v", err)
	}
	re := regexp.MustCompile(`(?m)^\s*FFB_(OK|ERR_([A-Z0-9_]+))\s*=\s*(\d+)\s*,?`)
	matches := re.FindAllStringSubmatch(string(src), -1)
	if len(matches) < 20 {
		t.Fatalf("parsed only %d codes from ffb_status.h", len(matches))
	}
	cCodes := map[ffb.Code]string{}
	for _, m := range matches {
		name := m[2]
		if m[1] == "OK" {
			name = "OK"
		}
		v, _ := strconv.Atoi(m[3])
		cCodes[ffb.Code(v)] = name
	}
	goCodes := ffb.Codes()
	if len(goCodes) != len(cCodes) {
		t.Errorf("number of codes: got %d in Go, want %d as in C", len(goCodes), len(cCodes))
	}
	for _, c := range goCodes {
		if want, ok := cCodes[c]; !ok {
			t.Errorf("Go code %d (%s) is not in the C header", int(c), c)
		} else if c.String() != want {
			t.Errorf("code %d: got name %s, want %s", int(c), c, want)
		}
	}
	for v, name := range cCodes {
		if ffb.Code(v).String() != name {
			t.Errorf("C code %s = %d: Go names it %s", name, int(v), ffb.Code(v))
		}
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
