// names.go turns C names into Go names by rule (no list of protocol
// names): FFB_MAX_NAME_LEN -> maxNameLen, ffb_ring_entry.call_id ->
// offRingEntryCallID, FFB_ERR_BAD_FD -> CodeBadFD.

package main

import (
	"fmt"
	"strings"
)

// initialisms are written in capitals in Go names (Go's own convention).
var initialisms = map[string]string{"ok": "OK", "id": "ID", "fd": "FD", "fds": "FDs", "utf8": "UTF8"}

// camel joins snake_case words: Upper-first each, initialisms in capitals.
func camel(snake string, upperFirst bool) string {
	var b strings.Builder
	for i, w := range strings.Split(strings.ToLower(snake), "_") {
		if w == "" {
			continue
		}
		switch {
		case i == 0 && !upperFirst:
			b.WriteString(w)
		case initialisms[w] != "":
			b.WriteString(initialisms[w])
		default:
			b.WriteString(strings.ToUpper(w[:1]) + w[1:])
		}
	}
	return b.String()
}

// goConst is the Go name of a layout macro: FFB_SUPERBLOCK_SIZE -> superblockSize.
func goConst(macro string) string { return camel(strings.TrimPrefix(macro, "FFB_"), false) }

// goStruct is the Go stem of a struct: ffb_ring_entry -> RingEntry.
func goStruct(name string) string { return camel(strings.TrimPrefix(name, "ffb_"), true) }

// goSizeof and goOffset name a struct's size and a field's offset.
func goSizeof(s *Struct) string         { return "sizeof" + goStruct(s.Name) }
func goOffset(s *Struct, f string) string { return "off" + goStruct(s.Name) + camel(f, true) }

// statusStem is a status enumerator without its prefix: FFB_ERR_NOT_FOUND -> NOT_FOUND.
func statusStem(name string) string {
	if s, ok := strings.CutPrefix(name, "FFB_ERR_"); ok {
		return s
	}
	return strings.TrimPrefix(name, "FFB_")
}

// sentence is a status text as a doc sentence: "a deadline passed" -> "A deadline passed.".
func sentence(text string) string {
	s := strings.ToUpper(text[:1]) + text[1:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

// literal spells a macro value for Go and Rust: hex where C spelled hex.
func literal(m *Macro) string {
	if m.Signed() {
		v := int64(m.U)
		if !m.Wide() {
			v = int64(int32(uint32(m.U)))
		}
		return fmt.Sprint(v)
	}
	if strings.Contains(m.Body, "0x") {
		return fmt.Sprintf("%#x", m.U)
	}
	return fmt.Sprint(m.U)
}
