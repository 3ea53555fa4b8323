package docsengine

import (
	"errors"
	"flag"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// mapResolver knows the pages in the map; every other target is missing and
// links to a page that creates it.
type mapResolver map[string]string

func (m mapResolver) ResolveWikiLink(target string) (string, bool) {
	if u, ok := m[target]; ok {
		return u, true
	}
	return "/wiki/new?title=" + target, false
}

func mustRender(tb testing.TB, src string, opts Options) Result {
	tb.Helper()
	res, err := New(Config{}).Render([]byte(src), opts)
	if err != nil {
		tb.Fatalf("Render(%q): %v", src, err)
	}
	return res
}

func TestRenderHeadingIDs(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"umlauts", "# Übersicht\n## Maßnahmen für Gefährder", []string{"übersicht", "maßnahmen-für-gefährder"}},
		{"duplicates", "# Ablauf\n# Ablauf\n# Ablauf", []string{"ablauf", "ablauf-1", "ablauf-2"}},
		{"duplicate of a suffixed id", "# a-1\n# a\n# a", []string{"a-1", "a", "a-2"}},
		{"punctuation", "# Schritt 1: Melden (sofort!) & dokumentieren?", []string{"schritt-1-melden-sofort-dokumentieren"}},
		{"markup is not in the id", "# *Wichtig* [Link](https://example.com) `code`", []string{"wichtig-link-code"}},
		{"only punctuation", "# ???\n# !!!", []string{"heading", "heading-1"}},
		{"setext", "Überblick\n=========", []string{"überblick"}},
		{"underscores and hyphens collapse", "# a_-_b  c", []string{"a-b-c"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := mustRender(t, tc.src, Options{})
			var got []string
			for _, h := range res.TOC {
				got = append(got, h.ID)
				if !strings.Contains(res.HTML, `id="`+h.ID+`"`) {
					t.Errorf("id %q missing from HTML %s", h.ID, res.HTML)
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ids = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRenderTOC(t *testing.T) {
	res := mustRender(t, "# Ablauf\n\ntext\n\n## Erstkontakt *sofort*\n\n### Notfall\n\n## Erstkontakt *sofort*\n", Options{})
	want := []Heading{
		{1, "Ablauf", "ablauf"},
		{2, "Erstkontakt sofort", "erstkontakt-sofort"},
		{3, "Notfall", "notfall"},
		{2, "Erstkontakt sofort", "erstkontakt-sofort-1"},
	}
	if !reflect.DeepEqual(res.TOC, want) {
		t.Errorf("TOC = %+v, want %+v", res.TOC, want)
	}
}

func TestRenderCallouts(t *testing.T) {
	for _, kind := range []string{"NOTE", "TIP", "IMPORTANT", "WARNING", "CAUTION"} {
		t.Run(kind, func(t *testing.T) {
			res := mustRender(t, "> [!"+kind+"]\n> Body *text*.\n", Options{})
			lower := strings.ToLower(kind)
			title := strings.ToUpper(lower[:1]) + lower[1:]
			want := `<div class="callout callout-` + lower + `" role="note">` + "\n" +
				`<p class="callout-title">` + title + "</p>\n<p>Body <em>text</em>.</p>\n</div>\n"
			if res.HTML != want {
				t.Errorf("got  %q\nwant %q", res.HTML, want)
			}
		})
	}
	tests := []struct{ name, src, want string }{
		{"custom title, escaped", "> [!warning] Achtung <b>laut</b>\n> x", `<p class="callout-title">Achtung &lt;b&gt;laut&lt;/b&gt;</p>`},
		{"title only", "> [!TIP]", "<div class=\"callout callout-tip\" role=\"note\">\n<p class=\"callout-title\">Tip</p>\n</div>"},
		{"unknown kind stays a quote", "> [!DANGER]\n> x", "<blockquote>\n<p>[!DANGER]\nx</p>\n</blockquote>"},
		{"not on the first line stays a quote", "> x\n> [!NOTE]", "<blockquote>"},
		{"nested in a list", "- item\n\n  > [!CAUTION]\n  > careful", `<div class="callout callout-caution" role="note">`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := mustRender(t, tc.src, Options{})
			if !strings.Contains(res.HTML, tc.want) {
				t.Errorf("HTML %q does not contain %q", res.HTML, tc.want)
			}
		})
	}
}

func TestRenderWikiLinks(t *testing.T) {
	resolver := mapResolver{"Erstgespräch": "/wiki/erstgespraech", "prozesse/melden": "/wiki/prozesse/melden", "Bad": "javascript:alert(1)"}
	tests := []struct {
		name, src, want string
		links           []string
	}{
		{"existing", "[[Erstgespräch]]", `<a href="/wiki/erstgespraech" class="wiki-link" rel="nofollow">Erstgespräch</a>`, []string{"Erstgespräch"}},
		{"missing", "[[Neue Seite]]", `<a href="/wiki/new?title=Neue%20Seite" class="wiki-link wiki-missing" rel="nofollow">Neue Seite</a>`, []string{"Neue Seite"}},
		{"path with label", "[[prozesse/melden|Meldung]]", `<a href="/wiki/prozesse/melden" class="wiki-link" rel="nofollow">Meldung</a>`, []string{"prozesse/melden"}},
		{"fragment", "[[Erstgespräch#Ablauf & Fristen]]", `href="/wiki/erstgespraech#ablauf-fristen"`, []string{"Erstgespräch"}},
		{"unsafe URL from the resolver", "[[Bad]]", `<span class="wiki-link">Bad</span>`, []string{"Bad"}},
		{"label escaped", "[[x|<b>]]", `&lt;b&gt;</a>`, []string{"x"}},
		{"targets collected once, in order", "[[B]] [[A]] [[B|b]]", `</a>`, []string{"B", "A"}},
		{"not across lines", "[[a\nb]]", "<p>[[a\nb]]</p>", nil},
		{"empty target", "[[|x]] [[ ]]", "<p>[[|x]] [[ ]]</p>", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := mustRender(t, tc.src, Options{Resolver: resolver})
			if !strings.Contains(res.HTML, tc.want) {
				t.Errorf("HTML %q does not contain %q", res.HTML, tc.want)
			}
			if !reflect.DeepEqual(res.Links, tc.links) {
				t.Errorf("Links = %q, want %q", res.Links, tc.links)
			}
		})
	}
	t.Run("no resolver", func(t *testing.T) {
		res := mustRender(t, "[[Seite]]", Options{})
		if want := `<span class="wiki-link wiki-missing">Seite</span>`; !strings.Contains(res.HTML, want) {
			t.Errorf("HTML %q does not contain %q", res.HTML, want)
		}
	})
}

func TestRenderTasks(t *testing.T) {
	res := mustRender(t, "- [x] Leitung informieren\n- [ ] Gespräch *dokumentieren*\n  - [X] Unterpunkt\n- kein Task\n\n1. [ ] nummeriert\n", Options{})
	want := []Task{{"Leitung informieren", true}, {"Gespräch dokumentieren", false}, {"Unterpunkt", true}, {"nummeriert", false}}
	if !reflect.DeepEqual(res.Tasks, want) {
		t.Errorf("Tasks = %+v, want %+v", res.Tasks, want)
	}
	if strings.Count(res.HTML, `disabled=""`) != 4 {
		t.Errorf("every checkbox must be disabled: %s", res.HTML)
	}
}

func TestRenderMermaid(t *testing.T) {
	res := mustRender(t, "```mermaid\ngraph TD\n  A[Meldung] --> B{Gefahr?}\n  B --> C</pre><script>alert(1)</script>\n```\n", Options{})
	want := "<pre class=\"mermaid\">graph TD\n  A[Meldung] --&gt; B{Gefahr?}\n  B --&gt; C&lt;/pre&gt;&lt;script&gt;alert(1)&lt;/script&gt;\n</pre>"
	if res.HTML != want {
		t.Errorf("got  %q\nwant %q", res.HTML, want)
	}
}

func TestRenderGolden(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("testdata", "process.md"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := New(Config{}).Render(src, Options{Resolver: mapResolver{"Gefährdungseinschätzung": "/wiki/gefaehrdungseinschaetzung"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range []struct{ file, got string }{{"process.html", res.HTML}, {"process.txt", res.Text}} {
		path := filepath.Join("testdata", g.file)
		if *update {
			if err := os.WriteFile(path, []byte(g.got), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if g.got != string(want) {
			t.Errorf("%s differs (go test -run TestRenderGolden -update to accept):\n%s", g.file, g.got)
		}
	}
}

func TestRenderText(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"blocks on lines", "# Titel\n\nErster *Absatz*\nzweite Zeile.\n\n- eins\n- zwei", "Titel\nErster Absatz zweite Zeile.\neins\nzwei"},
		{"no markup or raw HTML", "Text <b>fett</b> [Link](https://x.example) `code`", "Text fett Link code"},
		{"table cells", "| a | b |\n|---|---|\n| 1 | 2 |", "a b\n1 2"},
		{"callout title and wiki label", "> [!NOTE]\n> siehe [[p|Seite]]", "Note\nsiehe Seite"},
		{"code block", "```go\nx := 1\n```", "x := 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := mustRender(t, tc.src, Options{}).Text; got != tc.want {
				t.Errorf("Text = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRenderLimits(t *testing.T) {
	e := New(Config{MaxBytes: 100, MaxDepth: 10})
	tests := []struct {
		name string
		src  string
		want error
	}{
		{"too large", strings.Repeat("a", 101), ErrTooLarge},
		{"quotes too deep", strings.Repeat(">", 11) + " a", ErrTooDeep},
		{"emphasis too deep", strings.Repeat("*a ", 12) + strings.Repeat(" a*", 12), ErrTooDeep},
		{"fits", strings.Repeat(">", 5) + " a", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.Render([]byte(tc.src), Options{})
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			var le *LimitError
			if tc.want != nil && (!errors.As(err, &le) || le.Limit == 0) {
				t.Errorf("err %v is not a *LimitError with its limit", err)
			}
		})
	}
}

func TestRenderConcurrent(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("testdata", "process.md"))
	if err != nil {
		t.Fatal(err)
	}
	e := New(Config{})
	resolver := mapResolver{"Gefährdungseinschätzung": "/wiki/gefaehrdungseinschaetzung"}
	want, err := e.Render(src, Options{Resolver: resolver})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				got, err := e.Render(src, Options{Resolver: resolver})
				if err != nil || !reflect.DeepEqual(got, want) {
					t.Errorf("goroutine %d: different result (err %v)", g, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestAttachmentDestinations(t *testing.T) {
	e := New(Config{})
	toURL := func(name string) string { return "/files/" + url.PathEscape(name) }
	cases := []struct {
		name, src, want string
		toURL           func(string) string
	}{
		{"image", "![Plan](attachment:plan.png)", `<img src="/files/plan.png" alt="Plan">`, toURL},
		{"link", "[Form](attachment:Form%20A.pdf)", `<a href="/files/Form%20A.pdf" rel="nofollow">Form</a>`, toURL},
		{"other scheme stays", "![x](other:plan.png)", `<img alt="x">`, toURL},
		{"no mapper: dropped", "![Plan](attachment:plan.png)", `<img alt="Plan">`, nil},
		{"unsafe url refused", "![Plan](attachment:plan.png)", `<img alt="Plan">`, func(string) string { return "javascript:alert(1)" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := e.Render([]byte(tc.src), Options{AttachmentURL: tc.toURL})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(res.HTML, tc.want) {
				t.Errorf("got %s, want it to contain %s", res.HTML, tc.want)
			}
		})
	}
}
