package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tma-portal/tma/server/postgres"
	"github.com/tma-portal/tma/server/tma"
	"github.com/tma-portal/tma/server/web"
)

// review10bItem is one item of a hand-made WordPress export.
type review10bItem struct {
	id                         int
	typ, status, slug, title   string
	creator, content, modified string
}

// review10bWXR writes a minimal WXR 1.2 export of site base with one
// author (login "jane", e-mail email) and items, and returns its path.
func review10bWXR(t *testing.T, base, email string, items ...review10bItem) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:excerpt="http://wordpress.org/export/1.2/excerpt/" xmlns:content="http://purl.org/rss/1.0/modules/content/"
 xmlns:wfw="http://wellformedweb.org/CommentAPI/" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:wp="http://wordpress.org/export/1.2/">
<channel>
<title>Site</title>
<link>%[1]s</link>
<wp:wxr_version>1.2</wp:wxr_version>
<wp:base_site_url>%[1]s</wp:base_site_url>
<wp:base_blog_url>%[1]s</wp:base_blog_url>
<wp:author><wp:author_id>1</wp:author_id><wp:author_login><![CDATA[jane]]></wp:author_login><wp:author_email><![CDATA[%[2]s]]></wp:author_email><wp:author_display_name><![CDATA[Jane]]></wp:author_display_name></wp:author>
`, base, email)
	for _, it := range items {
		if it.modified == "" {
			it.modified = "2024-01-02 10:00:00"
		}
		if it.creator == "" {
			it.creator = "jane"
		}
		fmt.Fprintf(&b, `<item>
