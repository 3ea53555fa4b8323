package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"html"
	"io"
	"maps"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tma-portal/tma/docs-engine/wxr"
	"github.com/tma-portal/tma/server/authz"
	"github.com/tma-portal/tma/server/postgres"
	"github.com/tma-portal/tma/server/tma"
	"github.com/tma-portal/tma/server/web"
)

// cmdWikiImport imports a WordPress export (WXR) into a wiki space.
//
// The export is read twice, as a stream, and never held: the first pass
// checks the whole file and keeps only the items' metadata (ids, types,
// titles, addresses, parents, dates), which is what links between items
// need; the second converts each item's HTML to Markdown. The Markdown of
// every page is held until the one transaction that writes them all: a
// malformed file or a refused page writes nothing. For a WordPress site
// (hundreds or a few thousand pages of text) that is a few megabytes.
//
// Published pages keep their hierarchy; published posts go under a page
// "Posts", then one page per year ("Posts 2024"). Drafts, pending,
// scheduled, private and trashed items are skipped and listed; attachments
// and menu items are not pages. Authors map to users of the tenant by
// e-mail (the author's e-mail, or a login that is one); others are named
// in the revision message ("WordPress: Jane Doe"), the revision having no
// author. Pages keep the WordPress address (post_name) where it is a valid
// wiki address; others get one from it, or "page-<id>" for addresses in
// other scripts; a taken address gets "-2", "-3", …. Links between
// imported items become wiki links [[space/slug|label]]. Files are listed
// in the report page, not fetched.
//
// Running it again matches pages by the export's site address and item id
// (table wiki_page_origins): a changed item becomes a new revision, an
// unchanged one stays, nothing is duplicated.
func cmdWikiImport(ctx context.Context, c *Config, args []string, w io.Writer) error {
	fs := flag.NewFlagSet("wiki import", flag.ContinueOnError)
	tenant := fs.String("tenant", "", "tenant slug")
	space := fs.String("space", "process", "wiki space slug")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("wiki import needs --tenant, --space and the export file: tma wiki import --tenant T --space S export.xml")
	}
	path := fs.Arg(0)
	export, err := readWXRMetadata(path)
	if err != nil {
		return err
	}
	db, t, err := openTenant(ctx, c, *tenant)
	if err != nil {
		return err
	}
	defer db.Close()
	users, err := postgres.NewUserService(db).FindUsers(ctx, t.ID)
	if err != nil {
		return err
	}
	// Only active users who may edit the wiki are credited with a
	// revision: an export must not put words in an auditor's or a disabled
	// account's name.
	enforcer, err := authz.New()
	if err != nil {
		return err
	}
	users = slices.DeleteFunc(users, func(u *tma.User) bool { return u.Disabled || !enforcer.Can(u, tma.PermWikiEdit) })
	wiki := postgres.NewWikiService(db, nil, web.NewWikiMarkup())
	res, err := importWXR(systemCtx(ctx, t.ID), wiki, t.ID, *space, path, export, users, w)
	if err != nil {
		return err
	}
	printImportSummary(w, res, export)
	return nil
}

// wxrExport is the metadata of an export: its items without their content.
type wxrExport struct {
	base    string
	authors []wxr.Author
	items   []wxr.Item
}

// readWXR streams the export at path through fn, item by item.
func readWXR(path string, fn func(wxr.Item) error) (*wxr.Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := wxr.NewReader(f)
	for {
		it, err := r.Next()
		if errors.Is(err, io.EOF) {
			return r, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w; nothing was imported", path, err)
		}
		if err := fn(it); err != nil {
			return nil, err
		}
	}
}

// readWXRMetadata is the first pass: it checks the whole file.
func readWXRMetadata(path string) (*wxrExport, error) {
	var e wxrExport
	r, err := readWXR(path, func(it wxr.Item) error {
		it.Content = ""
		e.items = append(e.items, it)
		return nil
	})
	if err != nil {
		return nil, err
	}
	e.base, e.authors = r.BaseURL(), r.Authors()
	if e.base == "" {
		return nil, fmt.Errorf("%s: the export names no site (wp:base_blog_url or wp:base_site_url); nothing was imported", path)
	}
	return &e, nil
}

// wxrPlan is what an export becomes: the pages with their places, bodies
// still empty, and where each item went.
type wxrPlan struct {
	imp   tma.WikiImport
	index map[int64]int // item id → index in imp.Pages
}

// importWXR plans, converts and writes an import.
func importWXR(ctx context.Context, wiki tma.WikiImporter, tenantID, space, path string, e *wxrExport, users []*tma.User, w io.Writer) (*tma.WikiImportResult, error) {
	plan := planWXR(e, users)
	state, err := wiki.ImportState(ctx, tenantID, space, plan.imp.Source)
	if err != nil {
		return nil, err
	}
	plan.imp.Warnings = append(plan.imp.Warnings, plan.imp.Place(state)...)
	if err := plan.convert(path, space, e, w); err != nil {
		return nil, err
	}
	return wiki.ImportPages(ctx, tenantID, space, &plan.imp)
}

