package main

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tma-portal/tma/server/tma"
)

// Review 10: the process-documentation wiki.

// TestWikiPageAccessNeedsManage: tma.PermWikiManage is "a space's
// grants, a page's narrowing", and only threat managers (and admins) hold
// it. The /access route asks only for wiki:edit and SetPageAccess only for
// CanEditPage, so a legal editor (wiki:edit, no wiki:manage) of a space
// that grants legal edit can lift a threat manager's hide (HR then reads a
// page hidden from HR) or lock the threat managers out of a page.
func TestWikiPageAccessNeedsManage(t *testing.T) {
	srv := startServer(t, nil)
	_, users := srv.mustTenant(t, "acme", tma.RoleThreatManager, tma.RoleLegal, tma.RoleHR)
	tm, legal, hr := srv.client(t), srv.client(t), srv.client(t)
	tm.login("acme", users[0].Email)
	legal.login("acme", users[1].Email)
	hr.login("acme", users[2].Email)

	// The space grants legal edit (a threat manager's decision, with wiki:manage).
	tm.get("/wiki/process/settings")
	if status, body := tm.post("/wiki/process/settings", url.Values{
		"read": {"threat_manager", "legal", "hr", "compliance", "auditor"}, "edit": {"threat_manager", "legal"}}); status != http.StatusOK {
		t.Fatalf("grants: %d %.300s", status, body)
	}
	page := createWikiPage(t, tm, "Dismissal procedure", "", "# Dismissal procedure\n\nNot for HR yet.\n")
	tm.get(page)
	if status, _ := tm.post(page+"/access", url.Values{"hidden": {"hr"}}); status != http.StatusOK {
		t.Fatalf("hide from hr: %d", status)
	}
	if status, _ := hr.get(page); status != http.StatusNotFound {
		t.Fatalf("hr reads the hidden page before the change: %d", status)
	}

	// Legal, an editor without wiki:manage, lifts the hide.
	legal.get(page)
	status, _ := legal.post(page+"/access", url.Values{})
	if status == http.StatusOK {
		t.Errorf("legal (wiki:edit, no wiki:manage) changed the page's access: %d, want 403", status)
	}
	if status, _ := hr.get(page); status != http.StatusNotFound {
		t.Errorf("hr reads a page a threat manager hid from hr, after legal lifted the hide: %d", status)
	}
}

