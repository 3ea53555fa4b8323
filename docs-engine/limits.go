package docsengine

import "bytes"

// maxScanCost bounds the estimate of scanCost: about 0.1 s of goldmark's
// scanning loops, and far above what a real page needs (a 2 MiB page of
// ordinary links costs a few million).
const maxScanCost = 200_000_000

// blockDepth estimates, without parsing, how deeply the lines of src nest
// block quotes and list items: the container markers at the start of a line
// plus one level per two columns of indentation before them. It stops
// counting once the estimate passes limit. It over-estimates rather than
// under-estimates, so that the parser never sees a document whose nesting
// would make it slow; collect checks the exact depth of the tree again,
// which also covers nested emphasis and links.
func blockDepth(src []byte, limit int) int {
	max := 0
	for len(src) > 0 {
		var line []byte
		line, src = cutLine(src)
		depth, indent := 0, 0
	markers:
		for i := 0; i < len(line) && depth+indent/2 <= limit; i++ {
			switch c := line[i]; {
			case c == ' ':
				indent++
			case c == '\t':
				indent += 4
			case c == '>':
				depth++
			case c == '-' || c == '*' || c == '+':
				if i+1 < len(line) && line[i+1] != ' ' && line[i+1] != '\t' {
					break markers
				}
				depth++
			case c >= '0' && c <= '9':
				j := i
				for j < len(line) && j-i < 9 && line[j] >= '0' && line[j] <= '9' {
					j++
				}
				if j >= len(line) || (line[j] != '.' && line[j] != ')') {
					break markers
				}
				depth++
				i = j
			default:
				break markers
			}
		}
		if d := depth + indent/2; d > max {
			max = d
			if max > limit {
				return max
			}
		}
	}
	return max
}

func cutLine(src []byte) (line, rest []byte) {
	if i := bytes.IndexByte(src, '\n'); i >= 0 {
		return src[:i], src[i+1:]
	}
	return src, nil
}

// scanCost estimates, in linear time, how many bytes goldmark v1.8.7's
// inline parser will scan more than once. Two of its loops are quadratic on
// hostile input:
//
//   - For every "]" it looks up a shortcut reference, and text.blockReader
//     Value walks back over every later line of the paragraph to find the
//     label: cost ≈ brackets × lines per paragraph ("[a]\n" 500,000 times
//     takes a minute).
//   - For every "](" it scans the destination to the next space (to the next
//     ">" for "<…>"), and a title to its closing quote: "[a](" 100,000 times
//     on one line takes 24 s.
//
// Footnotes cost the square of their number (see below).
//
// Paragraphs are approximated by runs of non-blank lines, cut where a line
// opens a list item or heading (which always ends a paragraph); this can only
// over-estimate. Documents above maxScanCost are refused with ErrTooComplex.
func scanCost(src []byte) int {
	cost := 0
	// Brackets × lines, per run of non-blank lines.
	brackets, lines := 0, 0
	for rest := src; len(rest) > 0; {
		var line []byte
		line, rest = cutLine(rest)
		if len(bytes.TrimSpace(line)) == 0 {
			cost += brackets * lines
			brackets, lines = 0, 0
			continue
		}
		if startsParagraph(line) {
			cost += brackets * lines
			brackets, lines = 0, 0
		}
		lines++
		brackets += bytes.Count(line, []byte("]"))
	}
	cost += brackets * lines
	// Footnotes: goldmark looks definitions up by a linear search and sorts
	// them by insertion, so references × definitions; 20,000 take 2.5 s.
	fn := bytes.Count(src, []byte("[^"))
	cost += 10 * fn * fn
	if cost > maxScanCost {
		return cost
	}
	// Link destinations and titles. next[c] memoises the next position of a
	// stop byte at or after a position, so every "](" costs O(1) amortised.
	var memo [4]struct{ from, at int }
	nextOf := func(k int, from int, stops string) int {
		m := &memo[k]
		if from >= m.from && from <= m.at && m.at > 0 {
			return m.at
		}
		i := bytes.IndexAny(src[from:], stops)
		at := len(src)
		if i >= 0 {
			at = from + i
		}
		m.from, m.at = from, at
		return at
	}
	for i := 0; ; {
		j := bytes.Index(src[i:], []byte("]("))
		if j < 0 {
			break
		}
		p := i + j + 2
		for p < len(src) && (src[p] == ' ' || src[p] == '\t') {
			p++
		}
		var end int
		if p < len(src) && src[p] == '<' {
			end = nextOf(0, p, ">\n")
		} else {
			end = nextOf(1, p, " \t\n")
		}
		cost += end - p
		// A title after the destination: scanned to its closing quote.
		q := end
		for q < len(src) && (src[q] == ' ' || src[q] == '\t' || src[q] == '\n') && q-end < 8 {
			q++
		}
		if q < len(src) {
			switch src[q] {
			case '"':
				cost += nextOf(2, q+1, `"`) - q
			case '\'':
				cost += nextOf(3, q+1, `'`) - q
			case '(':
				cost += nextOf(3, q+1, `)`) - q
			}
		}
		if cost > maxScanCost {
			return cost
		}
		i = p
	}
	return cost
}

// startsParagraph reports whether line, after its block-quote markers, opens a
// bullet item, an ordered item starting at 1 or an ATX heading with at most
// three spaces of indentation: lines that end any open paragraph.
func startsParagraph(line []byte) bool {
	for {
		n := len(line) - len(bytes.TrimLeft(line, " "))
		if n > 3 {
			return false // continuation text or code, not a marker
		}
		line = line[n:]
		if len(line) == 0 || line[0] != '>' {
			break
		}
		line = line[1:]
	}
	if len(line) < 2 {
		return false
	}
	switch line[0] {
	case '-', '*', '+':
		return line[1] == ' ' || line[1] == '\t'
	case '#':
		return line[1] == ' ' || line[1] == '#'
	case '1':
		return len(line) > 2 && (line[1] == '.' || line[1] == ')') && line[2] == ' '
	}
	return false
}
