package web

import (
	"html/template"
	"io/fs"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tma-portal/tma/assets"
	docsengine "github.com/tma-portal/tma/docs-engine"
	"github.com/tma-portal/tma/server/tma"
)

// wikiTemplates are the page templates a new page can start from, in
// assets/wiki/<name>.<locale>.md.
var wikiTemplates = []string{"process", "checklist", "contacts"}

// wikiTemplate returns the Markdown skeleton of a template in the view's
// language, "" for none.
func wikiTemplate(name, locale string) string {
	if !slices.Contains(wikiTemplates, name) {
		return ""
	}
	b, err := fs.ReadFile(assets.FS, "wiki/"+name+"."+locale+".md")
	if err != nil {
		b, _ = fs.ReadFile(assets.FS, "wiki/"+name+".en.md")
	}
	return string(b)
}

func wikiURL(space, slug string) string {
	return "/wiki/" + url.PathEscape(space) + "/" + url.PathEscape(slug)
}

type wikiIndexData struct {
	Spaces  []*tma.WikiSpace
	Changes []*tma.WikiChange
}

// handleWikiPage lists the spaces and the recent changes the viewer may read.
func (s *Server) handleWikiPage(c *fiber.Ctx) error {
	p := principal(c)
	ctx := c.UserContext()
	spaces, err := s.deps.Wiki.Spaces(ctx, p.Tenant.ID, p.User)
	if err != nil {
		return err
	}
	changes, err := s.deps.Wiki.RecentChanges(ctx, p.Tenant.ID, p.User, 50)
	if err != nil {
		return err
	}
	return s.render(c, fiber.StatusOK, "wiki", s.newView(c, "wiki.title", "wiki", wikiIndexData{Spaces: spaces, Changes: changes}))
}

type wikiSpaceData struct {
	Space   *tma.WikiSpace
	Pages   []*tma.WikiChange
	CanEdit bool
}

func (s *Server) handleWikiSpacePage(c *fiber.Ctx) error {
	p := principal(c)
	sp, err := s.deps.Wiki.Space(c.UserContext(), p.Tenant.ID, c.Params("space"), p.User)
	if err != nil {
		return err
	}
	pages, err := s.deps.Wiki.Pages(c.UserContext(), p.Tenant.ID, sp.Slug, p.User)
	if err != nil {
		return err
	}
	v := s.newView(c, "wiki.space.title", "wiki", wikiSpaceData{Space: sp, Pages: pages, CanEdit: sp.CanEdit(p.User) && s.deps.Authz.Can(p.User, tma.PermWikiEdit)})
	v.TitleArg = sp.Name
	return s.render(c, fiber.StatusOK, "wiki_space", v)
}

type wikiNewData struct {
	Space     *tma.WikiSpace
	Pages     []*tma.WikiChange
	Templates []string
	Form      tma.WikiPageInput
}

func (s *Server) wikiNewView(c *fiber.Ctx, form tma.WikiPageInput) (*view, error) {
	p := principal(c)
	sp, err := s.deps.Wiki.Space(c.UserContext(), p.Tenant.ID, c.Params("space"), p.User)
	if err != nil {
		return nil, err
	}
	if !sp.CanEdit(p.User) {
		return nil, tma.Errorf(tma.EFORBIDDEN, "You may not edit this space.")
	}
	pages, err := s.deps.Wiki.Pages(c.UserContext(), p.Tenant.ID, sp.Slug, p.User)
	if err != nil {
		return nil, err
	}
	v := s.newView(c, "wiki.new.title", "wiki", wikiNewData{Space: sp, Pages: pages, Templates: wikiTemplates, Form: form})
	v.TitleArg = sp.Name
	return v, nil
}

func (s *Server) handleWikiNewPage(c *fiber.Ctx) error {
	title := c.Query("title")
	if err := tma.CheckText("title", title); err != nil {
		return err
	}
	v, err := s.wikiNewView(c, tma.WikiPageInput{Title: title})
	if err != nil {
		return err
	}
	return s.render(c, fiber.StatusOK, "wiki_new", v)
}