// TestWikiCaseLinkClosedCase: a closed case only changes by being
// reopened (every other case mutation checks CheckOpen, ApplyChecklist
// too); LinkCase and UnlinkCase do not, so a contributor links process
// pages to (and unlinks them from) a closed case, with audit events.
func TestWikiCaseLinkClosedCase(t *testing.T) {
	srv := startServer(t, nil)
	w := newCaseWorld(t, srv, map[string]tma.Role{"lead": tma.RoleThreatManager})
	w.kase = w.createCase(t, w.users["lead"])
	lead := w.signIn(t)["lead"]
	page := createWikiPage(t, lead, "Closing checklist", "", "# Closing\n")
	other := createWikiPage(t, lead, "Archive rules", "", "# Archive\n")
	ctx := context.Background()
	pageID := func(slug string) string {
		var id string
		if err := srv.DB.Pool.QueryRow(ctx, `SELECT id::text FROM wiki_pages WHERE tenant_id = $1 AND slug = $2`, w.tenant.ID, slug).Scan(&id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	linkedID := pageID(strings.TrimPrefix(other, "/wiki/process/"))
	caseURL := "/cases/" + w.kase.ID
	lead.get(caseURL)
	if status, body := lead.post(caseURL+"/wiki", url.Values{"page": {linkedID}}); status != http.StatusOK {
		t.Fatalf("link while open: %d %.300s", status, body)
	}
	if _, err := srv.DB.Pool.Exec(ctx, `UPDATE cases SET status = $3 WHERE tenant_id = $1 AND id = $2`, w.tenant.ID, w.kase.ID, string(tma.StatusClosed)); err != nil {
		t.Fatal(err)
	}

	lead.get(caseURL)
	status, _ := lead.post(caseURL+"/wiki", url.Values{"page": {pageID(strings.TrimPrefix(page, "/wiki/process/"))}})
	var n int
	if err := srv.DB.Pool.QueryRow(ctx, `SELECT count(*) FROM case_wiki_pages WHERE tenant_id = $1 AND case_id = $2`, w.tenant.ID, w.kase.ID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if status != http.StatusConflict || n != 1 {
		t.Errorf("link on a closed case: %d, %d pages linked; want 409 and the closed case unchanged (1 page)", status, n)
	}
	lead.get(caseURL)
	status, _ = lead.post(caseURL+"/wiki/"+linkedID+"/remove", nil)
	if err := srv.DB.Pool.QueryRow(ctx, `SELECT count(*) FROM case_wiki_pages WHERE tenant_id = $1 AND case_id = $2 AND page_id = $3`,
		w.tenant.ID, w.kase.ID, linkedID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if status != http.StatusConflict || n != 1 {
		t.Errorf("unlink on a closed case: %d, link left %d; want 409 and the link kept", status, n)
	}
}

// TestWikiHiddenTitleNoOracle: "a page the viewer may not read answers
// ENOTFOUND, exactly like a page that does not exist". Creating a page (or
// renaming one) with the title of a page the editor may not read answers
// "This space has a page with this title or address already", where a
// title nobody used succeeds: an editor learns the titles of pages narrowed
// away from them, one guess per request. The wiki link to such a page even
// renders as missing and leads to that very form.
func TestWikiHiddenTitleNoOracle(t *testing.T) {
	srv := startServer(t, nil)
	_, users := srv.mustTenant(t, "acme", tma.RoleThreatManager, tma.RoleLegal)
	tm, legal := srv.client(t), srv.client(t)
	tm.login("acme", users[0].Email)
	legal.login("acme", users[1].Email)
	// Legal edits the space, and a threat manager hides one page from legal.
	tm.get("/wiki/process/settings")
	if status, body := tm.post("/wiki/process/settings", url.Values{
		"read": {"threat_manager", "legal", "hr", "compliance", "auditor"}, "edit": {"threat_manager", "legal"}}); status != http.StatusOK {
		t.Fatalf("grants: %d %.300s", status, body)
	}
	secret := createWikiPage(t, tm, "Works council dispute", "", "# Works council dispute\n")
	tm.get(secret)
	if status, _ := tm.post(secret+"/access", url.Values{"hidden": {"legal"}}); status != http.StatusOK {
		t.Fatalf("hide from legal: %d", status)
	}
	if status, _ := legal.get(secret); status != http.StatusNotFound {
		t.Fatalf("legal reads the hidden page: %d", status)
	}
	legal.get("/wiki/process/new")
	hs, hbody, hh := legal.do(http.MethodPost, "/wiki/process/pages", url.Values{"_csrf": {legal.csrf}, "title": {"Works council dispute"}}, nil)
	legal.get("/wiki/process/new")
	ms, _, _ := legal.do(http.MethodPost, "/wiki/process/pages", url.Values{"_csrf": {legal.csrf}, "title": {"Works council meeting"}}, nil)
	if hs != ms {
		t.Errorf("creating a page titled like an unreadable page: %d, like a fresh title: %d; the answer tells the hidden title exists (%v)",
			hs, ms, strings.Contains(hbody, "already"))
	}
	// Legal's page got an address of its own; the hidden page is unchanged.
	if loc := hh.Get("Location"); loc == secret || loc == "" {
		t.Errorf("legal's page is at %q, the hidden page at %q", loc, secret)
	}
	if status, body := tm.get(secret); status != http.StatusOK || !strings.Contains(body, "Works council dispute") {
		t.Errorf("the hidden page after legal's: %d", status)
	}
	// A title that a page legal can read holds is still refused.
	legal.get("/wiki/process/new")
	if status, body, _ := legal.do(http.MethodPost, "/wiki/process/pages", url.Values{"_csrf": {legal.csrf}, "title": {"Works council meeting"}}, nil); status != http.StatusBadRequest || !strings.Contains(body, "already") {
		t.Errorf("a title legal can see taken: %d", status)
	}
}

// TestWikiHeadingIDsKeepPortalIDs: heading ids are the heading text
// slugged, with no prefix, and the page body comes before the side panels
// in the document. A heading "TOC heading" or "Wiki backlinks" gives a
// second element with the portal's own id: the page's aria-labelledby,
// label for= and #fragment references (and getElementById) then resolve to
// the author's heading instead of the portal element.
func TestWikiHeadingIDsKeepPortalIDs(t *testing.T) {
	srv := startServer(t, nil)
	_, users := srv.mustTenant(t, "acme", tma.RoleThreatManager)
	tm := srv.client(t)
	tm.login("acme", users[0].Email)
	page := createWikiPage(t, tm, "Clash", "", "# TOC heading\n\n## Wiki backlinks\n\n## Backlinks heading\n\nText.\n")
	status, body := tm.get(page)
	if status != http.StatusOK {
		t.Fatalf("page: %d", status)
	}
	for _, id := range []string{"toc-heading", "wiki-backlinks", "backlinks-heading"} {
		if n := strings.Count(body, `id="`+id+`"`); n != 1 {
			t.Errorf("id %q occurs %d times on the page; page content takes the portal's element ids", id, n)
		}
	}
}

// TestWikiRefusedSaveKeepsBase: handleWikiSave moves the editor's base
// revision to the current one after any refused save, not only after a
// conflict. Validation runs before the base is compared, so an editor whose
// save is refused for its title, while someone else saved meanwhile, gets
// the editor back with the newer base and no conflict shown; fixing the
// title and saving again silently overwrites the other save (lost update).
func TestWikiRefusedSaveKeepsBase(t *testing.T) {
	srv := startServer(t, nil)
	w := newCaseWorld(t, srv, map[string]tma.Role{"a": tma.RoleThreatManager, "b": tma.RoleThreatManager})
	clients := w.signIn(t)
	a, b := clients["a"], clients["b"]
	path := createWikiPage(t, a, "Escalation", "", "# Escalation\n\nCall the team lead.\n")
	baseA := editBase(t, a, path)
	baseB := editBase(t, b, path)
	if status, body := b.post(path, url.Values{"title": {"Escalation"}, "body": {"# Escalation\n\nCall the team lead. Then legal.\n"}, "base": {baseB}}); status != http.StatusSeeOther {
		t.Fatalf("b saves: %d %.300s", status, body)
	}
	// A's save is refused for its title (a slash), not for the conflict.
	status, body := a.post(path, url.Values{"title": {"Escalation / HR"}, "body": {"# Escalation\n\nCall HR.\n"}, "base": {baseA}})
	if status != http.StatusBadRequest {
		t.Fatalf("a's invalid save: %d", status)
	}
	m := baseRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no base in the editor")
	}
	if m[1] != baseA && !strings.Contains(body, `id="wiki-conflict"`) {
		t.Errorf("after a refused save the editor's base moved from %s to %s without showing the conflict", baseA, m[1])
	}
	// A fixes the title and saves with the base the editor gave back.
	status, _ = a.post(path, url.Values{"title": {"Escalation"}, "body": {"# Escalation\n\nCall HR.\n"}, "base": {m[1]}})
	if _, page := a.get(path); status == http.StatusSeeOther && !strings.Contains(page, "Then legal.") {
		t.Errorf("b's revision was silently overwritten by a's save (lost update)")
	}
}

// TestWikiUnlinkHiddenPage: LinkCase links only pages the viewer may
// read, and the case page lists only those, but UnlinkCase takes no viewer:
// a contributor who may not read a page removes it from the case (and the
// 200 against 404 tells that the case uses a page with that id).
func TestWikiUnlinkHiddenPage(t *testing.T) {
	srv := startServer(t, nil)
	w := newCaseWorld(t, srv, map[string]tma.Role{"lead": tma.RoleThreatManager, "counsel": tma.RoleLegal})
	w.kase = w.createCase(t, w.users["lead"])
	w.member(t, w.users["counsel"], tma.CaseExpert, nil)
	clients := w.signIn(t)
	lead, counsel := clients["lead"], clients["counsel"]
	page := createWikiPage(t, lead, "Covert monitoring", "", "# Covert monitoring\n")
	lead.get(page)
	if status, _ := lead.post(page+"/access", url.Values{"narrow": {"on"}, "read": {"threat_manager"}}); status != http.StatusOK {
		t.Fatalf("narrow: %d", status)
	}
	ctx := context.Background()
	var id string
	if err := srv.DB.Pool.QueryRow(ctx, `SELECT id::text FROM wiki_pages WHERE tenant_id = $1 AND slug = 'covert-monitoring'`, w.tenant.ID).Scan(&id); err != nil {
		t.Fatal(err)
	}
	caseURL := "/cases/" + w.kase.ID
	lead.get(caseURL)
	if status, _ := lead.post(caseURL+"/wiki", url.Values{"page": {id}}); status != http.StatusOK {
		t.Fatalf("link: %d", status)
	}
	counsel.get(caseURL)
	status, _ := counsel.post(caseURL+"/wiki/"+id+"/remove", nil)
	var n int
	if err := srv.DB.Pool.QueryRow(ctx, `SELECT count(*) FROM case_wiki_pages WHERE tenant_id = $1 AND case_id = $2`, w.tenant.ID, w.kase.ID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if status != http.StatusNotFound || n != 1 {
		t.Errorf("legal unlinks a page it may not read: %d, %d links left; want 404 (as for a missing page) and the link kept", status, n)
	}
}
