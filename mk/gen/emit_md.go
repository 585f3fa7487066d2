// emit_md.go rewrites the generated tables of PROTOCOL.md: everything
// between a `<!-- gen:NAME -->` line and the next `<!-- /gen -->` line.
// NAME is `status` (the status table), `constants` (the macros of
// ffb_layout.h) or `struct ffb_xxx` (a struct's offsets). Any other name,
// or a marker left open, is an error.

package main

import (
	"fmt"
	"strings"
)

func mdTable(f *Facts, name string) (string, error) {
	var b strings.Builder
	switch {
	case name == "status":
		b.WriteString("| code | value | text (`ffb_strerror`) |\n| --- | --- | --- |\n")
		for _, v := range f.enumByName("ffb_status").Values {
			fmt.Fprintf(&b, "| %s | %d | %s |\n", statusStem(v.Name), v.Value, v.Text)
		}
	case name == "constants":
		b.WriteString("| macro | value |\n| --- | --- |\n")
		for _, m := range f.macrosOf(hdrLayout) {
			v := literal(m)
			if m.Str {
				v = fmt.Sprintf("%q", m.S)
			}
			fmt.Fprintf(&b, "| `%s` | `%s` |\n", m.Name, v)
		}
	case strings.HasPrefix(name, "struct "):
		s := f.structByName(strings.TrimPrefix(name, "struct "))
		if s == nil || s.Header != hdrLayout {
			return "", fmt.Errorf("PROTOCOL.md: no struct %q in %s", name, hdrLayout)
		}
		fmt.Fprintf(&b, "`struct %s`, %d bytes:\n\n| off | size | field | type | note |\n| --- | --- | --- | --- | --- |\n", s.Name, s.Size)
		for _, fl := range s.Fields {
			fmt.Fprintf(&b, "| %d | %d | %s | `%s` | %s |\n", fl.Off, fl.Size, fl.Name, fl.CType, fl.Note)
		}
	default:
		return "", fmt.Errorf("PROTOCOL.md: unknown generated table %q", name)
	}
	return b.String(), nil
}

func rewriteProtocol(f *Facts, doc []byte) ([]byte, error) {
	lines := strings.SplitAfter(string(doc), "\n")
	var out strings.Builder
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		out.WriteString(line)
		t := strings.TrimSpace(line)
		name, ok := strings.CutPrefix(t, "<!-- gen:")
		if !ok {
			continue
		}
		name = strings.TrimSpace(strings.TrimSuffix(name, "-->"))
		table, err := mdTable(f, name)
		if err != nil {
			return nil, err
		}
		j := i + 1
		for j < len(lines) && strings.TrimSpace(lines[j]) != "<!-- /gen -->" {
			j++
		}
		if j == len(lines) {
			return nil, fmt.Errorf("PROTOCOL.md: <!-- gen:%s --> has no <!-- /gen -->", name)
		}
		out.WriteString(table)
		out.WriteString(lines[j])
		i = j
	}
	return []byte(out.String()), nil
}
