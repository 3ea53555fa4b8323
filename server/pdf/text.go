package pdf

import (
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/gomono"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/sfnt"
)

// glyphs is the set of runes that all three embedded fonts can draw, as a
// bit set over the Basic Multilingual Plane (the Go fonts have nothing
// beyond it).
var glyphs = sync.OnceValue(func() []uint64 {
	set := make([]uint64, 0x10000/64)
	for i := range set {
		set[i] = ^uint64(0)
	}
	for _, ttf := range [][]byte{goregular.TTF, gobold.TTF, gomono.TTF} {
		f, err := sfnt.Parse(ttf)
		if err != nil {
			panic("pdf: embedded font: " + err.Error()) // fixed bytes: fails every test
		}
		var buf sfnt.Buffer
		for r := range rune(0x10000) {
			if gi, err := f.GlyphIndex(&buf, r); err != nil || gi == 0 {
				set[r/64] &^= 1 << (r % 64)
			}
		}
	}
	return set
})

// hasGlyph reports whether the fonts can draw r.
func hasGlyph(r rune) bool {
	return r >= 0 && r < 0x10000 && glyphs()[r/64]&(1<<(r%64)) != 0
}

// clean makes s printable with the embedded fonts: invalid UTF-8 and runes
// the fonts lack (emoji, most scripts other than Latin, Greek and
// Cyrillic) become "?", tabs become spaces, other control and format
// characters (bidi overrides, zero-width joiners) go. Line breaks stay if
// multiline is set and become spaces otherwise. fpdf indexes its width
// table by rune without a bounds check, so nothing else may reach it.
func clean(s string, multiline bool) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "?")
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r == '\n' || r == '\r':
			if multiline {
				b.WriteByte('\n')
			} else {
				b.WriteByte(' ')
			}
		case r == '\t':
			b.WriteString("    ")
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
		case r == ' ' || hasGlyph(r) && unicode.IsGraphic(r):
			b.WriteRune(r)
		default:
			b.WriteByte('?')
		}
	}
	return b.String()
}
