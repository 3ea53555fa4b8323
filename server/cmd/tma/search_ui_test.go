package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/tma-portal/tma/server/crypt"
	"github.com/tma-portal/tma/server/postgres"
	"github.com/tma-portal/tma/server/tma"
)

// waitOutboxApplied waits until the server's index has applied every
// outbox row committed so far (at most a few hundred milliseconds).
func waitOutboxApplied(t testing.TB, srv *testServer) {
	t.Helper()
	ctx := context.Background()
	var want int64
	if err := srv.DB.Pool.QueryRow(ctx, `SELECT COALESCE(max(seq), 0) FROM search_outbox`).Scan(&want); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if ix := srv.Indexer.Index(); ix != nil {
			if got, err := ix.LastSeq(ctx); err == nil && got >= want {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the index did not apply the outbox up to %d within 10 s", want)
		}
	}
}

// uiSearchWorld is a tenant with a case led by a threat manager, an expert
// member (legal), a threat manager who is no member, and a threat manager
// of another tenant; the case's title, a note, an action and a document
// all hold the word "Quastenflosser".
type uiSearchWorld struct {
	srv                          *testServer
	tenant                       *tma.Tenant
	lead, member, outsider, away *tma.User
	kase                         *tma.Case
	note, note2                  *tma.Note
}

func newUISearchWorld(t *testing.T) *uiSearchWorld {
	t.Helper()
	srv := startServer(t, nil)
	ctx := context.Background()
	tn, users := srv.mustTenant(t, "acme", tma.RoleThreatManager, tma.RoleLegal)
	w := &uiSearchWorld{srv: srv, tenant: tn, lead: users[0], member: users[1]}
	outsider, err := postgres.NewUserService(srv.DB).CreateUser(systemCtx(ctx, tn.ID), tn.ID, tma.NewUser{
		Email: "outsider@acme.example", DisplayName: "Olga Outsider", Password: testPassword, Roles: []tma.Role{tma.RoleThreatManager}})
	if err != nil {
		t.Fatal(err)
	}
	w.outsider = outsider
	_, others := srv.mustTenant(t, "other", tma.RoleThreatManager)
	w.away = others[0]

	lctx := tma.NewContextWithActor(ctx, tma.Actor{UserID: w.lead.ID, TenantID: tn.ID, Label: w.lead.Email})
	cases := postgres.NewCaseService(srv.DB)
	if w.kase, err = cases.CreateCase(lctx, tn.ID, tma.NewCase{Title: "Drohungen Quastenflosser am Tor Nord", Labels: []string{"stalking"}}); err != nil {
		t.Fatal(err)
	}
	if err := cases.AddMember(lctx, tn.ID, w.kase.ID, tma.NewMember{Email: w.member.Email, Role: tma.CaseExpert}); err != nil {
		t.Fatal(err)
	}
	sealer := crypt.NewCaseRecords(srv.CaseKeys)
	notes := postgres.NewNoteService(srv.DB, sealer)
	if w.note, err = notes.AddNote(lctx, tn.ID, w.kase.ID, tma.NoteInput{Title: "Gespräch mit der Zeugin",
		Body: "Herr Quastenflosser drohte am Tor mit Gewalt. Die Zeugin blieb ruhig."}); err != nil {
		t.Fatal(err)
	}
	if w.note2, err = notes.AddNote(lctx, tn.ID, w.kase.ID, tma.NoteInput{Title: "Zweites Gespräch",
		Body: "Quastenflosser erschien erneut und wartete vor dem Eingang."}); err != nil {
		t.Fatal(err)
	}
	if _, err := postgres.NewActionService(srv.DB, sealer).AddAction(lctx, tn.ID, w.kase.ID, tma.ActionInput{
		Title: "Hausverbot für Quastenflosser prüfen", OwnerID: w.lead.ID}); err != nil {
		t.Fatal(err)
	}
	c := srv.client(t)
	c.login("acme", w.lead.Email)
	uploadDocument(t, c, w.kase.ID, "", "Protokoll.txt", []byte("Protokoll: Quastenflosser stand um 9 Uhr am Tor.\n"))
	waitOutboxApplied(t, srv)
	return w
}

