package search

import (
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tma-portal/tma/server/tma"
)

// The query language (not Bleve's query-string syntax, so that errors are
// ours, friendly and bounded):
//
//	word                 all words must match (in the title or the text)
//	"a phrase"           the words in this order
//	dro*                 a prefix, at least 2 letters before the *
//	word~ word~1 word~2  fuzzy: 1 edit, or 2 for words of 8 letters or more (~ alone)
//	-word -"phrase"      excludes items that match
//	type:note            one of tma.SearchTypes; repeated: any of them
//	case:<id>            the case id (the caller maps a reference to its id); repeated: any
//	author:name          author:"Anna Müller"; repeated: any of them
//	date:2024-01-01..2024-03-31  date:2024-03  date:2024  date:..2024-03-31  date:2024-01..
//	after:2024-01-01     strictly after that day; before:2024-01-01 strictly before
//
// Dates are days in UTC. Anything else with a colon ("10:30") is a word.

// Limits of a query, besides tma.MaxSearchQuery.
const (
	maxQueryParts     = 20 // words, phrases and filters
	maxExpensiveParts = 4  // prefixes and fuzzy words
	minPrefixRunes    = 2
	minFuzzyRunes     = 3
	longFuzzyRunes    = 8 // word~ allows 2 edits from this length on
	maxFieldValue     = 100
)

type termKind int

const (
	kindWord termKind = iota
	kindPhrase
	kindPrefix
	kindFuzzy
)

// textTerm is a word, phrase, prefix or fuzzy word of the query.
type textTerm struct {
	kind      termKind
	text      string
	fuzziness int
	exclude   bool
}

// parsedQuery is a query, parsed.
type parsedQuery struct {
	terms   []textTerm
	types   []string
	cases   []string
	authors []string
	// from and to bound the date, [from, to); zero is open.
	from, to time.Time
}

// empty reports whether the query asks for nothing at all.
func (p *parsedQuery) empty() bool {
	return len(p.terms) == 0 && len(p.types) == 0 && len(p.cases) == 0 && len(p.authors) == 0 && p.from.IsZero() && p.to.IsZero()
}

// parseQuery parses the search box. Errors are EINVALID with a message for
// the user; it never panics (FuzzSearchQuery).
func parseQuery(s string) (*parsedQuery, error) {
	if len(s) > tma.MaxSearchQuery {
		return nil, tma.Errorf(tma.EINVALID, "The search is too long (at most %d characters).", tma.MaxSearchQuery)
	}
	if !utf8.ValidString(s) {
		return nil, tma.Errorf(tma.EINVALID, "The search contains invalid characters.")
	}
	p := &parsedQuery{}
	parts, expensive := 0, 0
	i := 0
	for {
		for i < len(s) {
			r, n := utf8.DecodeRuneInString(s[i:])
			if !unicode.IsSpace(r) {
				break
			}
			i += n
		}
		if i >= len(s) {
			break
		}
		parts++
		if parts > maxQueryParts {
			return nil, tma.Errorf(tma.EINVALID, "The search has too many words (at most %d).", maxQueryParts)
		}
		exclude := false
		if s[i] == '-' && i+1 < len(s) && !isSpaceAt(s, i+1) {
			exclude = true
			i++
		}
		if s[i] == '"' {
			j := strings.IndexByte(s[i+1:], '"')
			if j < 0 {
				return nil, tma.Errorf(tma.EINVALID, "A quotation mark is not closed.")
			}
			phrase := strings.TrimSpace(s[i+1 : i+1+j])
			i += j + 2
			if phrase != "" {
				p.terms = append(p.terms, textTerm{kind: kindPhrase, text: phrase, exclude: exclude})
			}
			continue
		}
		// A word runs to the next space or quotation mark.
		start := i
		for i < len(s) {
			r, n := utf8.DecodeRuneInString(s[i:])
			if unicode.IsSpace(r) || r == '"' {
				break
			}
			i += n
		}
		word := s[start:i]
		if name, value, ok := strings.Cut(word, ":"); ok && isField(name) {
			if value == "" && i < len(s) && s[i] == '"' { // author:"Anna Müller"
				j := strings.IndexByte(s[i+1:], '"')
				if j < 0 {
					return nil, tma.Errorf(tma.EINVALID, "A quotation mark is not closed.")
				}
				value = strings.TrimSpace(s[i+1 : i+1+j])
				i += j + 2
			}
			if exclude {
				return nil, tma.Errorf(tma.EINVALID, "Only words and phrases can be excluded with a minus sign.")
			}
			if err := p.addField(strings.ToLower(name), value); err != nil {
				return nil, err
			}
			continue
		}
		if word == "" { // a lone quotation mark is handled above; "-" before a quote too
			continue
		}
		t, err := parseWord(word, exclude)
		if err != nil {
			return nil, err
		}
		if t.kind == kindPrefix || t.kind == kindFuzzy {
			expensive++
			if expensive > maxExpensiveParts {
				return nil, tma.Errorf(tma.EINVALID, "The search has too many words with * or ~ (at most %d).", maxExpensiveParts)
			}
		}
		p.terms = append(p.terms, t)
	}
	if !p.from.IsZero() && !p.to.IsZero() && !p.from.Before(p.to) {
		return nil, tma.Errorf(tma.EINVALID, "The date range ends before it starts.")
	}
	return p, nil
}

