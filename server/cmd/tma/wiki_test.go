package main

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/tma-portal/tma/server/crypt"
	"github.com/tma-portal/tma/server/postgres"
	"github.com/tma-portal/tma/server/tma"
)

var baseRe = regexp.MustCompile(`name="base" value="(\d+)"`)

// editBase opens a page's editor and returns its base revision.
func editBase(t *testing.T, c *client, path string) string {
	t.Helper()
	status, body := c.get(path + "/edit")
	if status != http.StatusOK {
		t.Fatalf("GET %s/edit: %d %.300s", path, status, body)
	}
	m := baseRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no base revision in the editor")
	}
	return m[1]
}

// createWikiPage creates a page in the process space through the web and
// saves body as its second revision; it returns the page's path.
func createWikiPage(t *testing.T, c *client, title, template, body string) string {
	t.Helper()
	c.get("/wiki/process/new")
	status, _, h := c.do(http.MethodPost, "/wiki/process/pages", url.Values{"_csrf": {c.csrf}, "title": {title}, "template": {template}}, nil)
	if status != http.StatusSeeOther {
		t.Fatalf("create %q: status %d", title, status)
	}
	path := strings.TrimSuffix(h.Get("Location"), "/edit")
	if body != "" {
		base := editBase(t, c, path)
		if status, b := c.post(path, url.Values{"title": {title}, "body": {body}, "base": {base}}); status != http.StatusSeeOther {
			t.Fatalf("save %q: %d %.300s", title, status, b)
		}
	}
	return path
}

// TestWikiRevisions: edits make revisions; a diff shows the changed words;
// two editors from the same base: the second gets the conflict with both
// texts and nothing is overwritten; a restore makes a new revision equal
// to the old text.
func TestWikiRevisions(t *testing.T) {
	srv := startServer(t, nil)
	w := newCaseWorld(t, srv, map[string]tma.Role{"a": tma.RoleThreatManager, "b": tma.RoleThreatManager})
	clients := w.signIn(t)
	a, b := clients["a"], clients["b"]
	users := []*tma.User{w.users["a"]}
	path := createWikiPage(t, a, "Escalation", "", "# Escalation\n\nCall the team lead first.\n")
	if path != "/wiki/process/escalation" {
		t.Fatalf("path %s", path)
	}
	// Revision 3 changes one word.
	base := editBase(t, a, path)
	if status, body := a.post(path, url.Values{"title": {"Escalation"}, "body": {"# Escalation\n\nCall the HR lead first.\n"}, "base": {base}, "message": {"HR first"}}); status != http.StatusSeeOther {
		t.Fatalf("save: %d %.300s", status, body)
	}
	status, diff := a.get(path + "/diff?from=2&to=3")
	if status != http.StatusOK || !strings.Contains(diff, "<del>team</del>") || !strings.Contains(diff, "<ins>HR</ins>") {
		t.Fatalf("diff %d: %.2000s", status, diff)
	}
	if _, inline := a.get(path + "/diff?from=2&to=3&view=inline"); !strings.Contains(inline, `id="wiki-diff-inline"`) || !strings.Contains(inline, "<del>team</del><ins>HR</ins>") {
		t.Fatalf("inline diff: %.2000s", inline)
	}

	// Two editors open revision 3.
	baseA, baseB := editBase(t, a, path), editBase(t, b, path)
	if status, body := a.post(path, url.Values{"title": {"Escalation"}, "body": {"# Escalation\n\nCall the HR lead first. Then legal.\n"}, "base": {baseA}}); status != http.StatusSeeOther {
		t.Fatalf("first editor: %d %.300s", status, body)
	}
	status, body := b.post(path, url.Values{"title": {"Escalation"}, "body": {"# Escalation\n\nCall the police first.\n"}, "base": {baseB}})
	if status != http.StatusConflict || !strings.Contains(body, `id="wiki-conflict"`) || !strings.Contains(body, "Then legal.") ||
		!strings.Contains(body, "Call the police first.") || !strings.Contains(body, `id="wiki-diff-table"`) {
		t.Fatalf("second editor: %d %.3000s", status, body)
	}
	if m := baseRe.FindStringSubmatch(body); m == nil || m[1] != "4" {
		t.Fatalf("the conflict editor should save against revision 4: %v", m)
	}
	if _, page := a.get(path); !strings.Contains(page, "Then legal.") || strings.Contains(page, "police") {
		t.Fatalf("the first save was overwritten: %.2000s", page)
	}

	// Restore revision 2 as revision 5.
	if status, body := a.post(path+"/revisions/2/restore", nil); status != http.StatusSeeOther {
		t.Fatalf("restore: %d %.300s", status, body)
	}
	ctx := context.Background()
	ws := postgres.NewWikiService(srv.DB, crypt.NewCaseRecords(srv.CaseKeys), nil)
	_, r2, err := ws.Page(ctx, users[0].TenantID, "process", "escalation", 2, users[0])
	if err != nil {
		t.Fatal(err)
	}
	_, r5, err := ws.Page(ctx, users[0].TenantID, "process", "escalation", 0, users[0])
	if err != nil {
		t.Fatal(err)
	}
	if r5.Revision != 5 || r5.Body != r2.Body || r5.RestoredFrom != 2 {
		t.Fatalf("restore: revision %d restored from %d, body %q, want %q", r5.Revision, r5.RestoredFrom, r5.Body, r2.Body)
	}
	if _, hist := a.get(path + "/history"); !strings.Contains(hist, "Restored revision 2") || !strings.Contains(hist, "HR first") {
		t.Fatalf("history: %.2000s", hist)
	}
}

