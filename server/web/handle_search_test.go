package web

import (
	"context"
	"slices"
	"testing"

	"github.com/tma-portal/tma/server/tma"
)

// staleIndex answers every query with its hits, whatever the scope: an
// index whose entries are behind the database.
type staleIndex struct{ hits []*tma.SearchHit }

func (x staleIndex) Apply(context.Context, int64, []*tma.SearchDoc, []tma.SearchChange) error {
	return nil
}
func (x staleIndex) LastSeq(context.Context) (int64, error) { return 0, nil }
func (x staleIndex) Search(context.Context, tma.SearchScope, tma.SearchQuery) (*tma.SearchResult, error) {
	return &tma.SearchResult{Total: len(x.hits), Hits: x.hits}, nil
}
func (x staleIndex) Snippet(text string, _ tma.SearchQuery) []tma.SnippetPart {
	return []tma.SnippetPart{{Text: text}}
}

// fixedSource has the database's answer: the scope and the items as they
// are now.
type fixedSource struct {
	scope tma.SearchScope
	docs  []*tma.SearchDoc
}

func (s fixedSource) Changes(context.Context, int64, int) ([]tma.SearchChange, error) {
	return nil, nil
}
func (s fixedSource) All(context.Context, func(*tma.SearchDoc) error) (int64, error) { return 0, nil }
func (s fixedSource) Scope(context.Context, *tma.User) (tma.SearchScope, error)      { return s.scope, nil }
func (s fixedSource) Load(_ context.Context, tenantID string, keys []string) ([]*tma.SearchDoc, error) {
	var out []*tma.SearchDoc
	for _, d := range s.docs {
		if d.TenantID == tenantID && slices.Contains(keys, d.Key) {
			out = append(out, d)
		}
	}
	return out, nil
}

// rolePolicy allows the tenant permissions listed for the user's roles.
type rolePolicy map[tma.Role][]tma.Permission

func (p rolePolicy) Can(u *tma.User, perm tma.Permission) bool {
	for _, r := range u.Roles {
		if slices.Contains(p[r], perm) {
			return true
		}
	}
	return false
}
func (p rolePolicy) CanCase(u *tma.User, _ []tma.CaseRole, perm, _ tma.Permission) bool {
	return p.Can(u, perm)
}

// TestSearchRecheckDropsHits: hits that the index still returns but that
// the user may no longer see by the database's current state (membership
// gone, note made restricted, page hidden from the role, report naming
// the user, item deleted, another tenant) are dropped before they are
// shown, and the total is lowered by them.
func TestSearchRecheckDropsHits(t *testing.T) {
	const tenant, other = "t1", "t2"
	u := &tma.User{ID: "u1", TenantID: tenant, Roles: []tma.Role{tma.RoleLegal}}
	scope := tma.SearchScope{TenantID: tenant, UserID: u.ID, Roles: u.Roles, Cases: []string{"c1"}, Wiki: true}
	docs := []*tma.SearchDoc{
		{Key: "note:n1", Type: tma.SearchNote, TenantID: tenant, CaseID: "c1", Title: "visible note", Text: "x"},
		{Key: "note:n2", Type: tma.SearchNote, TenantID: tenant, CaseID: "c2", Title: "membership removed"},
		{Key: "note:n3", Type: tma.SearchNote, TenantID: tenant, CaseID: "c1", Restricted: true, Title: "made restricted"},
		{Key: "wiki:w1", Type: tma.SearchWiki, TenantID: tenant, WikiRoles: []tma.Role{tma.RoleLegal}, Space: "process", Slug: "escalation", Title: "visible page"},
		{Key: "wiki:w2", Type: tma.SearchWiki, TenantID: tenant, WikiRoles: []tma.Role{tma.RoleLegal}, WikiHidden: []tma.Role{tma.RoleLegal}, Title: "hidden page"},
		{Key: "wiki:w3", Type: tma.SearchWiki, TenantID: tenant, WikiRoles: []tma.Role{tma.RoleThreatManager}, Title: "narrowed page"},
		{Key: "report:r1", Type: tma.SearchReport, TenantID: tenant, Title: "intake report"},
		{Key: "case:c9", Type: tma.SearchCase, TenantID: other, CaseID: "c1", Title: "other tenant"},
	}
	var hits []*tma.SearchHit
	for _, d := range docs {
		hits = append(hits, &tma.SearchHit{Key: d.Key})
	}
	hits = append(hits, &tma.SearchHit{Key: "note:deleted"})
	policy := rolePolicy{tma.RoleLegal: {tma.PermCasesRead, tma.PermWikiRead, tma.PermSearch}}
	s := &Server{deps: Deps{Search: staleIndex{hits}, SearchSource: fixedSource{scope, docs}, Authz: policy}}
	res, got, err := s.search(context.Background(), u, tma.SearchQuery{Text: "x"}, true)
	if err != nil {
		t.Fatal(err)
	}
	var titles []string
	for _, h := range got {
		titles = append(titles, h.Title)
	}
	if want := []string{"visible note", "visible page"}; !slices.Equal(titles, want) {
		t.Fatalf("shown %v, want %v", titles, want)
	}
	if res.Total != 2 {
		t.Fatalf("total %d, want 2", res.Total)
	}
	if got[0].URL != "/cases/c1/notes/n1" || got[1].URL != "/wiki/process/escalation" {
		t.Fatalf("links %s, %s", got[0].URL, got[1].URL)
	}

	// The enforcer has the last word: without wiki:read no page is shown,
	// even if the scope says wiki.
	s.deps.Authz = rolePolicy{tma.RoleLegal: {tma.PermCasesRead}}
	if _, got, _ = s.search(context.Background(), u, tma.SearchQuery{Text: "x"}, false); len(got) != 1 || got[0].Title != "visible note" {
		t.Fatalf("without wiki:read: %d hits", len(got))
	}
}

func TestSearchURL(t *testing.T) {
	tests := []struct {
		doc  tma.SearchDoc
		want string
	}{
		{tma.SearchDoc{Key: "case:c1", CaseID: "c1"}, "/cases/c1"},
		{tma.SearchDoc{Key: "note:n1", CaseID: "c1"}, "/cases/c1/notes/n1"},
		{tma.SearchDoc{Key: "action:a1", CaseID: "c1"}, "/cases/c1#action-a1"},
		{tma.SearchDoc{Key: "document:d1@3", CaseID: "c1"}, "/cases/c1/documents/d1"},
		{tma.SearchDoc{Key: "report:r1", CaseID: "c1"}, "/cases/c1"},
		{tma.SearchDoc{Key: "report:r1"}, "/intake/r1"},
		{tma.SearchDoc{Key: "wiki:w1", Space: "process", Slug: "a b"}, "/wiki/process/a%20b"},
		{tma.SearchDoc{Key: "wiki:w1"}, ""},
		{tma.SearchDoc{Key: "wikifile:f1", Space: "process", Slug: "site-plan", File: "Formular A.pdf"}, "/wiki/process/site-plan/attachments/Formular%20A.pdf"},
		{tma.SearchDoc{Key: "wikifile:f1", Space: "process", Slug: "site-plan"}, ""},
		{tma.SearchDoc{Key: "wikifile:f1", File: "a.pdf"}, ""},
		{tma.SearchDoc{Key: "elephant:e1"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.doc.Key, func(t *testing.T) {
			if got := searchURL(&tc.doc); got != tc.want {
				t.Fatalf("searchURL = %q, want %q", got, tc.want)
			}
		})
	}
}
