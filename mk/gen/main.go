// Command gen writes every per-language copy of the protocol from the C
// headers, in the manner of x/sys/unix's mkerrors and cgo -godefs: the
// compilers are the parser (see cfacts.go), this program only prints.
//
//	go run ./mk/gen -root .     (what `make gen` runs)
//
// Reads include/ffb_status.h, include/ffb_layout.h and the plain structs
// of include/ffb.h; writes go/zlayout.go, go/zstatus.go,
// go/zfields_test.go, rust/src/zlayout.rs, rust/src/zapi.rs,
// rust/src/zstatus.rs, src/zstatus.c, tests/zfields.h and the generated
// tables of PROTOCOL.md. A file whose bytes would not change is not
// touched. The output depends only on the headers and the compilers, so
// `make gen-check` (gen, then git diff) guards every copy.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	root := flag.String("root", ".", "the repository root")
	cc := flag.String("cc", envOr("CC", "cc"), "C compiler for the preprocessor and the probe")
	clang := flag.String("clang", envOr("CLANG", "clang"), "clang, for its JSON AST")
	flag.Parse()
	if err := run(*root, *cc, *clang); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func run(root, cc, clang string) error {
	tmp, err := os.MkdirTemp("", "ffb-gen-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	f, err := collect(&tool{root: root, cc: cc, clang: clang, tmp: tmp})
	if err != nil {
		return err
	}
	if err := sane(f); err != nil {
		return err
	}
	outputs := []struct {
		path string
		emit func(*Facts) ([]byte, error)
	}{
		{"go/zlayout.go", emitGoLayout},
		{"go/zstatus.go", emitGoStatus},
		{"go/zfields_test.go", emitGoFields},
		{"rust/src/zlayout.rs", emitRustLayout},
		{"rust/src/zapi.rs", emitRustAPI},
		{"rust/src/zstatus.rs", emitRustStatus},
		{"src/zstatus.c", emitCStatus},
		{"tests/zfields.h", emitCFields},
	}
	for _, o := range outputs {
		b, err := o.emit(f)
		if err != nil {
			return err
		}
		if err := write(filepath.Join(root, o.path), b); err != nil {
			return err
		}
	}
	proto := filepath.Join(root, "PROTOCOL.md")
	doc, err := os.ReadFile(proto)
	if err != nil {
		return err
	}
	b, err := rewriteProtocol(f, doc)
	if err != nil {
		return err
	}
	return write(proto, b)
}

// sane refuses headers the outputs could not represent.
func sane(f *Facts) error {
	e := f.enumByName("ffb_status")
	if e == nil || len(e.Values) == 0 {
		return fmt.Errorf("%s: no enum ffb_status", hdrStatus)
	}
	seen := map[int64]string{}
	for i, v := range e.Values {
		if prev, dup := seen[v.Value]; dup {
			return fmt.Errorf("%s: %s and %s share value %d", hdrStatus, prev, v.Name, v.Value)
		}
		if i > 0 && v.Value < e.Values[i-1].Value {
			return fmt.Errorf("%s: %s = %d is out of value order", hdrStatus, v.Name, v.Value)
		}
		seen[v.Value] = v.Name
	}
	for _, s := range f.Structs {
		if s.Size == 0 {
			return fmt.Errorf("struct %s: the probe gave no size", s.Name)
		}
	}
	return nil
}

func write(path string, b []byte) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, b) {
		return nil
	}
	return os.WriteFile(path, b, 0o644)
}
