package tma

import (
	"strings"
	"testing"
)

func TestWikiImportPlace(t *testing.T) {
	imp := WikiImport{Source: "https://example.org", Pages: []ImportedPage{
		{Origin: "page 1", Title: "Ablauf", Slug: "ablauf"},     // imported before: keeps its address
		{Origin: "page 2", Title: "Kontakte", Slug: "kontakte"}, // the address and title are a hand-made page's
		{Origin: "page 3", Title: "Neu", Slug: "new"},           // reserved by the wiki's routes
		{Origin: "page 4", Title: "kontakte", Slug: "kontakte"}, // the same again
	}, Report: ImportedPage{Origin: "report", Title: "WordPress import", Slug: "wordpress-import"}}
	warnings := imp.Place([]WikiPageKey{
		{Origin: "page 1", Slug: "ablauf-alt", Title: "Ablauf"},
		{Slug: "kontakte", Title: "Kontakte"},
	})
	want := []struct{ slug, title string }{{"ablauf-alt", "Ablauf"}, {"kontakte-2", "Kontakte (2)"}, {"new-2", "Neu"}, {"kontakte-3", "kontakte (3)"}}
	for i, w := range want {
		if p := imp.Pages[i]; p.Slug != w.slug || p.Title != w.title {
			t.Errorf("%s: %q %q, want %q %q", p.Origin, p.Slug, p.Title, w.slug, w.title)
		}
	}
	if imp.Report.Slug != "wordpress-import" || len(warnings) != 5 {
		t.Errorf("report %q, warnings %q", imp.Report.Slug, warnings)
	}
	if err := imp.Validate(); err != nil {
		t.Errorf("placed import: %v", err)
	}
	imp.Pages[0].ParentOrigin = "page 4"
	if err := imp.Validate(); err == nil || !strings.Contains(err.Error(), "its parent must come before it") {
		t.Errorf("a parent after its child: %v", err)
	}
}

func TestImportTitle(t *testing.T) {
	for in, want := range map[string]string{
		"Eskalation [intern] | #1 / 2": "Eskalation intern 1 - 2",
		"  \t ":                        "Untitled",
		"A\nB":                         "A B",
	} {
		if got := ImportTitle(in, "Untitled"); got != want {
			t.Errorf("ImportTitle(%q) = %q, want %q", in, got, want)
		}
	}
	if got := ImportTitle(strings.Repeat("ä", 300), ""); len([]rune(got)) != MaxWikiTitle {
		t.Errorf("a long title has %d characters", len([]rune(got)))
	}
}