<title><![CDATA[%[2]s]]></title>
<link>%[7]s/%[3]s/</link>
<guid isPermaLink="false">%[7]s/?page_id=%[1]d</guid>
<dc:creator><![CDATA[%[5]s]]></dc:creator>
<content:encoded><![CDATA[%[6]s]]></content:encoded>
<wp:post_id>%[1]d</wp:post_id>
<wp:post_date_gmt><![CDATA[2024-01-01 10:00:00]]></wp:post_date_gmt>
<wp:post_modified_gmt><![CDATA[%[8]s]]></wp:post_modified_gmt>
<wp:post_name><![CDATA[%[3]s]]></wp:post_name>
<wp:status><![CDATA[%[4]s]]></wp:status>
<wp:post_parent>0</wp:post_parent>
<wp:post_type><![CDATA[%[9]s]]></wp:post_type>
</item>
`, it.id, it.title, it.slug, it.status, it.creator, it.content, base, it.modified, it.typ)
	}
	b.WriteString("</channel>\n</rss>\n")
	path := filepath.Join(t.TempDir(), "export.xml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestWikiReimportKeepsPortalEdit: the README promises that running
// `tma wiki import` again on an export "changed items become new
// revisions, unchanged ones stay". ImportPages compares the export's text
// with the page's CURRENT revision, not with what the import last wrote,
// so a page edited in the portal after the import (a threat manager
// adding the site's phone numbers to the imported escalation process) is
// silently reverted by re-running the very same, unchanged export: a new
// revision with the old WordPress text, attributed to the WordPress
// author, on a page the export did not change.
func TestWikiReimportKeepsPortalEdit(t *testing.T) {
	ctx := context.Background()
	e := newCLIEnv(t)
	e.mustRun(t, "init")
	tenant, err := postgres.NewTenantService(e.db).FindTenantBySlug(ctx, "demo")
	if err != nil {
		t.Fatal(err)
	}
	e.mustRun(t, "user", "create", "--tenant", "demo", "--email", "tm@demo.example", "--name", "TM", "--roles", "threat_manager")
	tm, err := postgres.NewUserService(e.db).FindUserByEmail(ctx, tenant.ID, "tm@demo.example")
	if err != nil {
		t.Fatal(err)
	}
	export := review10bWXR(t, "https://intranet.example.org", "jane@wp.example",
		review10bItem{id: 11, typ: "page", status: "publish", slug: "escalation", title: "Escalation", content: "<p>Call the duty officer.</p>"})
	e.mustRun(t, "wiki", "import", "--tenant", "demo", "--space", "process", export)

	// A threat manager improves the imported page in the portal.
	wiki := postgres.NewWikiService(e.db, nil, web.NewWikiMarkup())
	actx := tma.NewContextWithActor(ctx, tma.Actor{UserID: tm.ID, TenantID: tenant.ID, Label: tm.Email})
	const edited = "Call the duty officer: +49 30 1234567 (local edit).\n"
	if _, err := wiki.SaveRevision(actx, tenant.ID, "process", "escalation", tma.WikiPageInput{Title: "Escalation", BaseRevision: 1, Body: edited}, tm); err != nil {
		t.Fatal(err)
	}

	// The same export, unchanged, imported again.
	out := e.mustRun(t, "wiki", "import", "--tenant", "demo", "--space", "process", export)
	p := wikiPages(t, e.db, tenant.ID, "process")["escalation"]
	if p.body != edited || p.revision != 2 {
		t.Errorf("re-importing an unchanged export reverted the portal edit: revision %d, body %q, message %q (want revision 2 with %q)\nimport output:\n%s",
			p.revision, p.body, p.message, edited, out)
	}
	if !strings.Contains(out, "0 updated, 1 unchanged") {
		t.Errorf("an unchanged export counts as an update:\n%s", out)
	}

	// The export changes too: the portal edit still stays, and the
	// operator is told why the page was not updated.
	changed := review10bWXR(t, "https://intranet.example.org", "jane@wp.example",
		review10bItem{id: 11, typ: "page", status: "publish", slug: "escalation", title: "Escalation", content: "<p>Call the duty officer or HR.</p>"})
	out = e.mustRun(t, "wiki", "import", "--tenant", "demo", "--space", "process", changed)
	p = wikiPages(t, e.db, tenant.ID, "process")["escalation"]
	if p.body != edited || p.revision != 2 || !strings.Contains(out, "edited in the portal since the last import") {
		t.Errorf("a changed export over a portal edit: revision %d, body %q\n%s", p.revision, p.body, out)
	}
}

// TestWikiImportCreditsOnlyEditors: an export names its authors by e-mail;
// a revision is credited to a user only if that user is active and may
// edit the wiki. An auditor and a disabled threat manager named by the
// export are shown as WordPress authors instead, an active threat manager
// is credited.
func TestWikiImportCreditsOnlyEditors(t *testing.T) {
	ctx := context.Background()
	e := newCLIEnv(t)
	e.mustRun(t, "init")
	tenant, err := postgres.NewTenantService(e.db).FindTenantBySlug(ctx, "demo")
	if err != nil {
		t.Fatal(err)
	}
	users := postgres.NewUserService(e.db)
	for _, u := range []struct{ email, roles string }{{"audit@demo.example", "auditor"}, {"gone@demo.example", "threat_manager"}, {"tm@demo.example", "threat_manager"}} {
		e.mustRun(t, "user", "create", "--tenant", "demo", "--email", u.email, "--name", u.email, "--roles", u.roles)
	}
	gone, err := users.FindUserByEmail(ctx, tenant.ID, "gone@demo.example")
	if err != nil {
		t.Fatal(err)
	}
	if err := users.SetDisabled(systemCtx(ctx, tenant.ID), tenant.ID, gone.ID, true); err != nil {
		t.Fatal(err)
	}
	tm, err := users.FindUserByEmail(ctx, tenant.ID, "tm@demo.example")
	if err != nil {
		t.Fatal(err)
	}
	for email, want := range map[string]string{"audit@demo.example": "", "gone@demo.example": "", "tm@demo.example": tm.ID} {
		export := review10bWXR(t, "https://"+strings.Split(email, "@")[0]+".example.org", email,
			review10bItem{id: 11, typ: "page", status: "publish", slug: "p-" + strings.Split(email, "@")[0], title: "Page of " + email, content: "<p>Text.</p>"})
		e.mustRun(t, "wiki", "import", "--tenant", "demo", "--space", "process", export)
		p := wikiPages(t, e.db, tenant.ID, "process")["p-"+strings.Split(email, "@")[0]]
		if p.authorID != want || (want == "" && !strings.Contains(p.message, "WordPress: Jane")) {
			t.Errorf("export by %s: revision author %q, message %q; want author %q", email, p.authorID, p.message, want)
		}
	}
}