// TestWikiPagePermissions: a page narrowed to threat managers is invisible
// to legal: the page answers like a missing one, and it is in no listing
// (space, recent changes, backlinks); a link to it renders as missing.
func TestWikiPagePermissions(t *testing.T) {
	srv := startServer(t, nil)
	_, users := srv.mustTenant(t, "acme", tma.RoleThreatManager, tma.RoleLegal)
	tm, legal := srv.client(t), srv.client(t)
	tm.login("acme", users[0].Email)
	legal.login("acme", users[1].Email)
	secret := createWikiPage(t, tm, "Internal escalation", "", "# Internal\n\nSee [[Contacts]].\n")
	contacts := createWikiPage(t, tm, "Contacts", "", "# Contacts\n\nSee [[Internal escalation]].\n")
	tm.get(secret)
	if status, body := tm.post(secret+"/access", url.Values{"narrow": {"on"}, "read": {"threat_manager"}}); status != http.StatusOK {
		t.Fatalf("narrow: %d %.300s", status, body)
	}
	if status, _ := tm.get(secret); status != http.StatusOK {
		t.Fatalf("the threat manager lost the page: %d", status)
	}
	status, body, h := request(legal, http.MethodGet, secret)
	ms, mbody, mh := request(legal, http.MethodGet, "/wiki/process/no-such-page")
	if status != http.StatusNotFound || ms != status || normalize(body, h) != normalize(mbody, mh) {
		t.Fatalf("legal: narrowed page %d, missing page %d; bodies differ: %v", status, ms, normalize(body, h) != normalize(mbody, mh))
	}
	for _, p := range []string{secret + "/history", secret + "/diff", secret + "/revisions/1", secret + "/edit"} {
		if status, _ := legal.get(p); status != http.StatusNotFound {
			t.Errorf("legal GET %s: %d, want 404", p, status)
		}
	}
	for _, p := range []string{"/wiki/process", "/wiki", contacts} {
		status, body := legal.get(p)
		if status != http.StatusOK || strings.Contains(body, `href="`+secret+`"`) {
			t.Errorf("legal GET %s: %d, shows the narrowed page: %.3000s", p, status, body)
		}
	}
	// The threat manager sees the backlink and the page in the lists.
	if _, body := tm.get(contacts); !strings.Contains(body, `href="`+secret+`"`) {
		t.Errorf("the threat manager misses the backlink: %.3000s", body)
	}
	if _, body := tm.get("/wiki"); !strings.Contains(body, "Internal escalation") {
		t.Errorf("the threat manager misses the recent change")
	}
	// Legal sees the link on Contacts as missing.
	if _, body := legal.get(contacts); !strings.Contains(body, "wiki-missing") {
		t.Errorf("the link to the narrowed page should render as missing for legal: %.3000s", body)
	}
	// A hidden page: hidden from legal, kept for the threat manager.
	hidden := createWikiPage(t, tm, "Hidden page", "", "# Hidden\n")
	tm.get(hidden)
	if status, _ := tm.post(hidden+"/access", url.Values{"hidden": {"legal"}}); status != http.StatusOK {
		t.Fatalf("hide: %d", status)
	}
	if status, _ := legal.get(hidden); status != http.StatusNotFound {
		t.Errorf("hidden page: legal gets %d", status)
	}
	if status, _ := tm.get(hidden); status != http.StatusOK {
		t.Errorf("hidden page: the threat manager gets %d", status)
	}
	// Legal may read the space but not edit it.
	if status, _ := legal.get(contacts + "/edit"); status != http.StatusForbidden {
		t.Errorf("legal editor: %d, want 403", status)
	}
}