// searchAs signs u in and returns the client.
func (w *uiSearchWorld) searchAs(t *testing.T, u *tma.User) *client {
	t.Helper()
	c := w.srv.client(t)
	slug := "acme"
	if u.TenantID != w.tenant.ID {
		slug = "other"
	}
	c.login(slug, u.Email)
	return c
}

// suggest asks the quick search and returns its status and hits.
func suggest(c *client, q string) (int, []map[string]string, string) {
	c.t.Helper()
	status, body, _ := c.do(http.MethodGet, "/search/suggest?q="+url.QueryEscape(q), nil, map[string]string{"Accept": "application/json"})
	var out struct {
		Hits  []map[string]string `json:"hits"`
		Error string              `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		c.t.Fatalf("suggest %q: %d %.200q: %v", q, status, body, err)
	}
	return status, out.Hits, out.Error
}

// countText is a count of results as the page writes it.
var countText = regexp.MustCompile(`[0-9]+ results`)

// TestSearchNeverShowsOtherCases: a member finds the case's items with
// their count and facets; a threat manager who is no member, and one of
// another tenant, get no hit, no count, no facet and no suggestion, for
// the same queries.
func TestSearchNeverShowsOtherCases(t *testing.T) {
	w := newUISearchWorld(t)
	member := w.searchAs(t, w.member)
	status, body := member.get("/search?q=Quastenflosser")
	if status != http.StatusOK {
		t.Fatalf("member: status %d: %.300q", status, body)
	}
	for _, want := range []string{"5 results", "/cases/" + w.kase.ID + "/notes/" + w.note.ID, "<mark>Quastenflosser</mark>", `id="facet-type"`, `data-value="note"`} {
		if !strings.Contains(body, want) {
			t.Errorf("member: the results lack %q", want)
		}
	}
	if _, hits, _ := suggest(member, "Quastenflosser"); len(hits) != 5 {
		t.Errorf("member: %d suggestions, want 5: %v", len(hits), hits)
	}
	for _, u := range []*tma.User{w.outsider, w.away} {
		c := w.searchAs(t, u)
		for _, q := range []string{"Quastenflosser", "Quastenfl*", "Quastenfloser~", "Zeugin", "type:note", `"am Tor"`} {
			status, body := c.get("/search?q=" + url.QueryEscape(q))
			if status != http.StatusOK {
				t.Fatalf("%s, %q: status %d: %.300q", u.Email, q, status, body)
			}
			for _, leak := range []string{w.kase.ID, "Quastenflosser</mark>", "Zeugin</", `class="hit"`, `class="count"`, `id="search-facets"`, `data-facet=`} {
				if strings.Contains(body, leak) {
					t.Errorf("%s, %q: the page shows %q", u.Email, q, leak)
				}
			}
			if n := countText.FindString(body); n != "" {
				t.Errorf("%s, %q: the page shows a count %q", u.Email, q, n)
			}
			if !strings.Contains(body, "Nothing found") {
				t.Errorf("%s, %q: no 'Nothing found'", u.Email, q)
			}
			if _, hits, _ := suggest(c, q); len(hits) != 0 {
				t.Errorf("%s, %q: suggestions %v", u.Email, q, hits)
			}
		}
	}
}

// TestSearchSyntaxErrorIsFriendly: a query the index cannot parse shows
// its message on the search page with 400, in the user's language, and
// the quick search answers 400 with the message; never a 500.
func TestSearchSyntaxErrorIsFriendly(t *testing.T) {
	w := newUISearchWorld(t)
	c := w.searchAs(t, w.member)
	tests := []struct {
		name, q, lang, want string
	}{
		{"open quote", `"am Tor`, "en", "A quotation mark is not closed."},
		{"open quote de", `"am Tor`, "de", "Ein Anführungszeichen ist nicht geschlossen."},
		{"lonely star", `*`, "en", "Use * only"},
		{"unknown type", `type:elephant`, "en", "Unknown type"},
		{"too long", strings.Repeat("wort ", 120), "en", "The search is too long (at most 500 characters)."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body, _ := c.do(http.MethodGet, "/search?q="+url.QueryEscape(tc.q), nil, map[string]string{"Accept-Language": tc.lang})
			if status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %.300q", status, body)
			}
			if !strings.Contains(body, tc.want) || !strings.Contains(body, `id="search-form"`) {
				t.Fatalf("the page lacks %q or the search form: %.600q", tc.want, body)
			}
			if tc.lang == "en" {
				status, hits, msg := suggest(c, tc.q)
				if status != http.StatusBadRequest || len(hits) != 0 || !strings.Contains(msg, tc.want) {
					t.Fatalf("suggest: %d %v %q", status, hits, msg)
				}
			}
		})
	}
}

