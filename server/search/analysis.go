package search

import (
	"bytes"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/lang/de"
	"github.com/blevesearch/bleve/v2/analysis/lang/en"
	"github.com/blevesearch/bleve/v2/analysis/token/lowercase"
	"github.com/blevesearch/bleve/v2/analysis/token/porter"
	unicodetok "github.com/blevesearch/bleve/v2/analysis/tokenizer/unicode"
	"github.com/blevesearch/bleve/v2/registry"
	"golang.org/x/text/unicode/norm"
)

// The analyzers of the mapping, registered with Bleve's (global) registry
// under these names the first time a mapping is built.
const (
	analyzerDE   = "tma_de"   // German: stop words, umlaut folding, light stemming
	analyzerEN   = "tma_en"   // English: possessives, stop words, Porter, -en derivations
	analyzerName = "tma_name" // names (author): lower case and folding, no stemming
)

// analyzers holds the analyzers, built once, shared by the index mapping,
// the query builder and the snippets, so that what is indexed, what is
// queried and what is highlighted are the same terms.
type analyzers struct {
	de, en, name analysis.Analyzer
	// dePrefix and enPrefix normalise the letters before a '*' without
	// stemming them (a stem of a word's beginning is not a beginning).
	dePrefix, enPrefix analysis.Analyzer
}

var (
	analyzersOnce sync.Once
	analyzersVal  *analyzers
	analyzersErr  error
)

// loadAnalyzers builds the analyzers and registers them with Bleve's
// registry, which an index mapping refers to by name. Bleve's registry is
// global, so this happens once per process.
func loadAnalyzers() (*analyzers, error) {
	analyzersOnce.Do(func() {
		analyzersVal, analyzersErr = buildAnalyzers()
		if analyzersErr != nil {
			return
		}
		for name, a := range map[string]analysis.Analyzer{analyzerDE: analyzersVal.de, analyzerEN: analyzersVal.en, analyzerName: analyzersVal.name} {
			a := a
			err := registry.RegisterAnalyzer(name, func(map[string]interface{}, *registry.Cache) (analysis.Analyzer, error) { return a, nil })
			if err != nil {
				analyzersErr = err
				return
			}
		}
	})
	return analyzersVal, analyzersErr
}

func buildAnalyzers() (*analyzers, error) {
	cache := registry.NewCache()
	named := func(names ...string) ([]analysis.TokenFilter, error) {
		var fs []analysis.TokenFilter
		for _, n := range names {
			f, err := cache.TokenFilterNamed(n)
			if err != nil {
				return nil, err
			}
			fs = append(fs, f)
		}
		return fs, nil
	}
	lower, err := named(lowercase.Name)
	if err != nil {
		return nil, err
	}
	stopDE, err := named(de.StopName)
	if err != nil {
		return nil, err
	}
	normDE, err := named(de.NormalizeName)
	if err != nil {
		return nil, err
	}
	stemDE, err := named(de.LightStemmerName)
	if err != nil {
		return nil, err
	}
	possEN, err := named(en.PossessiveName)
	if err != nil {
		return nil, err
	}
	stopEN, err := named(en.StopName, porter.Name)
	if err != nil {
		return nil, err
	}
	tok := tokenizer{}
	chain := func(parts ...[]analysis.TokenFilter) []analysis.TokenFilter {
		var out []analysis.TokenFilter
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	fold := []analysis.TokenFilter{foldFilter{}}
	derive := []analysis.TokenFilter{deriveFilter{}}
	return &analyzers{
		// 's, lower case, stop words, ä→a ae→a ß→ss, accents off, light stemming
		de: &analysis.DefaultAnalyzer{Tokenizer: tok, TokenFilters: chain(possEN, lower, stopDE, normDE, fold, stemDE)},
		// possessive 's, lower case, stop words, Porter, threaten→threat
		en:       &analysis.DefaultAnalyzer{Tokenizer: tok, TokenFilters: chain(possEN, lower, stopEN, derive)},
		name:     &analysis.DefaultAnalyzer{Tokenizer: tok, TokenFilters: chain(lower, normDE, fold)},
		dePrefix: &analysis.DefaultAnalyzer{Tokenizer: tok, TokenFilters: chain(lower, normDE, fold)},
		enPrefix: &analysis.DefaultAnalyzer{Tokenizer: tok, TokenFilters: lower},
	}, nil
}

// tokenizer is Bleve's Unicode word tokenizer, except that a single letter
// joined by a hyphen to the next word makes one token: "E-Mail" and
// "e-mails" become "EMail" and "emails", which then stem like "email";
// likewise "U-Bahn", "x-ray". Offsets stay those of the input, which the
// snippets rely on.
type tokenizer struct{}

func (tokenizer) Tokenize(input []byte) analysis.TokenStream {
	ts := unicodetok.NewUnicodeTokenizer().Tokenize(input)
	out := ts[:0]
	for i := 0; i < len(ts); i++ {
		t := ts[i]
		if i+1 < len(ts) && utf8.RuneCount(t.Term) == 1 && t.End < len(input) && input[t.End] == '-' && ts[i+1].Start == t.End+1 {
			r, _ := utf8.DecodeRune(t.Term)
			if unicode.IsLetter(r) {
				n := ts[i+1]
				term := make([]byte, 0, len(t.Term)+len(n.Term))
				t.Term = append(append(term, t.Term...), n.Term...)
				t.End = n.End
				i++
			}
		}
		t.Position = len(out) + 1
		out = append(out, t)
	}
	return out
}

// deriveFilter follows the Porter stemmer and takes the verb-forming "-en"
// off a stem of at least six letters: Porter stems "threatening",
// "threatens" and "threatened" to "threaten" and "threats" to "threat";
// this makes them one term, as a person means them ("frighten" → "fright",
// "harden" → "hard"). It over-stems a few words ("garden" → "gard"),
// equally at index and query time, which costs little precision.
type deriveFilter struct{}

func (deriveFilter) Filter(input analysis.TokenStream) analysis.TokenStream {
	for _, t := range input {
		if bytes.HasSuffix(t.Term, []byte("en")) && utf8.RuneCount(t.Term) >= 6 {
			t.Term = t.Term[:len(t.Term)-2]
		}
	}
	return input
}

// foldFilter takes the remaining diacritics off (é → e, ç → c, å → a),
// after the German normaliser has folded umlauts and ß its own way.
type foldFilter struct{}

func (foldFilter) Filter(input analysis.TokenStream) analysis.TokenStream {
	for _, t := range input {
		if isASCII(t.Term) {
			continue
		}
		d := norm.NFD.Bytes(t.Term)
		out := d[:0]
		for len(d) > 0 {
			r, n := utf8.DecodeRune(d)
			if !unicode.Is(unicode.Mn, r) {
				out = utf8.AppendRune(out, r)
			}
			d = d[n:]
		}
		t.Term = norm.NFC.Bytes(out)
	}
	return input
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// terms analyses s with a and returns its terms in order.
func terms(a analysis.Analyzer, s string) []string {
	ts := a.Analyze([]byte(s))
	out := make([]string, 0, len(ts))
	for _, t := range ts {
		out = append(out, string(t.Term))
	}
	return out
}