// TestChecklistToActions: a process page's checklist applied to a case
// becomes its action items, linked to the page revision; a user who is
// not a member of the case cannot apply it (404); "used by N of your
// cases" counts only the viewer's visible cases.
func TestChecklistToActions(t *testing.T) {
	srv := startServer(t, nil)
	w := newCaseWorld(t, srv, map[string]tma.Role{"lead": tma.RoleThreatManager, "outsider": tma.RoleThreatManager, "walled": tma.RoleThreatManager})
	w.kase = w.createCase(t, w.users["lead"])
	first := w.kase
	second := w.createCase(t, w.users["lead"])
	w.member(t, w.users["walled"], tma.CaseExpert, nil) // of the first case
	w.kase = second
	w.member(t, w.users["walled"], tma.CaseExpert, nil)
	w.kase = first
	clients := w.signIn(t)
	lead, outsider, walled := clients["lead"], clients["outsider"], clients["walled"]

	page := createWikiPage(t, lead, "First contact", "checklist", "# First contact\n\n- [ ] Call the reporter\n- [ ] Inform legal\n- [x] Open the case\n")
	// The outsider is no member of the case: 404, as for a missing case.
	outsider.get(page)
	if status, _ := outsider.post(page+"/apply", url.Values{"case": {first.ID}, "revision": {"2"}}); status != http.StatusNotFound {
		t.Fatalf("outsider apply: %d, want 404", status)
	}
	lead.get(page)
	for _, k := range []*tma.Case{first, second} {
		if status, body := lead.post(page+"/apply", url.Values{"case": {k.ID}, "revision": {"2"}}); status != http.StatusSeeOther {
			t.Fatalf("apply: %d %.300s", status, body)
		}
	}
	ctx := context.Background()
	actions, err := postgres.NewActionService(srv.DB, crypt.NewCaseRecords(srv.CaseKeys)).Actions(ctx, w.tenant.ID, first.ID)
	if err != nil {
		t.Fatal(err)
	}
	var titles []string
	for _, a := range actions {
		titles = append(titles, a.Title+"/"+string(a.Status))
		if a.WikiPageID == "" || a.WikiRevision != 2 || a.OwnerID != w.users["lead"].ID {
			t.Errorf("action %q: page %q revision %d owner %s", a.Title, a.WikiPageID, a.WikiRevision, a.OwnerID)
		}
	}
	if got := strings.Join(titles, ","); !strings.Contains(got, "Call the reporter/open") || !strings.Contains(got, "Inform legal/open") || !strings.Contains(got, "Open the case/done") || len(actions) != 3 {
		t.Fatalf("actions: %s", got)
	}
	if _, body := lead.get("/cases/" + first.ID); !strings.Contains(body, `href="`+page+`"`) || !strings.Contains(body, "Call the reporter") {
		t.Fatalf("the case page does not show the process page and its actions: %.300s", body)
	}
	if _, body := lead.get(page); !strings.Contains(body, "Used by 2 of your cases") {
		t.Fatalf("lead: %.3000s", body)
	}
	if _, body := walled.get(page); !strings.Contains(body, "Used by 2 of your cases") {
		t.Fatalf("walled before the wall: %.3000s", body)
	}
	w.exclude(t, w.users["walled"]) // from the first case
	if _, body := walled.get(page); !strings.Contains(body, "Used by 1 of your cases") {
		t.Fatalf("walled after the wall: %.3000s", body)
	}
	if _, body := outsider.get(page); !strings.Contains(body, "Used by 0 of your cases") {
		t.Fatalf("outsider: %.3000s", body)
	}
}

