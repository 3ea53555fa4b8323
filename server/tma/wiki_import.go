package tma

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// WikiImport is a batch of pages brought into a wiki space from another
// system (a WordPress export). Source names the exporting site; with each
// page's Origin it identifies a page across runs, so that importing the
// same export again updates the pages it made instead of adding copies.
type WikiImport struct {
	Source string
	// Pages in order: a page's parent comes before it.
	Pages []ImportedPage
	// Report is the summary page: the service writes its body (see
	// WikiImportResult.Markdown), as a new revision on every run.
	Report   ImportedPage
	Skipped  []string // items not imported, with the reason
	Warnings []string
	Media    []string // files the pages refer to, which were not fetched
}

// ImportedPage is one page of a WikiImport.
type ImportedPage struct {
	Origin       string // unique within the source: "page 12", "post 7", "section posts/2024"
	ParentOrigin string // "": the top of the space
	Title        string
	Slug         string
	Body         string // Markdown
	AuthorID     string // a user of the tenant, or "" (Message then names the author)
	Message      string // of the revision the import writes
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// WikiPageKey is a page of a space as an import sees it: its address, its
// title and, for a page an earlier run of the same source made, its origin.
type WikiPageKey struct {
	Origin string // "" for a page of another source or made by hand
	Slug   string
	Title  string
}

// WikiImportResult is what an import did.
type WikiImportResult struct {
	Source                      string
	Space                       string
	Created, Updated, Unchanged int
	Skipped, Warnings, Media    []string
	ReportSlug                  string
	At                          time.Time
}

// WikiImporter brings pages from another system into a wiki space. It acts
// for the operator (the command line), not for a signed-in viewer.
type WikiImporter interface {
	// ImportState lists the pages of a space, with their origin for those
	// an earlier import of source made. ENOTFOUND for no such space.
	ImportState(ctx context.Context, tenantID, space, source string) ([]WikiPageKey, error)
	// ImportPages writes imp in one transaction with one audit event: a
	// page of a known origin gets a new revision if its title, parent or
	// text changed and stays as it is otherwise; a new origin becomes a
	// new page. On any error nothing is written. EINVALID for a page that
	// breaks the rules of wiki pages, or whose title or address another
	// page took since ImportState.
	ImportPages(ctx context.Context, tenantID, space string, imp *WikiImport) (*WikiImportResult, error)
}

// ImportTitle makes a title from another system a valid page title: the
// characters wiki links use ([ ] | # /) become spaces or dashes, control
// characters go, and it is cut to MaxWikiTitle characters. fallback is
// used for an empty title.
func ImportTitle(title, fallback string) string {
	t := strings.Map(func(r rune) rune {
		switch {
		case r == '/':
			return '-'
		case strings.ContainsRune("[]|#", r), unicode.IsControl(r), r == utf8.RuneError:
			return ' '
		}
		return r
	}, title)
	t = strings.Join(strings.Fields(t), " ")
	if t == "" {
		t = fallback
	}
	if utf8.RuneCountInString(t) > MaxWikiTitle {
		t = strings.TrimSpace(string([]rune(t)[:MaxWikiTitle]))
	}
	return t
}

// Place gives every page of imp (and its report) an address and a title
// that no other page of the space has, deterministically: a page an
// earlier run made keeps its address; a new page gets its wanted address,
// or that address with "-2", "-3", … appended; a title another page has
// gets " (2)", " (3)", …. It returns a warning for each page moved so.
func (imp *WikiImport) Place(existing []WikiPageKey) []string {
	pages := make([]*ImportedPage, 0, len(imp.Pages)+1)
	for i := range imp.Pages {
		pages = append(pages, &imp.Pages[i])
	}
	pages = append(pages, &imp.Report)
	known := map[string]WikiPageKey{}
	slugs, titles := map[string]bool{}, map[string]bool{}
	for _, k := range existing {
		slugs[k.Slug] = true
		if k.Origin != "" {
			known[k.Origin] = k
		} else {
			titles[strings.ToLower(k.Title)] = true
		}
	}
	// A page that keeps its title keeps it before new pages claim titles.
	kept := map[*ImportedPage]bool{}
	for _, p := range pages {
		if k, ok := known[p.Origin]; ok && strings.EqualFold(k.Title, p.Title) && !titles[strings.ToLower(p.Title)] {
			titles[strings.ToLower(p.Title)], kept[p] = true, true
		}
	}
	var warnings []string
	for _, p := range pages {
		if k, ok := known[p.Origin]; ok {
			p.Slug = k.Slug
		} else {
			want := p.Slug
			if !ValidSlug(want) || slices.Contains(reservedWikiSlugs, want) {
				want = WikiSlug(want)
			}
			p.Slug = want
			for n := 2; slugs[p.Slug] || slices.Contains(reservedWikiSlugs, p.Slug); n++ {
				suffix := fmt.Sprintf("-%d", n)
				p.Slug = strings.TrimRight(want[:min(len(want), 63-len(suffix))], "-") + suffix
			}
			if p.Slug != want {
				warnings = append(warnings, fmt.Sprintf("%s: address %q is taken, now %q", p.Origin, want, p.Slug))
			}
			slugs[p.Slug] = true
		}
		if kept[p] {
			continue
		}
		want := p.Title
		for n := 2; titles[strings.ToLower(p.Title)]; n++ {
			suffix := fmt.Sprintf(" (%d)", n)
			p.Title = string([]rune(want)[:min(utf8.RuneCountInString(want), MaxWikiTitle-len(suffix))]) + suffix
		}
		if p.Title != want {
			warnings = append(warnings, fmt.Sprintf("%s: title %q is taken, now %q", p.Origin, want, p.Title))
		}
		titles[strings.ToLower(p.Title)] = true
	}
	return warnings
}

// Validate checks imp against the rules of wiki pages (WikiPageInput):
// origins are unique and a parent comes before its children.
func (imp *WikiImport) Validate() error {
	if err := CheckText("source", imp.Source); err != nil {
		return err
	}
	if strings.TrimSpace(imp.Source) == "" {
		return Errorf(EINVALID, "An import needs the address of the site it comes from.")
	}
	seen := map[string]bool{}
	for _, p := range append(slices.Clip(imp.Pages), imp.Report) {
		in := WikiPageInput{Title: p.Title, Slug: p.Slug, Body: p.Body, Comment: CleanText(p.Message, MaxWikiMessage)}
		origin := CleanText(p.Origin, 80)
		if err := in.Validate(); err != nil {
			return Errorf(EINVALID, "Imported page %q: %s", origin, ErrorMessage(err))
		}
		if in.Slug != p.Slug || in.Title != p.Title {
			return Errorf(EINVALID, "Imported page %q: the title or address is not in its final form.", origin)
		}
		if p.Origin == "" || seen[p.Origin] {
			return Errorf(EINVALID, "Imported page %q: every imported page needs its own origin.", origin)
		}
		if p.ParentOrigin != "" && !seen[p.ParentOrigin] {
			return Errorf(EINVALID, "Imported page %q: its parent must come before it.", origin)
		}
		if p.AuthorID != "" && !ValidID(p.AuthorID) {
			return Errorf(EINVALID, "Imported page %q: no such author.", origin)
		}
		seen[p.Origin] = true
	}
	return nil
}

// Markdown is the report page of an import.
func (r *WikiImportResult) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Import from %s on %s (UTC).\n\n", r.Source, r.At.UTC().Format("2006-01-02 15:04"))
	fmt.Fprintf(&b, "| | |\n|---|---|\n| Imported | %d |\n| Updated | %d |\n| Unchanged | %d |\n| Skipped | %d |\n| Warnings | %d |\n",
		r.Created, r.Updated, r.Unchanged, len(r.Skipped), len(r.Warnings))
	list := func(title, note string, items []string) {
		if len(items) == 0 {
			return
		}
		fmt.Fprintf(&b, "\n## %s\n\n%s", title, note)
		for _, s := range items {
			fmt.Fprintf(&b, "- %s\n", markdownText(s))
		}
	}
	list("Skipped", "", r.Skipped)
	list("Warnings", "", r.Warnings)
	list("Files not fetched", "The pages refer to these files; they were not copied into the wiki.\n\n", r.Media)
	return b.String()
}

// markdownText escapes what Markdown would read as markup in one line.
func markdownText(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune("\\`*_[]<>#|!", r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