func isSpaceAt(s string, i int) bool {
	r, _ := utf8.DecodeRuneInString(s[i:])
	return unicode.IsSpace(r)
}

func isField(name string) bool {
	switch strings.ToLower(name) {
	case "type", "case", "author", "date", "after", "before":
		return true
	}
	return false
}

// parseWord parses a word with an optional * or ~ at its end.
func parseWord(w string, exclude bool) (textTerm, error) {
	t := textTerm{kind: kindWord, text: w, exclude: exclude}
	switch {
	case strings.HasSuffix(w, "*"):
		t.kind, t.text = kindPrefix, strings.TrimSuffix(w, "*")
		if utf8.RuneCountInString(t.text) < minPrefixRunes || strings.ContainsAny(t.text, "*~") || !hasLetterOrDigit(t.text) {
			return t, tma.Errorf(tma.EINVALID, "Use * only at the end of a word, after at least %d letters.", minPrefixRunes)
		}
	case strings.Contains(w, "~"):
		i := strings.LastIndexByte(w, '~')
		t.kind, t.text = kindFuzzy, w[:i]
		n := utf8.RuneCountInString(t.text)
		switch w[i+1:] {
		case "":
			t.fuzziness = 1
			if n >= longFuzzyRunes {
				t.fuzziness = 2
			}
		case "1":
			t.fuzziness = 1
		case "2":
			t.fuzziness = 2
		default:
			return t, tma.Errorf(tma.EINVALID, "Use ~ only at the end of a word (word~, word~1 or word~2).")
		}
		if n < minFuzzyRunes || strings.ContainsAny(t.text, "*~") || !hasLetterOrDigit(t.text) {
			return t, tma.Errorf(tma.EINVALID, "Use ~ only after a word of at least %d letters.", minFuzzyRunes)
		}
		if n < 5 {
			t.fuzziness = 1 // two edits of a short word match almost anything
		}
	case strings.Contains(w, "*"):
		return t, tma.Errorf(tma.EINVALID, "Use * only at the end of a word, after at least %d letters.", minPrefixRunes)
	}
	return t, nil
}

func hasLetterOrDigit(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }) >= 0
}

func (p *parsedQuery) addField(name, value string) error {
	if value == "" {
		return tma.Errorf(tma.EINVALID, "The filter %s: needs a value.", name)
	}
	if utf8.RuneCountInString(value) > maxFieldValue {
		return tma.Errorf(tma.EINVALID, "The filter %s: has too long a value.", name)
	}
	switch name {
	case "type":
		v := strings.ToLower(value)
		if !slices.Contains(tma.SearchTypes, v) {
			return tma.Errorf(tma.EINVALID, "Unknown type %q: use one of %s.", tma.CleanText(value, 40), strings.Join(tma.SearchTypes, ", "))
		}
		if !slices.Contains(p.types, v) {
			p.types = append(p.types, v)
		}
	case "case":
		if !slices.Contains(p.cases, value) {
			p.cases = append(p.cases, value)
		}
	case "author":
		p.authors = append(p.authors, value)
	case "date":
		lo, hi, ok := strings.Cut(value, "..")
		var from, to time.Time
		var err error
		if !ok {
			if from, to, err = parseDay(value); err != nil {
				return err
			}
		} else {
			if lo == "" && hi == "" {
				return tma.Errorf(tma.EINVALID, "The filter date: needs a date.")
			}
			if lo != "" {
				if from, _, err = parseDay(lo); err != nil {
					return err
				}
			}
			if hi != "" {
				if _, to, err = parseDay(hi); err != nil {
					return err
				}
			}
		}
		p.narrow(from, to)
	case "after":
		_, to, err := parseDay(value)
		if err != nil {
			return err
		}
		p.narrow(to, time.Time{})
	case "before":
		from, _, err := parseDay(value)
		if err != nil {
			return err
		}
		p.narrow(time.Time{}, from)
	}
	return nil
}

// narrow intersects the date range with [from, to).
func (p *parsedQuery) narrow(from, to time.Time) {
	if !from.IsZero() && (p.from.IsZero() || from.After(p.from)) {
		p.from = from
	}
	if !to.IsZero() && (p.to.IsZero() || to.Before(p.to)) {
		p.to = to
	}
}

// parseDay parses YYYY-MM-DD, YYYY-MM or YYYY into the period [from, to).
func parseDay(s string) (from, to time.Time, err error) {
	for _, f := range []struct {
		layout string
		years  int
		months int
		days   int
	}{{"2006-01-02", 0, 0, 1}, {"2006-01", 0, 1, 0}, {"2006", 1, 0, 0}} {
		if len(s) != len(f.layout) {
			continue
		}
		t, err := time.Parse(f.layout, s)
		if err != nil || t.Year() < 1900 || t.Year() > 2200 {
			break
		}
		return t, t.AddDate(f.years, f.months, f.days), nil
	}
	return from, to, tma.Errorf(tma.EINVALID, "The date %q is not valid: use YYYY-MM-DD, YYYY-MM or YYYY.", tma.CleanText(s, 40))
}