// handleWikiCreate creates a page from a template and opens its editor.
func (s *Server) handleWikiCreate(c *fiber.Ctx) error {
	p := principal(c)
	loc, _ := c.Locals(localLocale).(string)
	in := tma.WikiPageInput{Title: bodyValue(c, "title"), Slug: bodyValue(c, "slug"), ParentID: bodyValue(c, "parent"), Template: bodyValue(c, "template")}
	if err := tma.CheckText("template", in.Template); err != nil {
		return err
	}
	if in.Template != "" && !slices.Contains(wikiTemplates, in.Template) {
		in.Template = ""
	}
	in.Body = wikiTemplate(in.Template, loc)
	page, aerr := s.deps.Wiki.CreatePage(c.UserContext(), p.Tenant.ID, c.Params("space"), in, p.User)
	if aerr == nil {
		return c.Redirect(wikiURL(page.Space, page.Slug)+"/edit", fiber.StatusSeeOther)
	}
	if code := tma.ErrorCode(aerr); code == tma.ENOTFOUND || code == tma.EFORBIDDEN {
		return aerr
	}
	v, err := s.wikiNewView(c, in)
	if err != nil {
		return err
	}
	return s.outcome(c, v, "wiki_new", aerr, "")
}

type wikiPageData struct {
	Space     *tma.WikiSpace
	Page      *tma.WikiPage
	HTML      template.HTML
	TOC       []docsengine.Heading
	Tasks     []docsengine.Task
	Crumbs    []tma.Crumb
	Backlinks []*tma.WikiChange
	Old       bool // an old revision
	CanEdit   bool
	// UsedBy counts the viewer's visible cases that use the page; -1 for
	// a viewer who reads no cases.
	UsedBy int
	Cases  []*tma.Case // the viewer's cases, to apply the checklist to
	// Attachments are the page's files (not versioned with the text).
	Attachments []*tma.WikiAttachment
	Roles       []tma.Role // the space's readers, for narrowing
}

// wikiPageView loads a page at revision (0: current) with what its page
// shows around it.
func (s *Server) wikiPageView(c *fiber.Ctx, revision int) (*view, error) {
	p := principal(c)
	ctx, tenantID := c.UserContext(), p.Tenant.ID
	sp, page, err := s.deps.Wiki.Page(ctx, tenantID, c.Params("space"), c.Params("page"), revision, p.User)
	if err != nil {
		return nil, err
	}
	r, err := s.renderWikiPage(ctx, tenantID, page, p.User)
	if err != nil {
		return nil, err
	}
	d := wikiPageData{Space: sp, Page: page, HTML: r.HTML, TOC: r.TOC, Tasks: r.Tasks, Old: page.Revision != page.Current, UsedBy: -1,
		CanEdit: tma.CanEditPage(sp, page, p.User) && s.deps.Authz.Can(p.User, tma.PermWikiEdit)}
	if d.Crumbs, err = s.deps.Wiki.Breadcrumbs(ctx, tenantID, page, p.User); err != nil {
		return nil, err
	}
	if d.Backlinks, err = s.deps.Wiki.Backlinks(ctx, tenantID, page, p.User); err != nil {
		return nil, err
	}
	if d.Attachments, err = s.deps.WikiAttachments.Attachments(ctx, tenantID, sp.Slug, page.Slug, p.User); err != nil {
		return nil, err
	}
	if s.deps.Authz.Can(p.User, tma.PermCasesRead) {
		if d.UsedBy, err = s.deps.Wiki.UsedBy(ctx, tenantID, page.ID, p.User.ID); err != nil {
			return nil, err
		}
	}
	if len(r.Tasks) > 0 && s.deps.Authz.Can(p.User, tma.PermCasesContribute) {
		cases, err := s.deps.Cases.MyCases(ctx, tenantID, p.User.ID)
		if err != nil {
			return nil, err
		}
		for _, k := range cases {
			if k.Status != tma.StatusClosed {
				d.Cases = append(d.Cases, k)
			}
		}
	}
	for _, role := range tma.Roles {
		if sp.CanRead(&tma.User{Roles: []tma.Role{role}}) {
			d.Roles = append(d.Roles, role)
		}
	}
	v := s.newView(c, "wiki.page.title", "wiki", d)
	v.TitleArg = page.Title
	return v, nil
}

func (s *Server) handleWikiPageView(c *fiber.Ctx) error {
	v, err := s.wikiPageView(c, 0)
	if err != nil {
		return err
	}
	return s.render(c, fiber.StatusOK, "wiki_page", v)
}

// revisionParam reads a revision number from the URL or query.
func revisionParam(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, tma.Errorf(tma.ENOTFOUND, "No such page.")
	}
	return n, nil
}

func (s *Server) handleWikiRevisionPage(c *fiber.Ctx) error {
	rev, err := revisionParam(c.Params("rev"))
	if err != nil {
		return err
	}
	v, err := s.wikiPageView(c, rev)
	if err != nil {
		return err
	}
	return s.render(c, fiber.StatusOK, "wiki_page", v)
}

