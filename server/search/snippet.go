package search

import (
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/tma-portal/tma/server/tma"
)

// Snippet sizes.
const (
	snippetBytes    = 200
	maxSnippetInput = 256 << 10 // bytes of text analysed for a snippet
)

// matcher decides whether a term of the text, analysed in one language,
// matches the query.
type matcher struct {
	exact    map[string]bool
	prefixes []string
	fuzzy    []fuzzyTerm
}

type fuzzyTerm struct {
	term string
	max  int
}

func (m *matcher) match(term string) bool {
	if m.exact[term] {
		return true
	}
	for _, p := range m.prefixes {
		if strings.HasPrefix(term, p) {
			return true
		}
	}
	for _, f := range m.fuzzy {
		if levenshtein(term, f.term, f.max) <= f.max {
			return true
		}
	}
	return false
}

// Snippet cuts a window of about 200 bytes of text around the densest
// matches of q and marks them. It analyses the text with the index's
// analyzers, both languages, so that a word is highlighted exactly when the
// index matched it; words a query excludes are not highlighted. Without a
// match, it is the beginning of the text. The parts are plain text.
func (ix *Index) Snippet(text string, q tma.SearchQuery) []tma.SnippetPart {
	if len(text) > maxSnippetInput {
		n := maxSnippetInput
		for n > 0 && !utf8.RuneStart(text[n]) {
			n--
		}
		text = text[:n]
	}
	var ranges [][2]int
	if pq, err := parseQuery(q.Text); err == nil {
		de, en := ix.matchers(pq)
		ranges = matchRanges(text, ix.an.de, de, ix.an.en, en)
	}
	return cut(text, ranges)
}

// matchers are the query's positive terms, per language.
func (ix *Index) matchers(pq *parsedQuery) (de, en *matcher) {
	de, en = &matcher{exact: map[string]bool{}}, &matcher{exact: map[string]bool{}}
	for _, t := range pq.terms {
		if t.exclude {
			continue
		}
		switch t.kind {
		case kindWord, kindPhrase:
			dt, et := terms(ix.an.de, t.text), terms(ix.an.en, t.text)
			if t.kind == kindWord && (len(dt) == 0 || len(et) == 0) {
				continue
			}
			for _, s := range dt {
				de.exact[s] = true
			}
			for _, s := range et {
				en.exact[s] = true
			}
		case kindPrefix:
			if ts := terms(ix.an.dePrefix, t.text); len(ts) == 1 {
				de.prefixes = append(de.prefixes, ts[0])
			}
			if ts := terms(ix.an.enPrefix, t.text); len(ts) == 1 {
				en.prefixes = append(en.prefixes, ts[0])
			}
		case kindFuzzy:
			if ts := terms(ix.an.de, t.text); len(ts) == 1 {
				de.fuzzy = append(de.fuzzy, fuzzyTerm{ts[0], t.fuzziness})
			}
			if ts := terms(ix.an.en, t.text); len(ts) == 1 {
				en.fuzzy = append(en.fuzzy, fuzzyTerm{ts[0], t.fuzziness})
			}
		}
	}
	return de, en
}

// matchRanges are the byte ranges of text whose terms match, sorted and
// merged.
func matchRanges(text string, a1 analysis.Analyzer, m1 *matcher, a2 analysis.Analyzer, m2 *matcher) [][2]int {
	hit := map[[2]int]bool{}
	for _, am := range []struct {
		a analysis.Analyzer
		m *matcher
	}{{a1, m1}, {a2, m2}} {
		if len(am.m.exact) == 0 && len(am.m.prefixes) == 0 && len(am.m.fuzzy) == 0 {
			continue
		}
		for _, t := range am.a.Analyze([]byte(text)) {
			if am.m.match(string(t.Term)) {
				hit[[2]int{t.Start, t.End}] = true
			}
		}
	}
	var rs [][2]int
	for r := range hit {
		rs = append(rs, r)
	}
	sortRanges(rs)
	var out [][2]int
	for _, r := range rs {
		if n := len(out); n > 0 && r[0] <= out[n-1][1] {
			out[n-1][1] = max(out[n-1][1], r[1])
			continue
		}
		out = append(out, r)
	}
	return out
}

func sortRanges(rs [][2]int) {
	sort.Slice(rs, func(i, j int) bool { return rs[i][0] < rs[j][0] || rs[i][0] == rs[j][0] && rs[i][1] < rs[j][1] })
}

// cut picks the window of about snippetBytes with the most matches and
// splits it into parts.
func cut(text string, ranges [][2]int) []tma.SnippetPart {
	start, best := 0, 0
	for i := range ranges {
		n := 0
		for j := i; j < len(ranges) && ranges[j][1] <= ranges[i][0]+snippetBytes; j++ {
			n++
		}
		if n > best {
			best, start = n, ranges[i][0]
		}
	}
	if best > 0 {
		// some context before the first match, from a word boundary
		start = max(0, start-snippetBytes/4)
		if start > 0 {
			if i := strings.IndexAny(text[start:], " \n\t"); i >= 0 && i < snippetBytes/4 {
				start += i + 1
			}
		}
	}
	end := min(len(text), start+snippetBytes)
	for end < len(text) && !utf8.RuneStart(text[end]) {
		end++
	}
	for start < end && !utf8.RuneStart(text[start]) {
		start++
	}
	// do not cut a match in half
	for _, r := range ranges {
		if r[0] < end && r[1] > end {
			end = r[1]
		}
	}
	var parts []tma.SnippetPart
	if start > 0 {
		parts = append(parts, tma.SnippetPart{Text: "…"})
	}
	pos := start
	for _, r := range ranges {
		if r[1] <= start || r[0] >= end {
			continue
		}
		s := max(r[0], start)
		if s > pos {
			parts = append(parts, tma.SnippetPart{Text: text[pos:s]})
		}
		parts = append(parts, tma.SnippetPart{Text: text[s:r[1]], Match: true})
		pos = r[1]
	}
	if pos < end {
		parts = append(parts, tma.SnippetPart{Text: text[pos:end]})
	}
	if end < len(text) {
		parts = append(parts, tma.SnippetPart{Text: "…"})
	}
	return parts
}

// levenshtein is the edit distance of a and b in runes, or limit+1 once
// it exceeds limit.
func levenshtein(a, b string, limit int) int {
	ra, rb := []rune(a), []rune(b)
	if d := len(ra) - len(rb); d > limit || -d > limit {
		return limit + 1
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			rowMin = min(rowMin, cur[j])
		}
		if rowMin > limit {
			return limit + 1
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
