package docsengine

import (
	"strconv"
	"strings"
	"unicode"

	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/parser"
)

// headingIDs gives headings ids that stay readable in German: letters and
// digits of every script are kept and lower-cased ("Übersicht" → "übersicht",
// where goldmark's default gives "bersicht"), spaces, hyphens and
// underscores become one hyphen, other punctuation is dropped. Duplicates get
// -1, -2, … Every id starts with prefix (Config.IDPrefix). One value serves
// one document.
type headingIDs struct {
	prefix string
	used   map[string]bool
	next   map[string]int // the next suffix to try for a base id
}

var _ parser.IDs = (*headingIDs)(nil)

func newHeadingIDs(prefix string) *headingIDs {
	return &headingIDs{prefix: prefix, used: map[string]bool{}, next: map[string]int{}}
}

// Generate returns a unique id for the plain text value.
func (s *headingIDs) Generate(value []byte, kind ast.NodeKind) []byte {
	base := slug(string(value))
	if base == "" {
		base = "heading"
		if kind != ast.KindHeading {
			base = "id"
		}
	}
	base = s.prefix + base
	if !s.used[base] {
		s.used[base] = true
		return []byte(base)
	}
	for i := s.next[base] + 1; ; i++ {
		id := base + "-" + strconv.Itoa(i)
		if !s.used[id] {
			s.used[id] = true
			s.next[base] = i
			return []byte(id)
		}
	}
}

// Put reserves an id.
func (s *headingIDs) Put(value []byte) { s.used[string(value)] = true }

// slug turns a heading's text into the base of its id.
func slug(s string) string {
	var b strings.Builder
	hyphen := false
	for _, r := range s {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			if hyphen && b.Len() > 0 {
				b.WriteByte('-')
			}
			hyphen = false
			b.WriteRune(unicode.ToLower(r))
		case unicode.IsSpace(r) || r == '-' || r == '_':
			hyphen = true
		}
	}
	return b.String()
}
