package search

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bindex "github.com/blevesearch/bleve_index_api"
	"github.com/tma-portal/tma/server/tma"
)

// MustCreateIndex returns an empty index in a temporary folder, closed at
// the end of the test.
func MustCreateIndex(tb testing.TB) *Index {
	tb.Helper()
	ix, err := Create(filepath.Join(tb.TempDir(), "index"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = ix.Close() })
	return ix
}

// MustApply applies docs at seq.
func MustApply(tb testing.TB, ix *Index, seq int64, docs ...*tma.SearchDoc) {
	tb.Helper()
	if err := ix.Apply(context.Background(), seq, docs, nil); err != nil {
		tb.Fatal(err)
	}
}

func hitKeys(r *tma.SearchResult) []string {
	var ks []string
	for _, h := range r.Hits {
		ks = append(ks, h.Key)
	}
	return ks
}

func contains(ks []string, k string) bool {
	for _, x := range ks {
		if x == k {
			return true
		}
	}
	return false
}

func TestSearchLanguageAnalysis(t *testing.T) {
	for _, tc := range []struct {
		name, text, query string
		want              bool
	}{
		{"German plural finds singular", "Eine Drohung gegen den Chef.", "Drohungen", true},
		{"German singular finds plural", "Mehrere Drohungen gingen ein.", "Drohung", true},
		{"ue finds ü", "Frau Müller rief an.", "Mueller", true},
		{"u finds ü", "Frau Müller rief an.", "Muller", true},
		{"ü finds ue", "Herr Mueller rief an.", "Müller", true},
		{"ss finds ß", "Die Hauptstraße war gesperrt.", "Hauptstrasse", true},
		{"ß finds ss", "Die Hauptstrasse war gesperrt.", "Hauptstraße", true},
		{"German umlaut plural", "Zwei Häuser brannten.", "Haus", true},
		{"German dative plural", "Gespräch mit den Mitarbeitern.", "Mitarbeiter", true},
		{"threat finds threatening", "He was threatening his colleague.", "threat", true},
		{"threatening finds threat", "A threat was made.", "threatening", true},
		{"threatened finds threatens", "He threatens to return.", "threatened", true},
		{"English plural", "Several houses were searched.", "house", true},
		{"email finds e-mails", "He sent e-mails at night.", "email", true},
		{"email finds E-Mail", "Sie schrieb eine E-Mail.", "email", true},
		{"E-Mail finds email", "An email arrived.", "E-Mail", true},
		{"emails finds E-Mail", "Sie schrieb eine E-Mail.", "emails", true},
		{"case-insensitive", "eine drohung", "DROHUNG", true},
		{"accents folded", "Treffen im Café.", "Cafe", true},
		{"German stop word alone", "Der Mann kam.", "der", false},
		{"English stop word alone", "The man came.", "the", false},
		{"a stop word does not block the rest", "The threat came.", "the threat", true},
		{"no decompounding: Drohung does not find Bedrohung", "Eine Bedrohung.", "Drohung", false},
		{"prefix", "Eine Drohung.", "Dro*", true},
		{"prefix with umlaut", "Frau Müller.", "Mül*", true},
		{"prefix folded", "Frau Müller.", "Mue*", true},
		{"prefix of an English stem", "He was threatening.", "threatening*", true},
		{"fuzzy finds a typo", "Eine Drohung.", "Drohumg~", true},
		{"no typo without ~", "Eine Drohung.", "Drohumg", false},
		{"fuzzy ~2 on long words", "Die Sachbearbeiterin.", "Sachbaerbeiterin~", true},
		{"phrase", "Eine Drohung gegen den Chef.", `"Drohung gegen den Chef"`, true},
		{"phrase order", "Eine Drohung gegen den Chef.", `"Chef gegen Drohung"`, false},
		{"phrase stems", "He kept threatening colleagues.", `"threatens colleague"`, true},
		{"all words", "Eine Drohung gegen den Chef.", "Drohung Chef", true},
		{"all words, one missing", "Eine Drohung gegen den Chef.", "Drohung Nachbar", false},
		{"excluded word", "Eine Drohung gegen den Chef.", "Drohung -Chef", false},
		{"excluded word absent", "Eine Drohung gegen den Chef.", "Drohung -Nachbar", true},
		{"title is searched", "", "Gefährdungsmeldung", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ix := MustCreateIndex(t)
			title := "Notiz"
			if tc.text == "" {
				title = "Gefährdungsmeldung 2024"
			}
			MustApply(t, ix, 1,
				&tma.SearchDoc{Key: "note:1", Type: tma.SearchNote, TenantID: "t", CaseID: "c", Title: title, Text: tc.text},
				&tma.SearchDoc{Key: "note:2", Type: tma.SearchNote, TenantID: "t", CaseID: "c", Title: "Anderes", Text: "Nichts davon, nothing here."},
			)
			r, err := ix.Search(context.Background(), tma.SearchScope{TenantID: "t", Cases: []string{"c"}}, tma.SearchQuery{Text: tc.query})
			if err != nil {
				t.Fatal(err)
			}
			if got := contains(hitKeys(r), "note:1"); got != tc.want {
				t.Errorf("%q in %q: found = %v, want %v", tc.query, tc.text, got, tc.want)
			}
			if contains(hitKeys(r), "note:2") {
				t.Errorf("%q found the unrelated note", tc.query)
			}
			if tc.want {
				// what matched is what is highlighted
				var marked bool
				for _, p := range ix.Snippet(title+" "+tc.text, tma.SearchQuery{Text: tc.query}) {
					marked = marked || p.Match
				}
				if !marked {
					t.Errorf("snippet for %q marks nothing", tc.query)
				}
			}
		})
	}
}

