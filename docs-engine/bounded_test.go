package docsengine

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestRenderBoundedTime feeds hostile documents to a default Engine: each
// renders within a second or is refused with a *LimitError. Without -race the
// inputs are about 1–2 MiB (the default limit is 2 MiB); under -race, which
// makes goldmark and bluemonday about five times slower, the inputs that are
// rendered rather than refused shrink to a twentieth (other packages run at the same time in make test).
func TestRenderBoundedTime(t *testing.T) {
	repeatLines := func(n int, f func(i int) string) string {
		var b strings.Builder
		for i := 0; i < n; i++ {
			b.WriteString(f(i))
		}
		return b.String()
	}
	// n scales a repeat count: full size normally, a twentieth under -race.
	n := func(count int) int {
		if raceEnabled {
			return count / 20
		}
		return count
	}
	tests := []struct {
		name string
		src  string
	}{
		{"10000 nested quotes", strings.Repeat("> ", 10000) + "a\n"},
		{"10000 nested lists", strings.Repeat("- ", 10000) + "a\n"},
		{"10000 nested ordered lists", strings.Repeat("1. ", 10000) + "a\n"},
		{"lists nested by indentation", repeatLines(1000, func(i int) string { return strings.Repeat("  ", i) + "- a\n" })},
		{"quotes deepening line by line", repeatLines(1400, func(i int) string { return strings.Repeat(">", i) + " a\n" })},
		{"10000 nested emphasis", strings.Repeat("*a ", 10000) + strings.Repeat(" a*", 10000)},
		{"10000 nested strong", strings.Repeat("**", 10000) + "a" + strings.Repeat("**", 10000)},
		{"10000 nested links", strings.Repeat("[", 10000) + "a" + strings.Repeat("](b)", 10000)},
		{"10 MB line", strings.Repeat("a", 10<<20)},
		{"2 MB line", strings.Repeat("abc def ", n(250000))},
		{"unclosed brackets", strings.Repeat("[", n(1<<20))},
		{"unclosed link destinations", strings.Repeat("[a](", 500000)},
		{"unclosed angle destinations", strings.Repeat("[a](< ", n(300000))},
		{"unclosed titles", strings.Repeat("[a](b \"", n(250000))},
		{"brackets on many lines", strings.Repeat("[a]\n", 500000)},
		{"unclosed emphasis", strings.Repeat("*a _b ", n(300000))},
		{"unclosed strikethrough", strings.Repeat("~~a ", n(500000))},
		{"unclosed code spans", strings.Repeat("`a``", n(500000))},
		{"unclosed wiki links", strings.Repeat("[[a", n(600000))},
		{"unclosed raw HTML", strings.Repeat("<a x=\"", n(300000))},
		{"huge table", "|" + strings.Repeat("a|", 500) + "\n|" + strings.Repeat("-|", 500) + "\n" + strings.Repeat("|"+strings.Repeat("b|", 500)+"\n", n(600))},
		{"long table", "|a|b|\n|-|-|\n" + strings.Repeat("|x|[y](z)|\n", n(150000))},
		{"many footnotes", repeatLines(3000, func(i int) string { n := strconv.Itoa(i); return "x[^" + n + "]\n\n[^" + n + "]: y\n\n" })},
		{"many references to one footnote", strings.Repeat("[^1] ", n(100000)) + "\n\n[^1]: x\n"},
		{"many wiki links", strings.Repeat("[[Seite x|Label]] ", n(100000))},
		{"many headings", strings.Repeat("# a\n", n(200000))},
		{"many callouts", strings.Repeat("> [!NOTE]\n> x\n\n", n(60000))},
		{"many tasks", strings.Repeat("- [ ] x\n", n(100000))},
		{"many autolinks", strings.Repeat("https://a.example/x www.b.example ", n(50000))},
		{"many entities", strings.Repeat("&amp;&#1234;&ouml;", n(100000))},
	}
	e := New(Config{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The fastest of up to three tries: a busy machine (make test
			// runs packages side by side) only ever adds time, while a
			// blow-up is slow every time.
			var took time.Duration
			var err error
			for try := 0; try < 3 && (try == 0 || took > time.Second); try++ {
				start := time.Now()
				_, err = e.Render([]byte(tc.src), Options{Resolver: mapResolver{}})
				if d := time.Since(start); try == 0 || d < took {
					took = d
				}
			}
			var limit *LimitError
			switch {
			case errors.As(err, &limit):
				t.Logf("%d bytes refused in %v: %v", len(tc.src), took, err)
			case err != nil:
				t.Fatalf("unexpected error: %v", err)
			default:
				t.Logf("%d bytes rendered in %v", len(tc.src), took)
			}
			if took > time.Second {
				t.Errorf("took %v, want under a second", took)
			}
		})
	}
}
