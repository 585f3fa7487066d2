// cfacts.go asks the C compilers what the headers say: the preprocessor
// lists the FFB_* macros in source order with the header each comes from
// (cc -E -dD), clang's JSON AST gives the structs, their fields and the
// enums with their doc comments (clang -Xclang -ast-dump=json), and a
// generated probe, compiled and run, prints every macro value, enumerator
// value, sizeof and offsetof. Nothing here reads C source text itself.

package main

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// The headers this generator reads, in the order a name is attributed to
// them (a decl seen in an earlier header's AST belongs to that header).
const (
	hdrStatus = "ffb_status.h"
	hdrLayout = "ffb_layout.h"
	hdrAPI    = "ffb.h"
)

var headers = []string{hdrStatus, hdrLayout, hdrAPI}

// Macro is one object-like FFB_* macro.
type Macro struct {
	Name   string
	Header string
	Body   string // as the preprocessor spelled it
	Str    bool   // a string constant
	CType  string // int, unsigned, long, unsigned long, long long, unsigned long long
	U      uint64 // the value's bits (integers)
	S      string // the value (strings)
}

// Signed reports whether the macro's C type is signed.
func (m *Macro) Signed() bool { return !strings.HasPrefix(m.CType, "unsigned") }

// Wide reports whether the macro's C type has 64 bits.
func (m *Macro) Wide() bool { return strings.Contains(m.CType, "long") }

// Field is one member of a struct, as clang typed it and the probe placed it.
type Field struct {
	Name  string
	CType string // clang's spelling, e.g. "uint32_t", "struct ffb_class_desc[16]"
	Off   uint64
	Size  uint64
	Note  string // the field's /**< */ doc comment, if any
}

// Struct is one complete struct definition.
type Struct struct {
	Name    string // the tag, e.g. ffb_superblock
	Header  string
	Typedef bool // also a typedef of the same name
	Size    uint64
	Fields  []Field
}

// Enumerator is one constant of an enum.
type Enumerator struct {
	Name  string
	Value int64
	Text  string // its /**< */ doc comment
}

// Enum is one named enum.
type Enum struct {
	Name   string
	Header string
	Values []Enumerator
}

// Facts is everything the outputs are made of.
type Facts struct {
	Macros  []*Macro
	Structs []*Struct
	Enums   []*Enum
}

func (f *Facts) structByName(name string) *Struct {
	for _, s := range f.Structs {
		if s.Name == name {
			return s
		}
	}
	return nil
}

func (f *Facts) enumByName(name string) *Enum {
	for _, e := range f.Enums {
		if e.Name == name {
			return e
		}
	}
	return nil
}

func (f *Facts) macrosOf(header string) []*Macro {
	var out []*Macro
	for _, m := range f.Macros {
		if m.Header == header {
			out = append(out, m)
		}
	}
	return out
}

func (f *Facts) structsOf(header string) []*Struct {
	var out []*Struct
	for _, s := range f.Structs {
		if s.Header == header {
			out = append(out, s)
		}
	}
	return out
}

type tool struct {
	root, cc, clang string
	tmp             string
}

func (t *tool) run(name string, args ...string) ([]byte, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = t.root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

func collect(t *tool) (*Facts, error) {
	f := &Facts{}
	if err := t.macros(f); err != nil {
		return nil, err
	}
	if err := t.ast(f); err != nil {
		return nil, err
	}
	if err := t.probe(f); err != nil {
		return nil, err
	}
	return f, nil
}

var (
	lineMarker = regexp.MustCompile(`^# \d+ "([^"]+)"`)
	defineLine = regexp.MustCompile(`^#define (FFB_[A-Za-z0-9_]*)( (.*))?$`)
)

// macros lists the object-like FFB_* macros of the three headers in
// source order (cc -E -dD keeps definitions in place, between line
// markers naming their file). FFB__ names are the headers' own helpers;
// an empty body is an include guard.
func (t *tool) macros(f *Facts) error {
	out, err := t.run(t.cc, "-E", "-dD", "-Iinclude", "-x", "c", filepath.Join("include", hdrAPI))
	if err != nil {
		return err
	}
	file := ""
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if m := lineMarker.FindStringSubmatch(line); m != nil {
			file = filepath.Base(m[1])
			continue
		}
		m := defineLine.FindStringSubmatch(line)
		if m == nil || strings.HasPrefix(m[1], "FFB__") || strings.TrimSpace(m[3]) == "" {
			continue
		}
		if !isHeader(file) {
			continue
		}
		f.Macros = append(f.Macros, &Macro{Name: m[1], Header: file, Body: strings.TrimSpace(m[3])})
	}
	return sc.Err()
}