func TestSearchQueryErrors(t *testing.T) {
	for _, q := range []string{
		strings.Repeat("a", tma.MaxSearchQuery+1),
		`"open phrase`,
		`author:"open`,
		"d*",
		"*",
		"a*b",
		"ab~",
		"word~3",
		"type:memo",
		"type:",
		"date:2024-13-01",
		"date:yesterday",
		"date:2024-03-01..2024-01-01",
		"after:2024-03-01 before:2024-02-01",
		"-type:note",
		strings.Repeat("w ", maxQueryParts+1),
		"a1* b1* c1* d1* e1*",
		"\xff\xfe",
	} {
		_, err := parseQuery(q)
		var e *tma.Error
		if !errors.As(err, &e) || e.Code != tma.EINVALID || e.Message == "" {
			t.Errorf("parseQuery(%.40q) = %v, want EINVALID with a message", q, err)
		}
	}
	p, err := parseQuery(`Drohung "gegen den Chef" dro* Drohumg~ -Nachbar type:note type:wiki case:abc author:"Anna Müller" date:2024-01..2024-03 10:30`)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.terms) != 6 || len(p.types) != 2 || len(p.cases) != 1 || len(p.authors) != 1 {
		t.Fatalf("parsed %+v", p)
	}
	if want := time.Date(2024, 4, 1, 0, 0, 0, 0, time.UTC); !p.to.Equal(want) || !p.from.Equal(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("date range [%v, %v)", p.from, p.to)
	}
}

func FuzzSearchQuery(f *testing.F) {
	for _, s := range []string{"", "Drohung", `"a b" -c d* e~ f~2`, "type:note case:x author:\"A B\"", "date:2024-01-01..2024-02", "after:2024 before:2025", `-"`, `author:"`, "a:b:c", "~", "-", "- -", "**", "日本*", "ÄÖÜ~1"} {
		f.Add(s)
	}
	ix := MustCreateIndex(f)
	MustApply(f, ix, 1, &tma.SearchDoc{Key: "note:1", Type: tma.SearchNote, TenantID: "t", CaseID: "c", Text: "Eine Drohung gegen Frau Müller, e-mails."})
	scope := tma.SearchScope{TenantID: "t", Cases: []string{"c"}}
	f.Fuzz(func(t *testing.T, s string) {
		_, err := parseQuery(s)
		var e *tma.Error
		if err != nil && (!errors.As(err, &e) || e.Code != tma.EINVALID) {
			t.Fatalf("parseQuery(%q): %v", s, err)
		}
		_, err = ix.Search(context.Background(), scope, tma.SearchQuery{Text: s})
		if err != nil && (!errors.As(err, &e) || e.Code != tma.EINVALID) {
			t.Fatalf("Search(%q): %v", s, err)
		}
		ix.Snippet("Eine Drohung gegen Frau Müller, e-mails.", tma.SearchQuery{Text: s})
	})
}

