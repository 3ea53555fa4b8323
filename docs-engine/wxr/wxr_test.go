package wxr

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readAll(tb testing.TB, r io.Reader) ([]Item, []Author, error) {
	tb.Helper()
	rd := NewReader(r)
	var items []Item
	for {
		it, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return items, rd.Authors(), nil
		}
		if err != nil {
			return items, rd.Authors(), err
		}
		items = append(items, it)
	}
}

func TestWXRParse(t *testing.T) {
	dir := os.Getenv("TMA_FIXTURES_DIR")
	if dir == "" {
		t.Skip("TMA_FIXTURES_DIR is unset; `make test` sets it to ../shared/fixtures (wordpress/themeunittestdata.wordpress.xml)")
	}
	f, err := os.Open(filepath.Join(dir, "wordpress", "themeunittestdata.wordpress.xml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	items, authors, err := readAll(t, f)
	if err != nil {
		t.Fatal(err)
	}

	count := map[string]int{}
	byID := map[int64]Item{}
	for _, it := range items {
		count[it.Type+"/"+it.Status]++
		byID[it.ID] = it
	}
	// Counted by hand in the file (grep on wp:post_type and wp:status).
	want := map[string]int{"page/publish": 21, "post/publish": 56, "post/draft": 1, "post/future": 1, "attachment/inherit": 37, "nav_menu_item/publish": 70}
	for k, n := range want {
		if count[k] != n {
			t.Errorf("%s: %d items, want %d", k, count[k], n)
		}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	rd := NewReader(f)
	if _, err := rd.Next(); err != nil || rd.BaseURL() != "https://wpthemetestdata.wordpress.com" {
		t.Errorf("BaseURL = %q (%v), want the blog URL, not wordpress.com's", rd.BaseURL(), err)
	}
	modified := 0 // 7 items have a wp:post_modified_gmt (grep)
	for _, it := range items {
		if !it.ModifiedGMT.IsZero() {
			modified++
		}
	}
	if modified != 7 {
		t.Errorf("%d items with a modification date, want 7", modified)
	}
	if len(items) != 186 {
		t.Errorf("%d items, want 186", len(items))
	}
	if len(authors) != 2 || authors[0].Login != "themedemos" || authors[1].DisplayName != "Theme Reviewer" {
		t.Errorf("authors = %+v", authors)
	}

	// The page hierarchy, looked up by hand: Level 3 (172) → Level 2 (173) →
	// Level 1 (174); Επίπεδο 3 (1813) → Επίπεδο 2 (1811) → Ελληνικά (1809).
	for _, p := range []struct {
		id, parent  int64
		title, slug string
	}{
		{172, 173, "Level 3", "level-3"},
		{173, 174, "Level 2", "level-2"},
		{174, 0, "Level 1", "level-1"},
		{155, 2, "Page with comments", "page-with-comments"},
		{1813, 1811, "Επίπεδο 3", "%ce%b5%cf%80%ce%af%cf%80%ce%b5%ce%b4%ce%bf-3"},
	} {
		it := byID[p.id]
		if it.Type != "page" || it.ParentID != p.parent || it.Title != p.title || it.Slug != p.slug {
			t.Errorf("page %d = %+v, want parent %d, title %q, slug %q", p.id, it, p.parent, p.title, p.slug)
		}
	}
	draft := byID[1836]
	if draft.Status != "draft" {
		for _, it := range items {
			if it.Status == "draft" {
				draft = it
			}
		}
	}
	if draft.Status != "draft" || draft.Type != "post" {
		t.Errorf("no draft post found")
	}
	if it := byID[2]; it.Author != "themedemos" || it.DateGMT.IsZero() || it.Link != "https://wpthemetestdata.wordpress.com/about/" {
		t.Errorf("About page = author %q, date %v, link %q", it.Author, it.DateGMT, it.Link)
	}

	// Internal links: the Block: Gallery post (1752) links to attachment pages
	// of the same export; they become wiki links.
	idx := NewIndex(items)
	link := func(href string) (string, bool) {
		it, ok := idx.Lookup(href)
		if !ok {
			return "", false
		}
		return it.Type + "/" + it.Slug, true
	}
	// Block category: Layout Elements (1734) links to the Block: Button post
	// (1747) under another date than the post's own link (2018/11/03 vs
	// 2018/11/02): WordPress redirects by address, and so does Lookup.
	if it, ok := idx.Lookup("https://wpthemetestdata.wordpress.com/2018/11/03/block-button/"); !ok || it.ID != 1747 {
		t.Errorf("link by address found %d, %v; want the Block: Button post 1747", it.ID, ok)
	}
	if it, ok := idx.Lookup("https://example.org/2018/11/03/block-button/"); ok {
		t.Errorf("a link to another host found item %d", it.ID)
	}
	md, rep, err := ToMarkdown(byID[1752].Content, link)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md, "[[attachment/canola2") {
		t.Errorf("internal link not rewritten:\n%s", md)
	}
	if strings.Contains(md, "wp:gallery") || strings.Contains(md, "<!--") {
		t.Errorf("block comments left:\n%s", md)
	}
	if len(rep.Media) == 0 {
		t.Errorf("no media reported for the gallery post")
	}
}

func TestWXRToMarkdown(t *testing.T) {
	link := func(href string) (string, bool) {
		if strings.Contains(href, "page_id=7") || strings.HasSuffix(href, "example.org/ablauf/") {
			return "prozesse/ablauf", true
		}
		return "", false
	}
	tests := []struct {
		name, html string
		want       []string
		warnings   int
	}{
		{"block comments", "<!-- wp:paragraph -->\n<p>Text</p>\n<!-- /wp:paragraph -->", []string{"Text"}, 0},
		{"caption", `[caption id="a1" align="alignnone" width="300"]<img src="https://example.org/wp-content/uploads/a.jpg" alt="Bild"> Ein Foto[/caption]`, []string{"![Bild](https://example.org/wp-content/uploads/a.jpg)", "Ein Foto"}, 0},
		{"gallery removed with a warning", `<p>vor</p>[gallery ids="1,2"]<p>nach</p>`, []string{"vor", "nach"}, 1},
		{"unknown shortcode removed", `<p>[contact-form to="x@example.org"]Hallo[/contact-form]</p>`, []string{"Hallo"}, 1},
		{"plain brackets stay", `<p>Zitat [sic] bleibt</p>`, []string{`Zitat \[sic] bleibt`}, 0},
		{"internal links", `<p><a href="https://example.org/?page_id=7">der Ablauf</a> und <a href="http://example.org/ablauf/">prozesse/ablauf</a></p>`, []string{"[[prozesse/ablauf|der Ablauf]]", "und [[prozesse/ablauf]]"}, 0},
		{"outside links stay", `<p><a href="https://example.com/x">x</a></p>`, []string{"[x](https://example.com/x)"}, 0},
		{"table and strikethrough", `<table><tr><th>a</th></tr><tr><td><del>b</del></td></tr></table>`, []string{"| a ", "| ~~b~~ |"}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			md, rep, err := ToMarkdown(tc.html, link)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(md, w) {
					t.Errorf("markdown %q does not contain %q", md, w)
				}
			}
			if len(rep.Warnings) != tc.warnings {
				t.Errorf("warnings = %q, want %d", rep.Warnings, tc.warnings)
			}
		})
	}
}

func TestWXRMalformed(t *testing.T) {
	head := `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<rss version="2.0" xmlns:wp="http://wordpress.org/export/1.1/">` + "\n<channel>\n"
	tests := []struct {
		name string
		xml  string
		line int
	}{
		{"unclosed item", head + "<item>\n<title>a</title>\n</channel>\n</rss>\n", 6}, // </channel> on line 6,
		{"bad entity", head + "<item>\n<title>a &nbsp; b</title>\n</item>\n", 5},
		{"truncated", head + "<item>\n<title>a</title>\n", 6},
		{"not WXR", "<html></html>\n", 2}, // at end of input,
		{"garbage", "\n\n<<<", 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := readAll(t, strings.NewReader(tc.xml))
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want a *SyntaxError", err)
			}
			if se.Line != tc.line {
				t.Errorf("line %d, want %d (%v)", se.Line, tc.line, err)
			}
		})
	}
}