func isHeader(name string) bool {
	for _, h := range headers {
		if h == name {
			return true
		}
	}
	return false
}

// astNode is the part of clang's JSON AST this generator reads.
type astNode struct {
	Kind               string `json:"kind"`
	Name               string `json:"name"`
	TagUsed            string `json:"tagUsed"`
	CompleteDefinition bool   `json:"completeDefinition"`
	IsImplicit         bool   `json:"isImplicit"`
	Text               string `json:"text"`
	Type               struct {
		QualType string `json:"qualType"`
	} `json:"type"`
	Inner []*astNode `json:"inner"`
}

// ast reads each header's AST; a struct or enum belongs to the first
// header (in `headers` order) whose AST declares it.
func (t *tool) ast(f *Facts) error {
	seen := map[string]bool{}
	for _, h := range headers {
		out, err := t.run(t.clang, "-x", "c", "-std=gnu11", "-Iinclude", "-Xclang", "-ast-dump=json",
			"-fsyntax-only", filepath.Join("include", h))
		if err != nil {
			return err
		}
		var root astNode
		if err := json.Unmarshal(out, &root); err != nil {
			return fmt.Errorf("clang AST of %s: %v", h, err)
		}
		typedefs := map[string]bool{}
		for _, n := range root.Inner {
			if n.Kind == "TypedefDecl" {
				typedefs[n.Name] = true
			}
		}
		for _, n := range root.Inner {
			if !strings.HasPrefix(n.Name, "ffb_") || seen[n.Kind+" "+n.Name] {
				continue
			}
			switch {
			case n.Kind == "RecordDecl" && n.TagUsed == "struct" && n.CompleteDefinition:
				seen[n.Kind+" "+n.Name] = true
				s := &Struct{Name: n.Name, Header: h, Typedef: typedefs[n.Name]}
				for _, m := range n.Inner {
					if m.Kind == "FieldDecl" {
						s.Fields = append(s.Fields, Field{Name: m.Name, CType: m.Type.QualType, Note: docText(m)})
					}
				}
				f.Structs = append(f.Structs, s)
			case n.Kind == "EnumDecl":
				seen[n.Kind+" "+n.Name] = true
				e := &Enum{Name: n.Name, Header: h}
				for _, m := range n.Inner {
					if m.Kind != "EnumConstantDecl" {
						continue
					}
					text, err := plainDoc(m)
					if err != nil && h == hdrStatus {
						return fmt.Errorf("%s: %s: %v", h, m.Name, err)
					}
					e.Values = append(e.Values, Enumerator{Name: m.Name, Text: text})
				}
				f.Enums = append(f.Enums, e)
			}
		}
	}
	return nil
}

// docText is a declaration's doc comment as one line ("" without one).
func docText(n *astNode) string {
	var parts []string
	var walk func(*astNode)
	walk = func(n *astNode) {
		if n.Kind == "TextComment" {
			parts = append(parts, n.Text)
		}
		for _, m := range n.Inner {
			walk(m)
		}
	}
	for _, m := range n.Inner {
		if m.Kind == "FullComment" {
			walk(m)
		}
	}
	return strings.Join(strings.Fields(strings.Join(parts, " ")), " ")
}

// plainDoc is the doc comment of a status code: required, one paragraph
// of plain text (what clang parses as markup would not survive as a
// string in every language).
func plainDoc(n *astNode) (string, error) {
	for _, m := range n.Inner {
		if m.Kind != "FullComment" {
			continue
		}
		if len(m.Inner) != 1 || m.Inner[0].Kind != "ParagraphComment" {
			return "", fmt.Errorf("its /**< text */ must be one paragraph")
		}
		for _, t := range m.Inner[0].Inner {
			if t.Kind != "TextComment" {
				return "", fmt.Errorf("its /**< text */ must be plain text (clang read a %s)", t.Kind)
			}
		}
		s := docText(n)
		if s == "" {
			break
		}
		return s, nil
	}
	return "", fmt.Errorf("no /**< text */ comment after it: every status needs its one English text")
}

