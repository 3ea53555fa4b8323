package instrument

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tma-portal/tma/server/tma"
)

// TestParseCapsTokenProblems checks that anchors, aliases and tags, which
// are found before the file is parsed, are listed at most maxProblems
// times like every other problem: a megabyte of tags must not become a
// hundred thousand problems (and a 16 MB error) for the page or the CLI to
// print.
func TestParseCapsTokenProblems(t *testing.T) {
	for name, src := range map[string]string{
		"tags":    strings.Repeat("- !!str a\n", 5000),
		"anchors": strings.Repeat("- &a b\n", 5000),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(src))
			var ps tma.Problems
			if !errors.As(err, &ps) {
				t.Fatalf("not problems: %v", err)
			}
			if len(ps) != maxProblems+1 || ps[maxProblems].Message() != "4900 more problems are not listed." {
				t.Fatalf("%d problems, the last %q", len(ps), ps[len(ps)-1].Message())
			}
		})
	}
}

// TestParseManyDocumentsQuickly checks that a file of many small YAML
// documents is refused before the YAML parser sees it: the parser takes
// time quadratic in the number of documents (over 20 s for a megabyte of
// "---\na: 1\n").
func TestParseManyDocumentsQuickly(t *testing.T) {
	src := strings.Repeat("---\na: 1\n", tma.MaxInstrumentFile/9)
	start := time.Now()
	_, err := Parse([]byte(src))
	took := time.Since(start)
	var ps tma.Problems
	if !errors.As(err, &ps) || len(ps) != 1 || ps[0].String() != "line 4: The file must hold one YAML document, not 116508." {
		t.Fatalf("problems: %v", err)
	}
	if took > 5*time.Second {
		t.Fatalf("refusing %d documents took %v", tma.MaxInstrumentFile/9, took)
	}
}