func TestSearchPathologicalQueries(t *testing.T) {
	ix := MustCreateIndex(t)
	var docs []*tma.SearchDoc
	for i := 0; i < 300; i++ {
		docs = append(docs, &tma.SearchDoc{Key: fmt.Sprintf("note:%d", i), Type: tma.SearchNote, TenantID: "t", CaseID: "c",
			Text: fmt.Sprintf("aa%03d ab%03d ac%03d ad%03d Drohung%d Drohungen", i, i, i, i, i)})
	}
	MustApply(t, ix, 1, docs...)
	scope := tma.SearchScope{TenantID: "t", Cases: []string{"c"}}
	for _, q := range []string{
		"aa* ab* ac* ad*",
		"Drohung0~2 Drohung1~2 Drohung2~2 Drohung3~2",
		strings.TrimSpace(strings.Repeat("drohung ", maxQueryParts)),
		strings.Repeat(`"a b c d e f g h" `, 5),
	} {
		start := time.Now()
		_, err := ix.Search(context.Background(), scope, tma.SearchQuery{Text: q, PerPage: 100})
		var e *tma.Error
		if err != nil && (!errors.As(err, &e) || e.Code != tma.EINVALID) {
			t.Errorf("%.40q: %v", q, err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("%.40q took %v", q, d)
		}
	}
	// A prefix that expands to more than maxPrefixTerms terms is refused.
	var many []*tma.SearchDoc
	for i := 0; i <= maxPrefixTerms; i++ {
		many = append(many, &tma.SearchDoc{Key: fmt.Sprintf("note:x%d", i), Type: tma.SearchNote, TenantID: "t", CaseID: "c", Text: fmt.Sprintf("zz%04dq", i)})
	}
	MustApply(t, ix, 2, many...)
	_, err := ix.Search(context.Background(), scope, tma.SearchQuery{Text: "zz*"})
	var e *tma.Error
	if !errors.As(err, &e) || e.Code != tma.EINVALID {
		t.Errorf("zz*: %v, want EINVALID", err)
	}
	// A timeout answers EINVALID, not an internal error.
	ix.Timeout = time.Nanosecond
	_, err = ix.Search(context.Background(), scope, tma.SearchQuery{Text: "drohung"})
	if !errors.As(err, &e) || e.Code != tma.EINVALID {
		t.Errorf("timeout: %v, want EINVALID", err)
	}
}

func TestSearchFiltersFacetsSortPaging(t *testing.T) {
	ix := MustCreateIndex(t)
	day := func(m, d int) time.Time { return time.Date(2024, time.Month(m), d, 12, 0, 0, 0, time.UTC) }
	MustApply(t, ix, 7,
		&tma.SearchDoc{Key: "note:1", Type: tma.SearchNote, TenantID: "t", CaseID: "c1", CaseStatus: tma.StatusNew, Author: "Anna Müller", Date: day(1, 5), Text: "Drohung eins"},
		&tma.SearchDoc{Key: "note:2", Type: tma.SearchNote, TenantID: "t", CaseID: "c2", CaseStatus: tma.StatusClosed, Author: "Bernd Schmidt", Date: day(2, 5), Text: "Drohung zwei"},
		&tma.SearchDoc{Key: "action:3", Type: tma.SearchAction, TenantID: "t", CaseID: "c1", CaseStatus: tma.StatusNew, Author: "Anna Müller", Date: day(3, 5), Text: "Drohung drei Drohung"},
		&tma.SearchDoc{Key: "wiki:4", Type: tma.SearchWiki, TenantID: "t", WikiRoles: []tma.Role{tma.RoleHR}, Date: day(3, 6), Text: "Drohung Prozess"},
	)
	scope := tma.SearchScope{TenantID: "t", Cases: []string{"c1", "c2"}, Wiki: true, Roles: []tma.Role{tma.RoleHR}}
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"drohung type:note", []string{"note:1", "note:2"}},
		{"drohung type:note type:action", []string{"action:3", "note:1", "note:2"}},
		{"drohung case:c1", []string{"action:3", "note:1"}},
		{"drohung author:mueller", []string{"action:3", "note:1"}},
		{`drohung author:"anna müller" type:action`, []string{"action:3"}},
		{"drohung date:2024-02", []string{"note:2"}},
		{"drohung date:2024-02-01..2024-03-05", []string{"action:3", "note:2"}},
		{"drohung after:2024-03-05", []string{"wiki:4"}},
		{"drohung before:2024-02-05", []string{"note:1"}},
		{"type:wiki", []string{"wiki:4"}},
	} {
		r, err := ix.Search(context.Background(), scope, tma.SearchQuery{Text: tc.query})
		if err != nil {
			t.Fatalf("%q: %v", tc.query, err)
		}
		got := hitKeys(r)
		sortStrings(got)
		if fmt.Sprint(got) != fmt.Sprint(tc.want) || r.Total != len(tc.want) {
			t.Errorf("%q = %v (total %d), want %v", tc.query, got, r.Total, tc.want)
		}
	}

	r, err := ix.Search(context.Background(), scope, tma.SearchQuery{Text: "drohung", Sort: "date"})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(hitKeys(r)); got != "[wiki:4 action:3 note:2 note:1]" {
		t.Errorf("by date: %s", got)
	}
	h := r.Hits[1]
	if h.Type != tma.SearchAction || h.CaseID != "c1" || !h.Date.Equal(day(3, 5)) {
		t.Errorf("hit %+v", h)
	}
	if r.Hits[0].CaseID != "" {
		t.Errorf("wiki hit has case %q", r.Hits[0].CaseID)
	}
	if got := fmt.Sprint(r.Facets); got != "map[date:[{2024-03 2} {2024-02 1} {2024-01 1}] status:[{new 2} {closed 1}] type:[{note 2} {action 1} {wiki 1}]]" {
		t.Errorf("facets %s", got)
	}
	r, err = ix.Search(context.Background(), scope, tma.SearchQuery{Text: "drohung"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Hits[0].Key != "action:3" { // two occurrences
		t.Errorf("by relevance: %v", hitKeys(r))
	}
	all := hitKeys(r)
	var paged []string
	for p := 1; p <= 4; p++ {
		r, err := ix.Search(context.Background(), scope, tma.SearchQuery{Text: "drohung", Page: p, PerPage: 1})
		if err != nil {
			t.Fatal(err)
		}
		if r.Total != 4 || len(r.Hits) != 1 {
			t.Fatalf("page %d: total %d, %d hits", p, r.Total, len(r.Hits))
		}
		paged = append(paged, r.Hits[0].Key)
	}
	if fmt.Sprint(paged) != fmt.Sprint(all) {
		t.Errorf("pages %v, want %v", paged, all)
	}
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func TestIndexApplyAndReopen(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "index")
	if _, err := Open(dir); !errors.Is(err, ErrNeedsRebuild) {
		t.Fatalf("Open(missing) = %v, want ErrNeedsRebuild", err)
	}
	ix, err := Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := ix.LastSeq(ctx); err != nil || n != 0 {
		t.Fatalf("LastSeq = %d, %v", n, err)
	}
	doc := func(key, text string) *tma.SearchDoc {
		return &tma.SearchDoc{Key: key, Type: tma.SearchNote, TenantID: "t", CaseID: "c", Text: text}
	}
	MustApply(t, ix, 5, doc("note:1", "Drohung"), doc("note:2", "Drohung"))
	// The same key in another tenant is another item.
	MustApply(t, ix, 6, &tma.SearchDoc{Key: "note:1", Type: tma.SearchNote, TenantID: "u", CaseID: "c", Text: "Drohung"})
	// An update replaces the terms; a delete removes the item.
	if err := ix.Apply(ctx, 9, []*tma.SearchDoc{doc("note:2", "Beleidigung")}, []tma.SearchChange{{Seq: 8, TenantID: "t", Key: "note:1"}}); err != nil {
		t.Fatal(err)
	}
	scope := tma.SearchScope{TenantID: "t", Cases: []string{"c"}}
	check := func(ix *Index) {
		t.Helper()
		if n, err := ix.LastSeq(ctx); err != nil || n != 9 {
			t.Errorf("LastSeq = %d, %v, want 9", n, err)
		}
		r, err := ix.Search(ctx, scope, tma.SearchQuery{Text: "drohung"})
		if err != nil || r.Total != 0 {
			t.Errorf("drohung: %v, %v", r, err)
		}
		r, err = ix.Search(ctx, scope, tma.SearchQuery{Text: "beleidigung"})
		if err != nil || fmt.Sprint(hitKeys(r)) != "[note:2]" {
			t.Errorf("beleidigung: %v, %v", r, err)
		}
		r, err = ix.Search(ctx, tma.SearchScope{TenantID: "u", Cases: []string{"c"}}, tma.SearchQuery{Text: "drohung"})
		if err != nil || fmt.Sprint(hitKeys(r)) != "[note:1]" {
			t.Errorf("tenant u: %v, %v", r, err)
		}
	}
	check(ix)
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	ix, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	check(ix)

	// A failed batch applies nothing, not even the sequence.
	err = ix.Apply(ctx, 10, []*tma.SearchDoc{doc("note:3", "Drohung"), {Key: "", TenantID: "t"}}, nil)
	if err == nil {
		t.Fatal("Apply of a doc without key succeeded")
	}
	check(ix)

	// Each tenant has an index of its own.
	if shards, _ := filepath.Glob(filepath.Join(dir, shardPrefix+"*")); len(shards) != 2 {
		t.Errorf("shards = %v, want one for t and one for u", shards)
	}
	// Another mapping version is reported, of the whole index or of one
	// tenant's.
	var re *RebuildError
	if err := ix.shard("u").SetInternal(keyMappingVersion, []byte("0")); err != nil {
		t.Fatal(err)
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); !errors.Is(err, ErrNeedsRebuild) || !errors.As(err, &re) || !strings.Contains(re.Reason, "version") {
		t.Fatalf("Open(a tenant's index of an old version) = %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, metaFile), []byte(`{"mapping_version":0,"last_seq":9}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); !errors.Is(err, ErrNeedsRebuild) || !errors.As(err, &re) || !strings.Contains(re.Reason, "version") {
		t.Fatalf("Open(old version) = %v", err)
	}
	// A corrupt index is reported: its own record, or a tenant's index.
	if err := os.WriteFile(filepath.Join(dir, metaFile), []byte("{garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); !errors.As(err, &re) || re.Reason != "corrupt" {
		t.Fatalf("Open(corrupt) = %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, metaFile), []byte(fmt.Sprintf(`{"mapping_version":%d,"last_seq":9}`, MappingVersion)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(shardDir(dir, "t"), "index_meta.json"), []byte("{garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); !errors.As(err, &re) || re.Reason != "corrupt" {
		t.Fatalf("Open(a tenant's index corrupt) = %v", err)
	}
	// Rebuild replaces it.
	ix, err = Rebuild(ctx, dir, func(ctx context.Context, ix *Index) error {
		return ix.Apply(ctx, 42, []*tma.SearchDoc{doc("note:7", "Drohung")}, nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	if n, _ := ix.LastSeq(ctx); n != 42 {
		t.Errorf("LastSeq after rebuild = %d", n)
	}
	r, err := ix.Search(ctx, scope, tma.SearchQuery{Text: "drohung"})
	if err != nil || fmt.Sprint(hitKeys(r)) != "[note:7]" {
		t.Errorf("after rebuild: %v, %v", r, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(dir))
	if len(entries) != 1 {
		t.Errorf("left behind: %v", entries)
	}
}

func TestIndexStoresNoText(t *testing.T) {
	ix := MustCreateIndex(t)
	MustApply(t, ix, 1, &tma.SearchDoc{Key: "note:1", Type: tma.SearchNote, TenantID: "t", CaseID: "c", CaseStatus: tma.StatusNew,
		Author: "Anna Secretauthor", Date: time.Now(), Title: "Secrettitle", Text: "Secrettext zqxjtoken", WikiRoles: []tma.Role{tma.RoleHR}, TriageHidden: []string{"u1"}})
	d, err := ix.shard("t").Document(docID("t", "note:1"))
	if err != nil || d == nil {
		t.Fatalf("Document: %v, %v", d, err)
	}
	var fields []string
	d.VisitFields(func(f bindex.Field) {
		if len(f.Value()) > 0 {
			fields = append(fields, f.Name()+"="+string(f.Value()))
		}
	})
	if len(fields) > 0 {
		t.Errorf("stored fields: %v", fields)
	}
	// Doc values only on keyword fields: none of the text fields.
	m, err := newMapping()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range m.DefaultMapping.Properties {
		for _, f := range p.Fields {
			if f.Store {
				t.Errorf("%s is stored", f.Name)
			}
			if f.DocValues && f.Type == "text" && f.Analyzer != "keyword" {
				t.Errorf("%s has doc values", f.Name)
			}
		}
	}
	fs, err := ix.shard("t").Fields()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		if f == "title" || f == "text" {
			t.Errorf("field %s is indexed", f)
		}
	}
	all, err := ix.shard("t").FieldDict("_all")
	if err != nil {
		t.Fatal(err)
	}
	defer all.Close()
	if e, err := all.Next(); err != nil || e != nil {
		t.Errorf("_all has terms: %v, %v", e, err)
	}
}

// TestIndexCompactErases: after a delete and Compact, the terms of the
// deleted item are in no file of the index folder (the basis of the
// issue's TestErasedTextLeavesIndex), also when the item shared a segment
// with items that stay.
func TestIndexCompactErases(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "index")
	ix, err := Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	doc := func(key, text string) *tma.SearchDoc {
		return &tma.SearchDoc{Key: key, Type: tma.SearchNote, TenantID: "t", CaseID: "c", Title: text, Text: text, Author: text}
	}
	MustApply(t, ix, 1, doc("note:1", "Drohung zqxjtoken"), doc("note:2", "Drohung bleibt"))
	MustApply(t, ix, 2, doc("note:3", "noch eine Drohung"))
	if terms, err := ix.TermsWithPrefix("zqxj"); err != nil || len(terms) == 0 {
		t.Fatalf("before the delete, the dictionaries hold no zqxj term: %v %v", terms, err)
	}
	if err := ix.Apply(ctx, 3, nil, []tma.SearchChange{{TenantID: "t", Key: "note:1"}}); err != nil {
		t.Fatal(err)
	}
	if err := ix.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	grep := func() []string {
		var found []string
		_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				b, _ := os.ReadFile(p)
				if strings.Contains(string(b), "zqxj") {
					found = append(found, p)
				}
			}
			return nil
		})
		return found
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(grep()) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond) // old segment files are removed once unreferenced
	}
	if found := grep(); len(found) > 0 {
		t.Errorf("the erased token is still in %v", found)
	}
	if terms, err := ix.TermsWithPrefix("zqxj"); err != nil || len(terms) != 0 {
		t.Errorf("after the delete and a compaction, the dictionaries hold %v (%v)", terms, err)
	}
	r, err := ix.Search(ctx, tma.SearchScope{TenantID: "t", Cases: []string{"c"}}, tma.SearchQuery{Text: "drohung"})
	if err != nil || r.Total != 2 {
		t.Errorf("after compact: %v, %v", r, err)
	}
}