// probe compiles and runs a C program that prints every value the
// outputs need, so each number is the compiler's.
func (t *tool) probe(f *Facts) error {
	var b strings.Builder
	b.WriteString(`#include <stddef.h>
#include <stdio.h>
#include "ffb.h"

static void p_int(const char *n, unsigned long long v, const char *t) { printf("macro %s %s %llu\n", n, t, v); }
static void p_str(const char *n, const char *v, const char *t)
{
	(void)t;
	printf("str %s ", n);
	for (const char *p = v; *p; p++)
		printf("%02x", (unsigned char)*p);
	printf("\n");
}
#define TYPE(x) _Generic((x), int: "int", unsigned int: "unsigned", long: "long", unsigned long: "unsigned_long", \
	long long: "long_long", unsigned long long: "unsigned_long_long", default: "other")
#define MACRO(x) _Generic((x), char *: p_str, const char *: p_str, default: p_int)(#x, (x), TYPE(x))
#define SIZE(s) printf("size %s %zu\n", #s, sizeof(struct s))
#define FIELD(s, f) printf("field %s %s %zu %zu\n", #s, #f, offsetof(struct s, f), sizeof(((struct s *)0)->f))

int main(void)
{
`)
	for _, m := range f.Macros {
		fmt.Fprintf(&b, "\tMACRO(%s);\n", m.Name)
	}
	for _, e := range f.Enums {
		for _, v := range e.Values {
			fmt.Fprintf(&b, "\tprintf(\"enum %s %%lld\\n\", (long long)%s);\n", v.Name, v.Name)
		}
	}
	for _, s := range f.Structs {
		fmt.Fprintf(&b, "\tSIZE(%s);\n", s.Name)
		for _, fl := range s.Fields {
			fmt.Fprintf(&b, "\tFIELD(%s, %s);\n", s.Name, fl.Name)
		}
	}
	b.WriteString("\treturn 0;\n}\n")
	src := filepath.Join(t.tmp, "probe.c")
	bin := filepath.Join(t.tmp, "probe")
	if err := os.WriteFile(src, []byte(b.String()), 0o644); err != nil {
		return err
	}
	if _, err := t.run(t.cc, "-std=gnu11", "-Iinclude", "-o", bin, src); err != nil {
		return err
	}
	out, err := t.run(bin)
	if err != nil {
		return err
	}
	macros := map[string]*Macro{}
	for _, m := range f.Macros {
		macros[m.Name] = m
	}
	enumVals := map[string]*Enumerator{}
	for _, e := range f.Enums {
		for i := range e.Values {
			enumVals[e.Values[i].Name] = &e.Values[i]
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		w := strings.Fields(line)
		switch {
		case w[0] == "macro" && len(w) == 4:
			m := macros[w[1]]
			m.CType = strings.ReplaceAll(w[2], "_", " ")
			if m.CType == "other" {
				return fmt.Errorf("%s: neither an integer nor a string", m.Name)
			}
			m.U, _ = strconv.ParseUint(w[3], 10, 64)
		case w[0] == "str" && len(w) <= 3:
			m := macros[w[1]]
			raw := ""
			if len(w) == 3 {
				raw = w[2]
			}
			s, _ := hex.DecodeString(raw)
			m.Str, m.S = true, string(s)
		case w[0] == "enum" && len(w) == 3:
			enumVals[w[1]].Value, _ = strconv.ParseInt(w[2], 10, 64)
		case w[0] == "size" && len(w) == 3:
			f.structByName(w[1]).Size, _ = strconv.ParseUint(w[2], 10, 64)
		case w[0] == "field" && len(w) == 5:
			s := f.structByName(w[1])
			for i := range s.Fields {
				if s.Fields[i].Name == w[2] {
					s.Fields[i].Off, _ = strconv.ParseUint(w[3], 10, 64)
					s.Fields[i].Size, _ = strconv.ParseUint(w[4], 10, 64)
				}
			}
		default:
			return fmt.Errorf("probe: unexpected line %q", line)
		}
	}
	return nil
}

// ctype is a field's C type taken apart: element type and array length
// (0: not an array), pointer-ness.
type ctype struct {
	elem  string // e.g. "uint32_t", "struct ffb_class_desc", "const uid_t"
	n     int
	ptr   bool
	const_ bool
}

var arrayType = regexp.MustCompile(`^(.*)\[(\d+)\]$`)

func parseCType(s string) ctype {
	var c ctype
	if m := arrayType.FindStringSubmatch(s); m != nil {
		c.n, _ = strconv.Atoi(m[2])
		s = strings.TrimSpace(m[1])
	}
	if strings.HasSuffix(s, "*") {
		c.ptr = true
		s = strings.TrimSpace(strings.TrimSuffix(s, "*"))
	}
	if strings.HasPrefix(s, "const ") {
		c.const_ = true
		s = strings.TrimPrefix(s, "const ")
	}
	c.elem = s
	return c
}
