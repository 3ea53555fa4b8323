package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tma-portal/tma/server/postgres"
	"github.com/tma-portal/tma/server/tma"
)

// importedPage is a page of the space as the test checks it.
type importedPage struct {
	parent, title, body, message, authorID string
	revision                               int
}

// wikiPages reads the pages of a tenant's space by slug, at their current
// revision, with the slug of their parent.
func wikiPages(t *testing.T, db *postgres.DB, tenantID, space string) map[string]importedPage {
	t.Helper()
	rows, err := db.Pool.Query(context.Background(), `SELECT p.slug, COALESCE(pp.slug, ''), r.title, r.body, r.message, COALESCE(r.author_id::text, ''), p.revision
		FROM wiki_pages p JOIN wiki_spaces s ON s.tenant_id = p.tenant_id AND s.id = p.space_id
		JOIN wiki_revisions r ON r.tenant_id = p.tenant_id AND r.page_id = p.id AND r.revision = p.revision
		LEFT JOIN wiki_pages pp ON pp.tenant_id = p.tenant_id AND pp.id = p.parent_id
		WHERE p.tenant_id = $1 AND s.slug = $2`, tenantID, space)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	pages := map[string]importedPage{}
	for rows.Next() {
		var slug string
		var p importedPage
		if err := rows.Scan(&slug, &p.parent, &p.title, &p.body, &p.message, &p.authorID, &p.revision); err != nil {
			t.Fatal(err)
		}
		pages[slug] = p
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return pages
}

// TestWXRImport imports the WordPress theme unit test data through the
// command line. The expected values were looked up by hand in the file
// (grep on wp:post_type, wp:status, wp:post_parent, wp:post_name).
func TestWXRImport(t *testing.T) {
	dir := os.Getenv("TMA_FIXTURES_DIR")
	if dir == "" {
		t.Skip("TMA_FIXTURES_DIR is unset; `make test` sets it to ../shared/fixtures (wordpress/themeunittestdata.wordpress.xml)")
	}
	fixture := filepath.Join(dir, "wordpress", "themeunittestdata.wordpress.xml")
	ctx := context.Background()
	e := newCLIEnv(t)
	e.mustRun(t, "init")
	tenant, err := postgres.NewTenantService(e.db).FindTenantBySlug(ctx, "demo")
	if err != nil {
		t.Fatal(err)
	}
	// The author "themedemos" has this e-mail in the export; the other
	// author, "themereviewteam" (Theme Reviewer), has no user.
	e.mustRun(t, "user", "create", "--tenant", "demo", "--email", "themeshaperwp+demos@gmail.com", "--name", "Demo Author", "--roles", "threat_manager")
	author, err := postgres.NewUserService(e.db).FindUserByEmail(ctx, tenant.ID, "themeshaperwp+demos@gmail.com")
	if err != nil {
		t.Fatal(err)
	}

	out := e.mustRun(t, "wiki", "import", "--tenant", "demo", "--space", "process", fixture)
	// 21 published pages, 56 published posts, the page "Posts" and one page
	// per year with posts (2009, 2010, 2011, 2012, 2013, 2018, 2023).
	if !strings.Contains(out, ": 85 new, 0 updated, 0 unchanged, 2 skipped,") {
		t.Errorf("summary:\n%s", out)
	}
	for _, want := range []string{`skipped: post 1164 "Draft": draft`, `skipped: post 1153 "Scheduled": future`, "not pages: 37 attachment, 70 nav_menu_item",
		"the report is the wiki page /wiki/process/wordpress-import"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	pages := wikiPages(t, e.db, tenant.ID, "process")
	if len(pages) != 86 {
		t.Errorf("%d pages, want 85 and the report", len(pages))
	}
	var nPages, nPosts int
	if err := e.db.Pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE origin LIKE 'page %'), count(*) FILTER (WHERE origin LIKE 'post %')
		FROM wiki_page_origins WHERE tenant_id = $1 AND source = 'https://wpthemetestdata.wordpress.com'`, tenant.ID).Scan(&nPages, &nPosts); err != nil {
		t.Fatal(err)
	}
	if nPages != 21 || nPosts != 56 {
		t.Errorf("%d pages and %d posts imported, want 21 and 56", nPages, nPosts)
	}

	// The hierarchy: Level 3 (172) → Level 2 (173) → Level 1 (174); Επίπεδο 3
	// (1813) → Επίπεδο 2 (1811) → Ελληνικά-Greek (1809), whose addresses are
	// Greek and so become page-<id>; posts under their year.
	chain := func(slug string) []string {
		var c []string
		for s := slug; s != "" && len(c) < 10; s = pages[s].parent {
			c = append(c, s)
		}
		return c
	}
	for _, want := range [][]string{
		{"level-3", "level-2", "level-1"},
		{"level-3b", "level-2", "level-1"},
		{"page-with-comments", "about"},
		{"page-1813", "page-1811", "greek"},
		{"block-button", "posts-2018", "posts"},
		{"edge-case-no-title", "posts-2009", "posts"},
	} {
		if got := chain(want[0]); strings.Join(got, " > ") != strings.Join(want, " > ") {
			t.Errorf("parents of %s: %q, want %q", want[0], got, want)
		}
	}
	for slug, title := range map[string]string{"level-3": "Level 3", "page-1813": "Επίπεδο 3", "posts-2018": "Posts 2018",
		"edge-case-no-title": "Untitled post 1169", "markup-title-with-markup": "Markup: Title With Markup",
		"title-with-special-characters": "Markup: Title With Special Characters ~`!@ $%^&*()-_=+{} -\\;:'\"?,.>"} {
		if pages[slug].title != title {
			t.Errorf("title of %s = %q, want %q", slug, pages[slug].title, title)
		}
	}
	// Drafts and scheduled posts are not imported.
	for _, p := range pages {
		if p.title == "Draft" || p.title == "Scheduled" {
			t.Errorf("the skipped post %q was imported", p.title)
		}
	}
	// Authors: a user by e-mail, else named in the message.
	if p := pages["about"]; p.authorID != author.ID || !strings.Contains(p.message, "Imported from WordPress (page 2 by Demo Author)") {
		t.Errorf("About: author %q, message %q", p.authorID, p.message)
	}
	if p := pages["block-button"]; p.authorID != "" || !strings.Contains(p.message, "by WordPress: Theme Reviewer") {
		t.Errorf("Block: Button: author %q, message %q", p.authorID, p.message)
	}
	// Internal links: Block category: Layout Elements (1734) links to the
	// Block: Button post (1747); the Block: Gallery post links to
	// attachment pages, which are not pages and stay links.
	if body := pages["blocks-layout-elements"].body; !strings.Contains(body, "[[process/block-button|another button]]") {
		t.Errorf("internal link not rewritten:\n%s", body)
	}
	if body := pages["block-gallery"].body; strings.Contains(body, "<!--") || strings.Contains(body, "[[") {
		t.Errorf("gallery:\n%s", body)
	}
	wiki := postgres.NewWikiService(e.db, nil, nil)
	admin, err := postgres.NewUserService(e.db).FindUserByEmail(ctx, tenant.ID, "themeshaperwp+demos@gmail.com")
	if err != nil {
		t.Fatal(err)
	}
	_, button, err := wiki.Page(ctx, tenant.ID, "process", "block-button", 0, admin)
	if err != nil {
		t.Fatal(err)
	}
	if back, err := wiki.Backlinks(ctx, tenant.ID, button, admin); err != nil || len(back) != 1 || back[0].Slug != "blocks-layout-elements" {
		t.Errorf("backlinks of Block: Button: %+v, %v", back, err)
	}
	if r := pages["wordpress-import"]; !strings.Contains(r.body, "| Imported | 85 |") || !strings.Contains(r.body, "2008/06/windmill.jpg") {
		t.Errorf("report page:\n%s", r.body)
	}

	// A second run changes nothing but the report.
	out = e.mustRun(t, "wiki", "import", "--tenant", "demo", "--space", "process", fixture)
	if !strings.Contains(out, ": 0 new, 0 updated, 85 unchanged, 2 skipped,") {
		t.Errorf("second run:\n%s", out)
	}
	again := wikiPages(t, e.db, tenant.ID, "process")
	if len(again) != len(pages) {
		t.Errorf("%d pages after the second run, %d before", len(again), len(pages))
	}
	for slug, p := range again {
		want := pages[slug].revision
		if slug == "wordpress-import" {
			want++
		}
		if p.revision != want {
			t.Errorf("%s: revision %d after the second run, want %d", slug, p.revision, want)
		}
	}

	// A changed item becomes a new revision.
	raw, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	changed := filepath.Join(t.TempDir(), "changed.xml")
	if err := os.WriteFile(changed, []byte(strings.Replace(string(raw), "<title>Page A</title>", "<title>Page A, revised</title>", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	out = e.mustRun(t, "wiki", "import", "--tenant", "demo", "--space", "process", changed)
	if !strings.Contains(out, ": 0 new, 1 updated, 84 unchanged,") {
		t.Errorf("run with a changed item:\n%s", out)
	}
	if p := wikiPages(t, e.db, tenant.ID, "process")["page-a"]; p.revision != 2 || p.title != "Page A, revised" {
		t.Errorf("changed page: %+v", p)
	}

	// A file cut off half-way is refused with its line, and nothing is
	// imported: not even into a fresh space.
	truncated := filepath.Join(t.TempDir(), "truncated.xml")
	if err := os.WriteFile(truncated, raw[:len(raw)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	var auditBefore int
	countAudit := func() int {
		var n int
		if err := e.db.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE tenant_id = $1 AND action = $2`, tenant.ID, tma.AuditWikiImported).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	auditBefore = countAudit()
	if auditBefore != 3 {
		t.Errorf("%d audit events %s, want one per run", auditBefore, tma.AuditWikiImported)
	}
	before := len(wikiPages(t, e.db, tenant.ID, "process"))
	_, err = e.run(t, "wiki", "import", "--tenant", "demo", "--space", "process", truncated)
	if err == nil || !regexp.MustCompile(`truncated\.xml: wxr: line \d+: .*nothing was imported`).MatchString(err.Error()) {
		t.Fatalf("truncated export: %v", err)
	}
	if after := len(wikiPages(t, e.db, tenant.ID, "process")); after != before || countAudit() != auditBefore {
		t.Errorf("the truncated export changed the wiki: %d pages, %d before", after, before)
	}
	if _, err := e.run(t, "wiki", "import", "--tenant", "demo", "--space", "nope", fixture); tma.ErrorCode(err) != tma.ENOTFOUND {
		t.Errorf("import into a missing space: %v", err)
	}
}
