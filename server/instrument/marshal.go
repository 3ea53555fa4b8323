package instrument

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/tma-portal/tma/server/tma"
)

// Marshal writes inst as an instrument file that Parse reads back into an
// equal instrument. Fields are named and ordered as in README.md; optional
// fields with their zero value are left out.
//
// It writes the YAML itself rather than through the library's encoder,
// which writes some texts so that they do not read back the same (a tab,
// a lone carriage return, "? key"). A text is written plain only when it
// can mean nothing else (a letter first, then letters, digits, spaces and
// a few punctuation marks, and no word like true or null); any other is
// double-quoted with escapes.
func Marshal(inst *tma.Instrument) ([]byte, error) {
	e := &emitter{}
	e.fields(reflect.ValueOf(inst).Elem(), "", "")
	if e.err != nil {
		return nil, e.err
	}
	return e.b.Bytes(), nil
}

type emitter struct {
	b   bytes.Buffer
	err error
}

// fields writes the fields of struct v as a block mapping at indent; the
// first line starts with first instead (the "- " of a list entry).
func (e *emitter) fields(v reflect.Value, indent, first string) {
	t := v.Type()
	prefix, wrote := first, false
	for i := range t.NumField() {
		name, opts, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		f := v.Field(i)
		empty := f.IsZero() || (f.Kind() == reflect.Slice && f.Len() == 0)
		if empty && opts == "omitempty" {
			continue
		}
		switch f.Kind() {
		case reflect.Slice:
			if f.Len() == 0 {
				fmt.Fprintf(&e.b, "%s%s: []\n", prefix, name)
				break
			}
			if indent == "" {
				e.b.WriteString("\n") // a blank line before each top-level list
			}
			fmt.Fprintf(&e.b, "%s%s:\n", prefix, name)
			for j := range f.Len() {
				e.fields(f.Index(j), indent+"    ", indent+"  - ")
			}
		case reflect.String:
			fmt.Fprintf(&e.b, "%s%s: %s\n", prefix, name, e.text(f.String()))
		case reflect.Int:
			fmt.Fprintf(&e.b, "%s%s: %d\n", prefix, name, f.Int())
		case reflect.Bool:
			fmt.Fprintf(&e.b, "%s%s: %t\n", prefix, name, f.Bool())
		default:
			panic("instrument: no YAML encoding for " + f.Type().String())
		}
		prefix, wrote = indent, true
	}
	if !wrote { // every field was left out
		fmt.Fprintf(&e.b, "%s{}\n", first)
	}
}

// text is s as a YAML scalar that reads back as s.
func (e *emitter) text(s string) string {
	if !utf8.ValidString(s) {
		e.err = fmt.Errorf("instrument: text %q is not UTF-8", tma.CleanText(s, 40))
		return `""`
	}
	if plain(s) {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r == ' ' || (unicode.IsGraphic(r) && !unicode.IsSpace(r) && r != 0xfeff):
			b.WriteRune(r)
		case r > 0xffff:
			fmt.Fprintf(&b, `\U%08x`, r)
		default: // other spaces, line separators, format characters
			fmt.Fprintf(&b, `\u%04x`, r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// plainWords are texts YAML reads as something else than text (in 1.1 or
// 1.2), in lower case.
var plainWords = map[string]bool{"true": true, "false": true, "yes": true, "no": true, "on": true, "off": true,
	"y": true, "n": true, "null": true, "nan": true, "inf": true, "infinity": true}

// plain reports whether s can be written without quotes: a letter first,
// then letters, digits, single spaces and ,.;()/'_-?!, no space at the end,
// and not a word that YAML reads as a boolean, null or number.
func plain(s string) bool {
	if s == "" || strings.HasSuffix(s, " ") || strings.Contains(s, "  ") || plainWords[strings.ToLower(s)] {
		return false
	}
	for i, r := range s {
		switch {
		case unicode.IsLetter(r):
		case i == 0:
			return false
		case r >= '0' && r <= '9', strings.ContainsRune(" ,.;()/'_-?!", r):
		default:
			return false
		}
	}
	return true
}