type wikiEditData struct {
	Space *tma.WikiSpace
	Page  *tma.WikiPage
	Form  tma.WikiPageInput
	// Conflict is set when the save was refused because the page moved
	// on: Theirs is the saved text, Form.Body the editor's own.
	Conflict *tma.WikiPage
	Diff     []diffRow
}

func (s *Server) wikiEditView(c *fiber.Ctx) (*view, *wikiEditData, error) {
	p := principal(c)
	sp, page, err := s.deps.Wiki.Page(c.UserContext(), p.Tenant.ID, c.Params("space"), c.Params("page"), 0, p.User)
	if err != nil {
		return nil, nil, err
	}
	if !tma.CanEditPage(sp, page, p.User) {
		return nil, nil, tma.Errorf(tma.EFORBIDDEN, "You may not edit this space.")
	}
	d := &wikiEditData{Space: sp, Page: page, Form: tma.WikiPageInput{Title: page.Title, Body: page.Body, BaseRevision: page.Current}}
	v := s.newView(c, "wiki.edit.title", "wiki", d)
	v.TitleArg = page.Title
	return v, d, nil
}

func (s *Server) handleWikiEditPage(c *fiber.Ctx) error {
	v, _, err := s.wikiEditView(c)
	if err != nil {
		return err
	}
	return s.render(c, fiber.StatusOK, "wiki_edit", v)
}

func formWikiPage(c *fiber.Ctx) tma.WikiPageInput {
	base, _ := strconv.Atoi(bodyValue(c, "base"))
	return tma.WikiPageInput{Title: bodyValue(c, "title"), Body: bodyValue(c, "body"), Comment: bodyValue(c, "message"), BaseRevision: base}
}

// handleWikiSave saves a revision. If the page moved on since the editor
// opened it, nothing is saved: the editor comes back with both texts and
// their diff, the base moved to the current revision.
func (s *Server) handleWikiSave(c *fiber.Ctx) error {
	p := principal(c)
	in := formWikiPage(c)
	page, aerr := s.deps.Wiki.SaveRevision(c.UserContext(), p.Tenant.ID, c.Params("space"), c.Params("page"), in, p.User)
	if aerr == nil {
		return c.Redirect(wikiURL(page.Space, page.Slug), fiber.StatusSeeOther)
	}
	if code := tma.ErrorCode(aerr); code == tma.ENOTFOUND || code == tma.EFORBIDDEN {
		return aerr
	}
	v, d, err := s.wikiEditView(c)
	if err != nil {
		return err
	}
	// Only a conflict moves the editor's base, and it shows what changed:
	// any other refusal keeps the base, so that a later save still finds
	// a conflict instead of overwriting someone else's revision.
	if tma.ErrorCode(aerr) == tma.ECONFLICT {
		d.Conflict = d.Page
		d.Diff = lineDiff(d.Page.Body, in.Body)
		in.BaseRevision = d.Page.Current
	}
	d.Form = in
	return s.outcome(c, v, "wiki_edit", aerr, "")
}

// handleWikiPreview renders the editor's Markdown through the same engine
// as the page view, for the live preview (POST with the CSRF header).
func (s *Server) handleWikiPreview(c *fiber.Ctx) error {
	p := principal(c)
	body, space, slug := bodyValue(c, "body"), bodyValue(c, "space"), bodyValue(c, "page")
	for f, v := range map[string]string{"body": body, "page": slug} {
		if err := tma.CheckText(f, v); err != nil {
			return err
		}
	}
	if !tma.ValidSlug(space) {
		space = tma.DefaultWikiSpace().Slug
	}
	r, err := s.renderWiki(c.UserContext(), p.Tenant.ID, space, slug, body, p.User)
	if err != nil {
		if tma.ErrorCode(err) != tma.EINVALID {
			return err
		}
		c.Type("html", "utf-8")
		return c.Status(fiber.StatusOK).SendString(`<p class="error">` + template.HTMLEscapeString(tma.ErrorMessage(err)) + `</p>`)
	}
	c.Type("html", "utf-8")
	return c.Status(fiber.StatusOK).SendString(string(r.HTML))
}

type wikiHistoryData struct {
	Space     *tma.WikiSpace
	Page      *tma.WikiPage
	Revisions []*tma.WikiRevision
	CanEdit   bool
}