// planWXR decides which items become which pages, where, by whom.
func planWXR(e *wxrExport, users []*tma.User) *wxrPlan {
	p := &wxrPlan{imp: tma.WikiImport{Source: e.base}, index: map[int64]int{}}
	byEmail := map[string]*tma.User{}
	for _, u := range users {
		byEmail[strings.ToLower(u.Email)] = u
	}
	authors := map[string]wxr.Author{}
	for _, a := range e.authors {
		authors[a.Login] = a
	}
	author := func(login string) (id, label string) {
		a := authors[login]
		for _, key := range []string{a.Email, login} {
			if u := byEmail[strings.ToLower(strings.TrimSpace(key))]; u != nil && key != "" {
				return u.ID, u.DisplayName
			}
		}
		name := strings.TrimSpace(a.DisplayName)
		if name == "" {
			name = login
		}
		if name == "" {
			name = "unknown"
		}
		return "", "WordPress: " + name
	}

	byID := map[int64]wxr.Item{}
	for _, it := range e.items {
		byID[it.ID] = it
	}
	importable := func(it wxr.Item) bool {
		return (it.Type == "page" || it.Type == "post") && it.Status == "publish"
	}
	// A page's depth orders parents before children; a parent that is not
	// imported (a draft) or a loop puts the page at the top.
	parentOf := map[int64]int64{}
	for _, it := range e.items {
		if !importable(it) || it.Type != "page" || it.ParentID == 0 {
			continue
		}
		if par, ok := byID[it.ParentID]; !ok || !importable(par) || par.Type != "page" {
			p.imp.Warnings = append(p.imp.Warnings, fmt.Sprintf("page %d %q: its parent %d is not imported; it is at the top of the space", it.ID, it.Title, it.ParentID))
			continue
		}
		parentOf[it.ID] = it.ParentID
	}
	depth := func(id int64) int {
		d := 0
		for cur := id; parentOf[cur] != 0; cur = parentOf[cur] {
			if d++; d > len(parentOf) {
				p.imp.Warnings = append(p.imp.Warnings, fmt.Sprintf("page %d: its parents form a loop; it is at the top of the space", id))
				delete(parentOf, id)
				return 0
			}
		}
		return d
	}

	var pages, posts []wxr.Item
	for _, it := range e.items {
		switch {
		case importable(it) && it.Type == "page":
			pages = append(pages, it)
		case importable(it):
			posts = append(posts, it)
		case it.Type == "page" || it.Type == "post":
			p.imp.Skipped = append(p.imp.Skipped, fmt.Sprintf("%s %d %q: %s", it.Type, it.ID, it.Title, it.Status))
		}
	}
	depths := map[int64]int{}
	for _, it := range pages {
		depths[it.ID] = depth(it.ID)
	}
	slices.SortStableFunc(pages, func(a, b wxr.Item) int { return depths[a.ID] - depths[b.ID] })

	add := func(pg tma.ImportedPage, id int64) {
		if id != 0 {
			p.index[id] = len(p.imp.Pages)
		}
		p.imp.Pages = append(p.imp.Pages, pg)
	}
	for _, it := range pages {
		pg := itemPage(it, author)
		if par := parentOf[it.ID]; par != 0 {
			pg.ParentOrigin = "page " + strconv.FormatInt(par, 10)
		}
		add(pg, it.ID)
	}
	// Posts: a page "Posts", then one per year, oldest first.
	if len(posts) > 0 {
		years := map[int]time.Time{}
		for _, it := range posts {
			y := it.DateGMT.Year()
			if first, ok := years[y]; !ok || it.DateGMT.Before(first) {
				years[y] = it.DateGMT
			}
		}
		keys := make([]int, 0, len(years))
		for y := range years {
			keys = append(keys, y)
		}
		slices.Sort(keys)
		first := years[keys[0]]
		add(tma.ImportedPage{Origin: "section posts", Title: "Posts", Slug: "posts",
			Body:    fmt.Sprintf("Posts imported from %s, by year.\n", e.base),
			Message: "Imported from WordPress", CreatedAt: first, UpdatedAt: first}, 0)
		for _, y := range keys {
			ys := strconv.Itoa(y)
			add(tma.ImportedPage{Origin: "section posts/" + ys, ParentOrigin: "section posts", Title: "Posts " + ys, Slug: "posts-" + ys,
				Body:    fmt.Sprintf("Posts of %s, imported from %s.\n", ys, e.base),
				Message: "Imported from WordPress", CreatedAt: years[y], UpdatedAt: years[y]}, 0)
		}
		for _, it := range posts {
			pg := itemPage(it, author)
			pg.ParentOrigin = "section posts/" + strconv.Itoa(it.DateGMT.Year())
			add(pg, it.ID)
		}
	}
	p.imp.Report = tma.ImportedPage{Origin: "report", Title: "WordPress import", Slug: "wordpress-import",
		Message: "WordPress import of " + e.base}
	return p
}