// TestSearchMembershipRemovedHidesAtOnce: a member whose membership is
// removed finds nothing of the case in the very next search, without
// waiting for the index.
func TestSearchMembershipRemovedHidesAtOnce(t *testing.T) {
	w := newUISearchWorld(t)
	c := w.searchAs(t, w.member)
	if _, body := c.get("/search?q=Quastenflosser"); !strings.Contains(body, w.note.ID) {
		t.Fatalf("the member does not find the note: %.300q", body)
	}
	lctx := tma.NewContextWithActor(context.Background(), tma.Actor{UserID: w.lead.ID, TenantID: w.tenant.ID, Label: w.lead.Email})
	if err := postgres.NewCaseService(w.srv.DB).RemoveMember(lctx, w.tenant.ID, w.kase.ID, w.member.ID); err != nil {
		t.Fatal(err)
	}
	status, body := c.get("/search?q=Quastenflosser")
	if status != http.StatusOK || strings.Contains(body, w.kase.ID) || !strings.Contains(body, "Nothing found") {
		t.Fatalf("after removal: status %d, the page still shows the case: %.600q", status, body)
	}
	if _, hits, _ := suggest(c, "Quastenflosser"); len(hits) != 0 {
		t.Fatalf("after removal: suggestions %v", hits)
	}
}