func (s *Server) handleWikiHistoryPage(c *fiber.Ctx) error {
	p := principal(c)
	ctx := c.UserContext()
	sp, page, err := s.deps.Wiki.Page(ctx, p.Tenant.ID, c.Params("space"), c.Params("page"), 0, p.User)
	if err != nil {
		return err
	}
	revs, err := s.deps.Wiki.Revisions(ctx, p.Tenant.ID, sp.Slug, page.Slug, p.User)
	if err != nil {
		return err
	}
	v := s.newView(c, "wiki.history.title", "wiki", wikiHistoryData{Space: sp, Page: page, Revisions: revs,
		CanEdit: tma.CanEditPage(sp, page, p.User) && s.deps.Authz.Can(p.User, tma.PermWikiEdit)})
	v.TitleArg = page.Title
	return s.render(c, fiber.StatusOK, "wiki_history", v)
}

type wikiDiffData struct {
	Space    *tma.WikiSpace
	From, To *tma.WikiPage
	Rows     []diffRow
	Inline   bool
}

// handleWikiDiffPage compares two revisions (?from=&to=, the previous and
// the current by default), side by side or inline (?view=inline).
func (s *Server) handleWikiDiffPage(c *fiber.Ctx) error {
	p := principal(c)
	ctx := c.UserContext()
	to := 0
	if q := c.Query("to"); q != "" {
		n, err := revisionParam(q)
		if err != nil {
			return err
		}
		to = n
	}
	sp, newer, err := s.deps.Wiki.Page(ctx, p.Tenant.ID, c.Params("space"), c.Params("page"), to, p.User)
	if err != nil {
		return err
	}
	from := newer.Revision - 1
	if q := c.Query("from"); q != "" {
		if from, err = revisionParam(q); err != nil {
			return err
		}
	}
	older := &tma.WikiPage{Title: newer.Title}
	if from >= 1 {
		if _, older, err = s.deps.Wiki.Page(ctx, p.Tenant.ID, sp.Slug, newer.Slug, from, p.User); err != nil {
			return err
		}
	}
	v := s.newView(c, "wiki.diff.title", "wiki", wikiDiffData{Space: sp, From: older, To: newer,
		Rows: lineDiff(older.Body, newer.Body), Inline: c.Query("view") == "inline"})
	v.TitleArg = newer.Title
	return s.render(c, fiber.StatusOK, "wiki_diff", v)
}

func (s *Server) handleWikiRestore(c *fiber.Ctx) error {
	p := principal(c)
	rev, err := revisionParam(c.Params("rev"))
	if err != nil {
		return err
	}
	page, aerr := s.deps.Wiki.Restore(c.UserContext(), p.Tenant.ID, c.Params("space"), c.Params("page"), rev, p.User)
	if aerr == nil {
		return c.Redirect(wikiURL(page.Space, page.Slug), fiber.StatusSeeOther)
	}
	if code := tma.ErrorCode(aerr); code == tma.ENOTFOUND || code == tma.EFORBIDDEN {
		return aerr
	}
	v, err := s.wikiPageView(c, 0)
	if err != nil {
		return err
	}
	return s.outcome(c, v, "wiki_page", aerr, "")
}

// formRoleList reads the checked roles of a multi-valued field.
func formRoleList(c *fiber.Ctx, key string) ([]tma.Role, error) {
	var out []tma.Role
	for _, v := range bodyValues(c, key) {
		r := tma.Role(v)
		if !r.Valid() {
			return nil, tma.Errorf(tma.EINVALID, "Unknown role %q.", tma.CleanText(v, 40))
		}
		out = append(out, r)
	}
	return out, nil
}

// handleWikiAccess narrows a page to some of its space's readers, or hides
// it from roles.
func (s *Server) handleWikiAccess(c *fiber.Ctx) error {
	p := principal(c)
	read, err := formRoleList(c, "read")
	if err != nil {
		return err
	}
	hidden, err := formRoleList(c, "hidden")
	if err != nil {
		return err
	}
	in := tma.WikiAccessInput{ReadRoles: read, HiddenRoles: hidden}
	if bodyValue(c, "narrow") != "on" {
		in.ReadRoles = nil
	} else if in.ReadRoles == nil {
		in.ReadRoles = []tma.Role{}
	}
	aerr := s.deps.Wiki.SetPageAccess(c.UserContext(), p.Tenant.ID, c.Params("space"), c.Params("page"), in, p.User)
	if code := tma.ErrorCode(aerr); code == tma.ENOTFOUND || code == tma.EFORBIDDEN {
		return aerr
	}
	if aerr == nil {
		if _, _, err := s.deps.Wiki.Page(c.UserContext(), p.Tenant.ID, c.Params("space"), c.Params("page"), 0, p.User); err != nil {
			// The editor narrowed the page away from themselves.
			return c.Redirect("/wiki/"+url.PathEscape(c.Params("space")), fiber.StatusSeeOther)
		}
	}
	v, err := s.wikiPageView(c, 0)
	if err != nil {
		return err
	}
	return s.outcome(c, v, "wiki_page", aerr, "wiki.access.saved")
}

