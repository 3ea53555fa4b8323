package extract

import (
	"bytes"
	"mime"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/html/charset"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/unicode/norm"

	"github.com/tma-portal/tma/server/tma"
)

// textBuilder gathers extracted text and normalises it as it goes: lines
// are trimmed, empty lines dropped, runs of spaces collapse to one space (or
// one tab, if the run holds a tab: the cell separator), control characters
// become spaces, format characters (bidi overrides, zero-width joiners, soft
// hyphens, byte order marks) and invalid UTF-8 go. It stops taking text at
// max bytes, always at a rune boundary; full says so, and extractors stop
// reading then.
type textBuilder struct {
	b       strings.Builder
	max     int
	space   rune // ' ' or '\t' pending before the next visible rune, or 0
	newline bool // a line ended; write '\n' before the next visible rune
	full    bool
}

func newTextBuilder(max int) *textBuilder { return &textBuilder{max: max} }

// write adds s. Invalid UTF-8 in s is dropped.
func (w *textBuilder) write(s string) {
	for _, r := range s {
		if w.full {
			return
		}
		w.rune(r)
	}
}

// endLine ends the current line (a paragraph, a row, a header).
func (w *textBuilder) endLine() { w.newline, w.space = true, 0 }

// tab is a tab in the text.
func (w *textBuilder) tab() { w.rune('\t') }

// endCell ends a table cell with a tab; the paragraphs of a cell end with
// a space (endPara), so that a row stays on one line.
func (w *textBuilder) endCell() {
	if !w.newline {
		w.space = '\t'
	}
}

// endPara ends a paragraph: a line, or a space inside a table cell.
func (w *textBuilder) endPara(inCell bool) {
	if inCell {
		w.rune(' ')
	} else {
		w.endLine()
	}
}

func (w *textBuilder) rune(r rune) {
	if w.full {
		return
	}
	switch {
	case r == '\n' || r == '\r' || r == '\v' || r == '\f' || r == 0x85 || r == 0x2028 || r == 0x2029:
		w.endLine()
		return
	case r == '\t':
		w.space = '\t'
		return
	case unicode.IsSpace(r) || unicode.IsControl(r):
		if w.space == 0 {
			w.space = ' '
		}
		return
	case r == utf8.RuneError || unicode.Is(unicode.Cf, r) || (r >= 0xFDD0 && r <= 0xFDEF) || r&0xFFFE == 0xFFFE:
		return // invalid input, format characters, noncharacters
	}
	var sep byte
	switch {
	case w.b.Len() == 0:
	case w.newline:
		sep = '\n'
	case w.space != 0:
		sep = byte(w.space)
	}
	n := utf8.RuneLen(r)
	if sep != 0 {
		n++
	}
	if w.b.Len()+n > w.max {
		w.full = true
		return
	}
	if sep != 0 {
		w.b.WriteByte(sep)
	}
	w.b.WriteRune(r)
	w.newline, w.space = false, 0
}

// String is the text in NFC, so that "ü" from a PDF with a combining mark
// matches "ü" typed into the search box; still at most max bytes.
func (w *textBuilder) String() string {
	s := w.b.String()
	if norm.NFC.IsNormalString(s) {
		return s
	}
	return truncate(norm.NFC.String(s), w.max)
}

// truncate cuts s to at most max bytes at a rune boundary.
func truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	for max > 0 && !utf8.RuneStart(s[max]) {
		max--
	}
	return s[:max]
}

// decodeText turns the bytes of a text file into UTF-8: by the charset
// parameter of contentType if there is one; otherwise UTF-8 if the bytes
// are valid UTF-8, UTF-16 after a byte order mark, and Windows-1252 (the
// superset of Latin-1 that old German files use) if not.
func decodeText(contentType string, data []byte) (string, error) {
	_, params, _ := mime.ParseMediaType(contentType)
	label := strings.ToLower(strings.TrimSpace(params["charset"]))
	if label != "" && label != "utf-8" && label != "utf8" && label != "us-ascii" {
		enc, _ := charset.Lookup(label)
		if enc == nil {
			return "", tma.Errorf(tma.EINVALID, "The text's character set (%s) is unknown.", tma.CleanText(label, 40))
		}
		out, err := enc.NewDecoder().Bytes(data)
		if err != nil {
			return "", tma.Errorf(tma.EINVALID, "The text is not valid %s.", tma.CleanText(label, 40))
		}
		return string(out), nil
	}
	if utf8.Valid(data) {
		return string(data), nil
	}
	if bytes.HasPrefix(data, []byte{0xFF, 0xFE}) || bytes.HasPrefix(data, []byte{0xFE, 0xFF}) {
		enc, _ := charset.Lookup("utf-16")
		if out, err := enc.NewDecoder().Bytes(data); err == nil {
			return string(out), nil
		}
	}
	out, err := charmap.Windows1252.NewDecoder().Bytes(data)
	if err != nil {
		return "", tma.Errorf(tma.EINVALID, "The text's character set is unknown.")
	}
	return string(out), nil
}