// TestBrowserSearch: Chromium types in the header's quick search, moves
// through the suggestions with the keyboard and opens one with Enter;
// then submits a query to the search page, sees highlighted snippets and
// facets, filters by a facet and opens a hit.
func TestBrowserSearch(t *testing.T) {
	w := newUISearchWorld(t)
	b := newBrowser(t, "en")
	attr := func(sel, name string) string {
		t.Helper()
		js, _ := json.Marshal(sel)
		jn, _ := json.Marshal(name)
		v, err := chromedp.Run(b, chromedp.Evaluate[string](`document.querySelector(`+string(js)+`).getAttribute(`+string(jn)+`) || ""`))
		if err != nil {
			t.Fatalf("%s[%s]: %v", sel, name, err)
		}
		return v
	}
	location := func() string {
		t.Helper()
		loc, err := chromedp.Run(b, chromedp.Location())
		if err != nil {
			t.Fatal(err)
		}
		return loc
	}
	if err := chromedp.Do(b,
		chromedp.Navigate(w.srv.URL+"/login"),
		chromedp.WaitVisible(chromedp.ID("login-form")),
		chromedp.SetValue(chromedp.ID("tenant"), "acme"),
		chromedp.SetValue(chromedp.ID("email"), w.member.Email),
		chromedp.SetValue(chromedp.ID("password"), testPassword),
		chromedp.Submit(chromedp.ID("login-form")),
		chromedp.WaitVisible(chromedp.ID("quick-search")),
	); err != nil {
		t.Fatal(err)
	}
	if got := attr("#quick-search", "role"); got != "combobox" {
		t.Fatalf("quick search role %q", got)
	}

	// Type, see the list, move through it and open the second suggestion.
	if err := chromedp.Do(b,
		chromedp.Click(chromedp.ID("quick-search")),
		chromedp.SendKeys(chromedp.ID("quick-search"), "Quastenflosser"),
		chromedp.WaitVisible(chromedp.ID("quick-search-option-1")),
	); err != nil {
		t.Fatal(err)
	}
	if got := attr("#quick-search", "aria-expanded"); got != "true" {
		t.Fatalf("aria-expanded %q with the list open", got)
	}
	if n, err := chromedp.Run(b, chromedp.Evaluate[int](`document.querySelectorAll("#quick-search-list [role=option]").length`)); err != nil || n != 5 {
		t.Fatalf("%d suggestions, want 5 (%v)", n, err)
	}
	if err := chromedp.Do(b, chromedp.KeyEvent(kb.ArrowDown), chromedp.KeyEvent(kb.ArrowDown), chromedp.KeyEvent(kb.ArrowDown), chromedp.KeyEvent(kb.ArrowUp)); err != nil {
		t.Fatal(err)
	}
	if got := attr("#quick-search", "aria-activedescendant"); got != "quick-search-option-1" {
		t.Fatalf("aria-activedescendant %q after down, down, down, up; want the second option", got)
	}
	if got := attr("#quick-search-option-1", "aria-selected"); got != "true" {
		t.Fatalf("the active option has aria-selected %q", got)
	}
	want := w.srv.URL + attr("#quick-search-option-1", "data-url")
	if err := chromedp.Do(b, chromedp.KeyEvent(kb.Enter), chromedp.WaitVisible(chromedp.CSS("main h1"))); err != nil {
		t.Fatal(err)
	}
	loc := location()
	for deadline := time.Now().Add(5 * time.Second); loc != want && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		loc = location()
	}
	if loc != want {
		t.Fatalf("Enter on the second suggestion opened %s, want %s", loc, want)
	}

	// Escape closes the list; Enter then submits the query to the search page.
	if err := chromedp.Do(b,
		chromedp.Click(chromedp.ID("quick-search")),
		chromedp.SendKeys(chromedp.ID("quick-search"), "Quastenflosser"),
		chromedp.WaitVisible(chromedp.ID("quick-search-option-0")),
		chromedp.KeyEvent(kb.Escape),
		chromedp.WaitNotVisible(chromedp.ID("quick-search-list")),
	); err != nil {
		t.Fatal(err)
	}
	if got := attr("#quick-search", "aria-expanded"); got != "false" {
		t.Fatalf("aria-expanded %q after Escape", got)
	}
	if err := chromedp.Do(b, chromedp.KeyEvent(kb.Enter), chromedp.WaitVisible(chromedp.ID("search-results"))); err != nil {
		t.Fatal(err)
	}
	marks, err := chromedp.Run(b, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#search-results .snippet mark")].map(m => m.textContent)`))
	if err != nil {
		t.Fatal(err)
	}
	if len(marks) == 0 {
		t.Fatal("no highlighted snippet on the search page")
	}
	for _, m := range marks {
		if !strings.Contains(strings.ToLower(m), "quastenflosser") {
			t.Errorf("highlighted %q", m)
		}
	}
	heading, err := chromedp.Run(b, chromedp.Text(chromedp.ID("results-heading")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(heading, "5 results") {
		t.Fatalf("results heading %q", heading)
	}

	// The type facet: filter by notes.
	if err := chromedp.Do(b, chromedp.WaitVisible(chromedp.CSS(`#facet-type a[data-value="note"]`)), chromedp.Click(chromedp.CSS(`#facet-type a[data-value="note"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#facet-type a.active[data-value="note"]`))); err != nil {
		t.Fatal(err)
	}
	loc = location()
	types, err := chromedp.Run(b, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#search-results .hit-title")].map(a => a.getAttribute("href"))`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(loc, "type=note") || len(types) != 2 {
		t.Fatalf("after the note filter: %s with hits %v, want the two notes", loc, types)
	}
	for _, h := range types {
		if !strings.Contains(h, "/notes/") {
			t.Errorf("after the note filter: hit %s", h)
		}
	}

	// Open the first hit: the note's page.
	if err := chromedp.Do(b, chromedp.Click(chromedp.CSS("#search-results .hit-title")), chromedp.WaitVisible(chromedp.CSS("main h1"))); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(loc, "/notes/") && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		loc = location()
	}
	if !strings.HasPrefix(loc, w.srv.URL+"/cases/"+w.kase.ID+"/notes/") {
		t.Fatalf("the hit opened %s", loc)
	}
}