// handleWikiApply turns the page's checklist into action items of a case
// the viewer may contribute to. A case they may not contribute to, or not
// see at all, answers like a case that does not exist.
func (s *Server) handleWikiApply(c *fiber.Ctx) error {
	p := principal(c)
	ctx := c.UserContext()
	caseID := bodyValue(c, "case")
	if err := tma.CheckText("case", caseID); err != nil {
		return err
	}
	rev, _ := strconv.Atoi(bodyValue(c, "revision"))
	a, err := s.deps.Cases.Access(ctx, p.Tenant.ID, p.User.ID, caseID)
	if err != nil {
		return err
	}
	if !s.deps.Authz.CanCase(p.User, a.Roles(time.Now()), tma.PermCasesContribute, tma.CasePermContribute) {
		s.recordDenied(c, tma.AuditAccessDenied, tma.CasePermContribute.String()+" "+c.Path())
		return tma.Errorf(tma.ENOTFOUND, "No such case.")
	}
	_, aerr := s.deps.Wiki.ApplyChecklist(ctx, p.Tenant.ID, c.Params("space"), c.Params("page"), max(rev, 0), caseID, p.User)
	if aerr == nil {
		return c.Redirect("/cases/"+caseID, fiber.StatusSeeOther)
	}
	if tma.ErrorCode(aerr) == tma.ENOTFOUND {
		return aerr
	}
	v, err := s.wikiPageView(c, 0)
	if err != nil {
		return err
	}
	return s.outcome(c, v, "wiki_page", aerr, "")
}

type wikiSettingsData struct {
	Space *tma.WikiSpace
}

func (s *Server) handleWikiSettingsPage(c *fiber.Ctx) error {
	sp, err := s.deps.Wiki.SpaceForManage(c.UserContext(), principal(c).Tenant.ID, c.Params("space"))
	if err != nil {
		return err
	}
	v := s.newView(c, "wiki.settings.title", "wiki", wikiSettingsData{Space: sp})
	v.TitleArg = sp.Name
	return s.render(c, fiber.StatusOK, "wiki_settings", v)
}

func (s *Server) handleWikiSettings(c *fiber.Ctx) error {
	p := principal(c)
	read, err := formRoleList(c, "read")
	if err != nil {
		return err
	}
	edit, err := formRoleList(c, "edit")
	if err != nil {
		return err
	}
	aerr := s.deps.Wiki.SetSpaceGrants(c.UserContext(), p.Tenant.ID, c.Params("space"), tma.WikiGrantsInput{ReadRoles: read, EditRoles: edit})
	if tma.ErrorCode(aerr) == tma.ENOTFOUND {
		return aerr
	}
	sp, err := s.deps.Wiki.SpaceForManage(c.UserContext(), p.Tenant.ID, c.Params("space"))
	if err != nil {
		return err
	}
	v := s.newView(c, "wiki.settings.title", "wiki", wikiSettingsData{Space: sp})
	v.TitleArg = sp.Name
	return s.outcome(c, v, "wiki_settings", aerr, "wiki.settings.saved")
}

// handleCaseWikiLink links the case in the URL to a process page.
func (s *Server) handleCaseWikiLink(c *fiber.Ctx) error {
	return s.caseAction(c, "case.wiki.linked", func(tenantID, caseID string) error {
		page := bodyValue(c, "page")
		if err := tma.CheckText("page", page); err != nil {
			return err
		}
		return s.deps.Wiki.LinkCase(c.UserContext(), tenantID, caseID, page, principal(c).User)
	})
}

func (s *Server) handleCaseWikiUnlink(c *fiber.Ctx) error {
	return s.caseAction(c, "case.wiki.unlinked", func(tenantID, caseID string) error {
		return s.deps.Wiki.UnlinkCase(c.UserContext(), tenantID, caseID, c.Params("page"), principal(c).User)
	})
}
