package main

// Review 11 (permission-filtered search): each test reproduces one defect
// found in the review and fails until it is fixed.

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tma-portal/tma/server/crypt"
	"github.com/tma-portal/tma/server/postgres"
	"github.com/tma-portal/tma/server/tma"
	"github.com/tma-portal/tma/server/web"
)

func review11Reports(srv *testServer) *postgres.ReportService {
	return postgres.NewReportService(srv.DB, crypt.NewCaseRecords(srv.CaseKeys), srv.CaseKeys,
		tma.ThrottlePolicy{AccountFailures: 5, Window: time.Minute, Lockout: time.Minute})
}

// review11SearchPage asks the search page as c and fails on anything but 200.
func review11SearchPage(t *testing.T, c *client, q string) string {
	t.Helper()
	status, body := c.get("/search?q=" + url.QueryEscape(q))
	if status != http.StatusOK {
		t.Fatalf("search %q: status %d: %.300q", q, status, body)
	}
	return body
}

// TestSearchCaseReportNeedsTriage: once a report is part
// of a case, the portal shows it (its text and the messages with the
// reporter) only on /intake/:id, which needs reports:triage and a current
// membership (ReportService.forTeam); the case pages never show it. A legal
// expert of the case therefore cannot read the report anywhere, but search
// (SearchPermission asks cases:read for a report with a case, and Permits
// only the membership) shows it to them with its title, a snippet of its
// text, and the anonymous-channel messages.
func TestSearchCaseReportNeedsTriage(t *testing.T) {
	srv := startServer(t, nil)
	tn, users := srv.mustTenant(t, "acme", tma.RoleThreatManager, tma.RoleLegal, tma.RoleEmployee)
	lead, legal, employee := users[0], users[1], users[2]
	reports := review11Reports(srv)

	report, err := reports.File(userCtx(employee), tn.ID, tma.NewReport{Urgency: tma.UrgencyHigh, Categories: []tma.Category{tma.CatViolence},
		Content: tma.ReportContent{What: "Kolibriwarnung: er droht dem Team am Empfang.", When: "Montag", Where: "Empfang"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := reports.Ask(userCtx(lead), tn.ID, report.ID, "Pelikanhinweis: wer hat es noch gehört?"); err != nil {
		t.Fatal(err)
	}
	kase, err := reports.Open(userCtx(lead), tn.ID, report.ID, tma.NewCase{Title: "Empfang"})
	if err != nil {
		t.Fatal(err)
	}
	if err := postgres.NewCaseService(srv.DB).AddMember(userCtx(lead), tn.ID, kase.ID, tma.NewMember{Email: legal.Email, Role: tma.CaseExpert}); err != nil {
		t.Fatal(err)
	}
	waitOutboxApplied(t, srv)

	// The lead (a threat manager and member) reads the report on the intake page.
	lc := srv.client(t)
	lc.login("acme", lead.Email)
	if status, body := lc.get("/intake/" + report.ID); status != http.StatusOK || !strings.Contains(body, "Kolibriwarnung") {
		t.Fatalf("the lead cannot read the report on /intake: status %d", status)
	}
	// The legal expert may not: no page of the portal shows them the report.
	gc := srv.client(t)
	gc.login("acme", legal.Email)
	if status, body := gc.get("/intake/" + report.ID); status == http.StatusOK || strings.Contains(body, "Kolibriwarnung") {
		t.Fatalf("precondition: the legal expert reads the report on /intake (status %d)", status)
	}
	if status, body := gc.get("/cases/" + kase.ID); status != http.StatusOK || strings.Contains(body, "Kolibriwarnung") {
		t.Fatalf("precondition: the case page (status %d) shows the report text", status)
	}

	// Search must not show it to them either.
	for _, word := range []string{"Kolibriwarnung", "Pelikanhinweis"} {
		body := review11SearchPage(t, gc, word)
		if strings.Contains(body, word+"</mark>") || strings.Contains(body, "/cases/"+kase.ID+`" class="hit-title"`) {
			t.Errorf("search %q shows the legal expert the report (text or message) they may read nowhere else", word)
		}
		if countText.MatchString(body) {
			t.Errorf("search %q gives the legal expert a count (%s) for a report they may not read", word, countText.FindString(body))
		}
		_, hits, _ := suggest(gc, word)
		for _, h := range hits {
			if h["type"] == tma.SearchReport {
				t.Errorf("quick search %q suggests the report to the legal expert: %q", word, h["title"])
			}
		}
	}
}

// TestSearchNamedPersonNeverFindsReport: a person named in a report must
// never see it. Opening the case excludes them; if a lead later lifts the
// exclusion and adds them, the intake page still refuses them the report
// (forTeam checks report_named for every status), but search, which checks
// TriageHidden only for reports that are not part of a case, shows it.
func TestSearchNamedPersonNeverFindsReport(t *testing.T) {
	srv := startServer(t, nil)
	ctx := context.Background()
	tn, users := srv.mustTenant(t, "acme", tma.RoleThreatManager, tma.RoleEmployee)
	lead, employee := users[0], users[1]
	named, err := postgres.NewUserService(srv.DB).CreateUser(systemCtx(ctx, tn.ID), tn.ID, tma.NewUser{
		Email: "named@acme.example", DisplayName: "Nina Named", Password: testPassword, Roles: []tma.Role{tma.RoleThreatManager}})
	if err != nil {
		t.Fatal(err)
	}
	reports := review11Reports(srv)
	report, err := reports.File(userCtx(employee), tn.ID, tma.NewReport{Urgency: tma.UrgencyHigh, Categories: []tma.Category{tma.CatViolence},
		Content: tma.ReportContent{What: "Flamingobeschwerde über die Kollegin aus dem Lager.", Who: "Nina"}, Named: []string{named.ID}})
	if err != nil {
		t.Fatal(err)
	}
	kase, err := reports.Open(userCtx(lead), tn.ID, report.ID, tma.NewCase{Title: "Lager"})
	if err != nil {
		t.Fatal(err)
	}
	cases := postgres.NewCaseService(srv.DB)
	if err := cases.LiftExclusion(userCtx(lead), tn.ID, kase.ID, named.ID); err != nil {
		t.Fatal(err)
	}
	if err := cases.AddMember(userCtx(lead), tn.ID, kase.ID, tma.NewMember{Email: named.Email, Role: tma.CaseExpert}); err != nil {
		t.Fatal(err)
	}
	waitOutboxApplied(t, srv)

	// The rest of the portal keeps the report from the person it names.
	if _, _, err := reports.Triage(userCtx(named), tn.ID, report.ID); tma.ErrorCode(err) != tma.ENOTFOUND {
		t.Fatalf("precondition: Triage as the named person: %v, want ENOTFOUND", err)
	}
	nc := srv.client(t)
	nc.login("acme", named.Email)
	if status, body := nc.get("/intake/" + report.ID); status == http.StatusOK || strings.Contains(body, "Flamingobeschwerde") {
		t.Fatalf("precondition: the named person reads the report on /intake (status %d)", status)
	}

	if keys := srv.searchKeys(t, named, "Flamingobeschwerde"); slices.Contains(keys, "report:"+report.ID) {
		t.Errorf("the index answers the named person with the report naming them: %v", keys)
	}
	body := review11SearchPage(t, nc, "Flamingobeschwerde")
	if strings.Contains(body, "Flamingobeschwerde</mark>") || countText.MatchString(body) {
		t.Errorf("the search page shows the person named in a report that report (count %q)", countText.FindString(body))
	}
}

// TestSearchWikiPageReadByRoleCombination: CanReadPage lets a user read a
// page when one of their roles is granted by the space and one (possibly
// another) is named by the page's narrowing. The index stores as readers
// only the roles that read the page on their own (WikiReaders), so a user
// who reads the page through two roles together (hr opens the space, legal
// passes the narrowing) never finds it: search must find what a user may
// read, and TestSearchNeverLeaks' brute force would list it.
func TestSearchWikiPageReadByRoleCombination(t *testing.T) {
	srv := startServer(t, nil)
	ctx := context.Background()
	tn, users := srv.mustTenant(t, "acme", tma.RoleThreatManager)
	manager := users[0]
	both, err := postgres.NewUserService(srv.DB).CreateUser(systemCtx(ctx, tn.ID), tn.ID, tma.NewUser{
		Email: "hrlegal@acme.example", DisplayName: "Hanna Both", Password: testPassword, Roles: []tma.Role{tma.RoleHR, tma.RoleLegal}})
	if err != nil {
		t.Fatal(err)
	}
	wiki := postgres.NewWikiService(srv.DB, crypt.NewCaseRecords(srv.CaseKeys), web.NewWikiMarkup())
	if err := wiki.SetSpaceGrants(userCtx(manager), tn.ID, "process", tma.WikiGrantsInput{
		ReadRoles: []tma.Role{tma.RoleThreatManager, tma.RoleHR}, EditRoles: []tma.Role{tma.RoleThreatManager}}); err != nil {
		t.Fatal(err)
	}
	page, err := wiki.CreatePage(userCtx(manager), tn.ID, "process", tma.WikiPageInput{Title: "Arbeitsrecht", Body: "Die Albatrosregel gilt bei Abmahnungen."}, manager)
	if err != nil {
		t.Fatal(err)
	}
	if err := wiki.SetPageAccess(userCtx(manager), tn.ID, "process", page.Slug, tma.WikiAccessInput{
		ReadRoles: []tma.Role{tma.RoleThreatManager, tma.RoleLegal}}, manager); err != nil {
		t.Fatal(err)
	}
	waitOutboxApplied(t, srv)

	if _, p, err := wiki.Page(ctx, tn.ID, "process", page.Slug, 0, both); err != nil || p.ID != page.ID {
		t.Fatalf("precondition: the hr+legal user reads the page in the wiki: %v", err)
	}
	if keys := srv.searchKeys(t, both, "Albatrosregel"); !slices.Contains(keys, "wiki:"+page.ID) {
		t.Errorf("the hr+legal user reads the page but search does not find it: %v", keys)
	}
}

// TestSearchPrefixLimitIgnoresOtherTenants: whether "prefix*" is refused
// as too broad depends on how many terms with that prefix the whole index
// holds, every tenant's (and erased items' until a merge). A user who fills
// their own case with exactly maxPrefixTerms (500) words of a prefix learns
// from the error whether any other tenant has one more word with that
// prefix, and can walk a name letter by letter. Another tenant's note must
// not change what a user's query answers.
func TestSearchPrefixLimitIgnoresOtherTenants(t *testing.T) {
	srv := startServer(t, nil)
	w := newSearchWorld(t, srv) // the curious user: w.lead, in tenant acme

	// 500 distinct words "zqv" + 3 consonants + "q": no analyzer changes them.
	const alphabet = "bcdfgkmpvwxz"
	var words []string
	for i := 0; len(words) < 500; i++ {
		words = append(words, fmt.Sprintf("zqv%c%c%cq", alphabet[i/144%12], alphabet[i/12%12], alphabet[i%12]))
	}
	srv.addNote(t, w, "Liste", strings.Join(words, " "))
	waitOutboxApplied(t, srv)

	ask := func() ([]string, error) {
		ctx := context.Background()
		scope, err := srv.SearchSource.Scope(ctx, w.lead)
		if err != nil {
			t.Fatal(err)
		}
		res, err := srv.Indexer.Index().Search(ctx, scope, tma.SearchQuery{Text: "zqv*", PerPage: tma.MaxSearchPerPage})
		if err != nil {
			return nil, err
		}
		var keys []string
		for _, h := range res.Hits {
			keys = append(keys, h.Key)
		}
		return keys, nil
	}
	before, err := ask()
	if err != nil {
		t.Fatalf("precondition: the user's own 500 words: %v", err)
	}

	// Another tenant writes one word with that prefix.
	otn, others := srv.mustTenant(t, "other", tma.RoleThreatManager)
	okase, err := postgres.NewCaseService(srv.DB).CreateCase(userCtx(others[0]), otn.ID, tma.NewCase{Title: "Fremder Fall"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := postgres.NewNoteService(srv.DB, crypt.NewCaseRecords(srv.CaseKeys)).AddNote(userCtx(others[0]), otn.ID, okase.ID,
		tma.NoteInput{Title: "Vermerk", Body: "Herr Zqvtargetq wurde gesehen."}); err != nil {
		t.Fatal(err)
	}
	waitOutboxApplied(t, srv)

	after, err := ask()
	if err != nil {
		t.Fatalf("another tenant's note changes the user's answer from %d hits to the error %q: an oracle for other tenants' words", len(before), tma.ErrorMessage(err))
	}
	if !slices.Equal(before, after) {
		t.Fatalf("another tenant's note changes the user's hits: %v → %v", before, after)
	}
}