// htmlTag is markup in a WordPress title ("Title <em>With</em> Markup").
var htmlTag = regexp.MustCompile(`<[^>]*>`)

// itemPage is an item as a page, before its place and body are known.
func itemPage(it wxr.Item, author func(string) (string, string)) tma.ImportedPage {
	id := strconv.FormatInt(it.ID, 10)
	authorID, label := author(it.Author)
	updated := it.ModifiedGMT
	if updated.Before(it.DateGMT) {
		updated = it.DateGMT
	}
	return tma.ImportedPage{
		Origin:    it.Type + " " + id,
		Title:     tma.ImportTitle(html.UnescapeString(htmlTag.ReplaceAllString(it.Title, "")), "Untitled "+it.Type+" "+id),
		Slug:      itemSlug(it),
		AuthorID:  authorID,
		Message:   fmt.Sprintf("Imported from WordPress (%s %s by %s)", it.Type, id, label),
		CreatedAt: it.DateGMT,
		UpdatedAt: updated,
	}
}

// itemSlug keeps the WordPress address where the wiki can: WordPress
// stores addresses in other scripts percent-encoded, and those become
// "<type>-<id>".
func itemSlug(it wxr.Item) string {
	name, err := url.PathUnescape(it.Slug)
	if err != nil {
		name = it.Slug
	}
	name = strings.ToLower(name)
	if tma.ValidSlug(name) {
		return name
	}
	letters, foreign := 0, 0
	for _, r := range name {
		if unicode.IsLetter(r) {
			letters++
			if r >= utf8.RuneSelf && !strings.ContainsRune("äöüß", r) {
				foreign++
			}
		}
	}
	if letters == 0 || 2*foreign > letters {
		return it.Type + "-" + strconv.FormatInt(it.ID, 10)
	}
	s := tma.WikiSlug(name)
	return s
}

// convert is the second pass: each imported item's HTML becomes its
// Markdown body, with links to other imported items as wiki links.
func (p *wxrPlan) convert(path, space string, e *wxrExport, w io.Writer) error {
	idx := wxr.NewIndex(e.items)
	link := func(href string) (string, bool) {
		it, ok := idx.Lookup(href)
		if !ok {
			return "", false
		}
		i, ok := p.index[it.ID]
		if !ok {
			return "", false
		}
		return space + "/" + p.imp.Pages[i].Slug, true
	}
	bar := &progress{w: w, tty: isTerminal(w), desc: "converting pages", line: "converted %d of %d page(s)"}
	done, total := 0, len(p.index)
	_, err := readWXR(path, func(it wxr.Item) error {
		i, ok := p.index[it.ID]
		if !ok || it.Type+" "+strconv.FormatInt(it.ID, 10) != p.imp.Pages[i].Origin {
			return nil
		}
		pg := &p.imp.Pages[i]
		md, rep, err := wxr.ToMarkdown(it.Content, link)
		if err != nil {
			return fmt.Errorf("%s %d: %w; nothing was imported", it.Type, it.ID, err)
		}
		if len(md) > tma.MaxWikiBody {
			p.imp.Warnings = append(p.imp.Warnings, fmt.Sprintf("%s: the text has %d bytes, more than a page holds; only a note was imported", pg.Origin, len(md)))
			md = fmt.Sprintf("The WordPress text of this page was too large to import (%d bytes). It is at %s\n", len(md), it.Link)
		}
		pg.Body = md
		for _, m := range rep.Media {
			if !slices.Contains(p.imp.Media, m) {
				p.imp.Media = append(p.imp.Media, m)
			}
		}
		for _, warn := range rep.Warnings {
			if warn = pg.Origin + ": " + warn; !slices.Contains(p.imp.Warnings, warn) {
				p.imp.Warnings = append(p.imp.Warnings, warn)
			}
		}
		done++
		bar.update(done, total)
		return nil
	})
	bar.stop(err == nil)
	return err
}

func printImportSummary(w io.Writer, r *tma.WikiImportResult, e *wxrExport) {
	fmt.Fprintf(w, "imported %s into space %s: %d new, %d updated, %d unchanged, %d skipped, %d warning(s), %d file(s) not fetched\n",
		r.Source, r.Space, r.Created, r.Updated, r.Unchanged, len(r.Skipped), len(r.Warnings), len(r.Media))
	for _, s := range r.Skipped {
		fmt.Fprintln(w, "  skipped:", s)
	}
	for _, s := range r.Warnings {
		fmt.Fprintln(w, "  warning:", s)
	}
	notPages := map[string]int{}
	for _, it := range e.items {
		if it.Type != "page" && it.Type != "post" {
			notPages[it.Type]++
		}
	}
	if len(notPages) > 0 {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(notPages)) {
			parts = append(parts, fmt.Sprintf("%d %s", notPages[k], k))
		}
		fmt.Fprintf(w, "  not pages: %s\n", strings.Join(parts, ", "))
	}
	fmt.Fprintf(w, "the report is the wiki page /wiki/%s/%s\n", r.Space, r.ReportSlug)
}