// TestBrowserWikiEdit: Chromium creates a page from a template, edits it
// with the live preview, saves, and sees the table of contents, a wiki link
// and the backlink on the target page.
func TestBrowserWikiEdit(t *testing.T) {
	srv := startServer(t, nil)
	_, users := srv.mustTenant(t, "acme", tma.RoleThreatManager)
	c := srv.client(t)
	c.login("acme", users[0].Email)
	createWikiPage(t, c, "Contacts", "contacts", "")

	b := newBrowser(t, "en")
	run := browserSteps(t, b)
	html := func(js string) string {
		t.Helper()
		s, err := chromedp.Run(b, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		return s
	}
	run("sign in", chromedp.Navigate(srv.URL+"/login"), chromedp.WaitVisible(chromedp.ID("login-form")),
		chromedp.SetValue(chromedp.ID("tenant"), "acme"), chromedp.SetValue(chromedp.ID("email"), users[0].Email),
		chromedp.SendKeys(chromedp.ID("password"), testPassword), chromedp.Submit(chromedp.ID("login-form")),
		chromedp.WaitVisible(chromedp.ID("dashboard-heading")))
	run("new page from the process template", chromedp.Navigate(srv.URL+"/wiki/process/new"), chromedp.WaitVisible(chromedp.ID("wiki-title")),
		chromedp.SendKeys(chromedp.ID("wiki-title"), "Escalation path"), chromedp.SetValue(chromedp.ID("wiki-template"), "process"),
		chromedp.Click(chromedp.ID("wiki-create")), chromedp.WaitVisible(chromedp.ID("wiki-source")),
		chromedp.WaitVisible(chromedp.CSS("#wiki-preview h1")))
	run("type with the live preview", chromedp.Evaluate[chromedp.Void](`document.getElementById("wiki-source").value = ""`),
		chromedp.SendKeys(chromedp.ID("wiki-source"), "# When to escalate\n\nCall [[Contacts]] at once.\n\n## Steps\n\n- [ ] Inform the lead\n"),
		chromedp.WaitVisible(chromedp.CSS("#wiki-preview h1#h-when-to-escalate")))
	previewHTML := html(`document.getElementById("wiki-preview").innerHTML`)
	run("save", chromedp.Click(chromedp.ID("wiki-save")), chromedp.WaitVisible(chromedp.ID("wiki-toc")))
	toc := html(`document.getElementById("wiki-toc").innerHTML`)
	link := html(`document.querySelector("#wiki-body a.wiki-link").outerHTML`)
	run("follow the wiki link", chromedp.Click(chromedp.CSS("#wiki-body a.wiki-link")), chromedp.WaitVisible(chromedp.ID("wiki-backlinks")))
	backlinks := html(`document.getElementById("wiki-backlinks").innerHTML`)
	if !strings.Contains(previewHTML, "When to escalate") {
		t.Errorf("preview: %s", previewHTML)
	}
	if !strings.Contains(toc, "When to escalate") || !strings.Contains(toc, "Steps") {
		t.Errorf("toc: %s", toc)
	}
	if !strings.Contains(link, `href="/wiki/process/contacts"`) || strings.Contains(link, "wiki-missing") {
		t.Errorf("wiki link: %s", link)
	}
	if !strings.Contains(backlinks, "Escalation path") {
		t.Errorf("backlinks: %s", backlinks)
	}
}
