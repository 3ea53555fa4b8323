package web

import (
	"html/template"
	"strings"
	"unicode"

	"github.com/sergi/go-diff/diffmatchpatch"
)

// diffRow is one row of a side-by-side diff: the old line on the left, the
// new one on the right, with changed words marked by <del> and <ins>. Kind
// is "same", "changed", "removed" or "added". Inline is the row as one
// line for the inline view, both texts' words merged.
type diffRow struct {
	Kind        string
	Left, Right template.HTML
	Inline      template.HTML
	OldNo       int // 0: no line on that side
	NewNo       int
}

// lineDiff compares two texts line by line, and the words of each changed
// line pair. The line pass uses go-diff's lines-to-runes trick, the word
// pass the same trick over words, so that both are diffs of tokens and
// never split a word.
func lineDiff(a, b string) []diffRow {
	dmp := diffmatchpatch.New()
	ra, rb, lines := dmp.DiffLinesToRunes(a, b)
	diffs := dmp.DiffCharsToLines(dmp.DiffMainRunes(ra, rb, false), lines)
	var rows []diffRow
	var removed, added []string
	oldNo, newNo := 0, 0
	flush := func() {
		n := max(len(removed), len(added))
		for i := range n {
			r := diffRow{}
			switch {
			case i < len(removed) && i < len(added):
				oldNo++
				newNo++
				r.Kind, r.OldNo, r.NewNo = "changed", oldNo, newNo
				r.Left, r.Right, r.Inline = wordDiff(removed[i], added[i])
			case i < len(removed):
				oldNo++
				r.Kind, r.OldNo = "removed", oldNo
				r.Left = template.HTML("<del>" + template.HTMLEscapeString(removed[i]) + "</del>") //nolint:gosec // escaped
				r.Inline = r.Left
			default:
				newNo++
				r.Kind, r.NewNo = "added", newNo
				r.Right = template.HTML("<ins>" + template.HTMLEscapeString(added[i]) + "</ins>") //nolint:gosec // escaped
				r.Inline = r.Right
			}
			rows = append(rows, r)
		}
		removed, added = nil, nil
	}
	for _, d := range diffs {
		ls := splitLines(d.Text)
		switch d.Type {
		case diffmatchpatch.DiffDelete:
			removed = append(removed, ls...)
		case diffmatchpatch.DiffInsert:
			added = append(added, ls...)
		default:
			flush()
			for _, l := range ls {
				oldNo++
				newNo++
				h := template.HTML(template.HTMLEscapeString(l)) //nolint:gosec // escaped
				rows = append(rows, diffRow{Kind: "same", Left: h, Right: h, Inline: h, OldNo: oldNo, NewNo: newNo})
			}
		}
	}
	flush()
	return rows
}

func splitLines(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return []string{""}
	}
	return strings.Split(s, "\n")
}

// words splits a line into words, runs of spaces and single punctuation
// marks, which together give the line back.
func words(s string) []string {
	var out []string
	start := 0
	kind := func(r rune) int {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			return 1
		case unicode.IsSpace(r):
			return 2
		}
		return 3
	}
	prev := 0
	for i, r := range s {
		k := kind(r)
		if i > start && (k != prev || k == 3) {
			out = append(out, s[start:i])
			start = i
		}
		prev = k
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

// wordDiff marks the words that differ between an old and a new line.
func wordDiff(a, b string) (left, right, inline template.HTML) {
	index := map[string]rune{}
	var tokens []string
	toRunes := func(s string) []rune {
		var rs []rune
		for _, w := range words(s) {
			r, ok := index[w]
			if !ok {
				r = rune(len(tokens) + 0xE000) // private use area upwards
				if r >= 0xF8FF {
					r = rune(len(tokens)) + 0xF0000
				}
				index[w] = r
				tokens = append(tokens, w)
			}
			rs = append(rs, r)
		}
		return rs
	}
	ra, rb := toRunes(a), toRunes(b)
	back := make(map[rune]string, len(tokens))
	for w, r := range index {
		back[r] = w
	}
	dmp := diffmatchpatch.New()
	var l, r, in strings.Builder
	for _, d := range dmp.DiffMainRunes(ra, rb, false) {
		var text strings.Builder
		for _, c := range d.Text {
			text.WriteString(back[c])
		}
		t := template.HTMLEscapeString(text.String())
		switch d.Type {
		case diffmatchpatch.DiffDelete:
			l.WriteString("<del>" + t + "</del>")
			in.WriteString("<del>" + t + "</del>")
		case diffmatchpatch.DiffInsert:
			r.WriteString("<ins>" + t + "</ins>")
			in.WriteString("<ins>" + t + "</ins>")
		default:
			l.WriteString(t)
			r.WriteString(t)
			in.WriteString(t)
		}
	}
	return template.HTML(l.String()), template.HTML(r.String()), template.HTML(in.String()) //nolint:gosec // every piece escaped
}
