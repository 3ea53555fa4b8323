package tma

import (
	"context"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Wiki permissions: the tenant permission that every wiki route needs
// first. The space's grants and the page's narrowing decide further, per
// page (CanReadPage, CanEditPage).
var (
	PermWikiRead   = Permission{"wiki", "read"}
	PermWikiEdit   = Permission{"wiki", "edit"}
	PermWikiManage = Permission{"wiki", "manage"} // a space's grants, a page's narrowing
)

// WikiSpace is a tenant's collection of documentation pages with read and
// edit grants by tenant role. Wiki pages are process documentation, not
// case content: they are stored in clear.
type WikiSpace struct {
	ID        string
	TenantID  string
	Slug      string
	Name      string
	ReadRoles []Role // read the space
	EditRoles []Role // edit it; editing implies reading
}

// DefaultWikiSpace is the space every tenant has: process documentation,
// readable by all threat-management roles (auditors included: they check
// that the process is followed), editable by threat managers.
func DefaultWikiSpace() WikiSpace {
	return WikiSpace{Slug: "process", Name: "Process documentation",
		ReadRoles: []Role{RoleThreatManager, RoleLegal, RoleHR, RoleCompliance, RoleAuditor},
		EditRoles: []Role{RoleThreatManager}}
}

// holdsAny reports whether u holds one of roles.
func holdsAny(u *User, roles []Role) bool {
	if u == nil {
		return false
	}
	for _, r := range u.Roles {
		if slices.Contains(roles, r) {
			return true
		}
	}
	return false
}

// CanRead reports whether u reads the space by its grants.
func (s *WikiSpace) CanRead(u *User) bool {
	return holdsAny(u, s.ReadRoles) || holdsAny(u, s.EditRoles)
}

// CanEdit reports whether u edits the space by its grants.
func (s *WikiSpace) CanEdit(u *User) bool { return holdsAny(u, s.EditRoles) }

// WikiPage is a page at its current revision (or at the revision asked
// for, with Revision set to it and Current to the latest).
type WikiPage struct {
	ID       string
	SpaceID  string
	Space    string // the space's slug
	ParentID string // "" at the top of the space
	Slug     string
	Title    string
	Body     string // Markdown
	Revision int
	Current  int
	// ReadRoles narrows the space's readers to these roles; nil: no
	// narrowing. A page can only narrow, never widen: a role the space
	// does not grant stays out.
	ReadRoles    []Role
	HiddenRoles  []Role // a holder of any of these never sees the page
	Comment      string // of this revision
	Template     string
	RestoredFrom int
	AuthorID     string
	AuthorName   string
	SavedAt      time.Time // of this revision
	CreatedAt    time.Time
	// Epoch is the tenant's wiki epoch when the page was read: rendered
	// HTML of a revision is cached under it (see WikiService.Epoch).
	Epoch int64
}

// CanReadPage reports whether u reads p in space s: the space must grant
// it, a narrowing must name one of u's roles, and no role of u is one the
// page is hidden from (a hide beats every grant).
func CanReadPage(s *WikiSpace, p *WikiPage, u *User) bool {
	if !s.CanRead(u) || holdsAny(u, p.HiddenRoles) {
		return false
	}
	return p.ReadRoles == nil || holdsAny(u, p.ReadRoles)
}

// CanEditPage reports whether u edits p: reads it and edits its space.
func CanEditPage(s *WikiSpace, p *WikiPage, u *User) bool {
	return CanReadPage(s, p, u) && s.CanEdit(u)
}

// WikiRevision is one save of a page, for the history.
type WikiRevision struct {
	Revision     int
	Title        string
	Comment      string
	AuthorID     string
	AuthorName   string
	RestoredFrom int
	SavedAt      time.Time
}

// WikiChange is an entry of the recent-changes feed and of lists of pages.
type WikiChange struct {
	PageID     string
	Space      string
	SpaceName  string
	Slug       string
	Title      string
	Revision   int
	AuthorName string
	SavedAt    time.Time
}

// Crumb is a step of a page's breadcrumbs.
type Crumb struct {
	Title, URL string
}

// WikiPageInput is a new page or a new revision of one.
type WikiPageInput struct {
	Title    string
	Slug     string // new pages; "" derives it from the title
	ParentID string // new pages; "" for the top of the space
	Body     string
	Comment  string
	Template string // new pages: the name of the template it started from
	// BaseRevision is the revision the editor started from (SaveRevision):
	// if the page moved on since, the save is refused with ECONFLICT.
	BaseRevision int
}

// Limits of a wiki page.
const (
	MaxWikiTitle   = 200
	MaxWikiBody    = 1 << 20 // bytes of Markdown
	MaxWikiMessage = 300
)

// reservedWikiSlugs are path segments of the wiki's own routes.
var reservedWikiSlugs = []string{"new", "settings", "preview", "pages"}

// Validate normalises in in place and checks it.
func (in *WikiPageInput) Validate() error {
	for f, s := range map[string]string{"title": in.Title, "slug": in.Slug, "parent": in.ParentID, "body": in.Body, "message": in.Comment, "template": in.Template} {
		if err := CheckText(f, s); err != nil {
			return err
		}
	}
	in.Title, in.Comment = strings.TrimSpace(in.Title), strings.TrimSpace(in.Comment)
	if in.Title == "" || utf8.RuneCountInString(in.Title) > MaxWikiTitle || strings.ContainsAny(in.Title, "[]|#/") || strings.IndexFunc(in.Title, unicode.IsControl) >= 0 {
		return Errorf(EINVALID, "The page title must have 1 to %d characters, no line breaks and none of [ ] | # /.", MaxWikiTitle)
	}
	if len(in.Body) > MaxWikiBody {
		return Errorf(EINVALID, "The page text must have at most %d bytes.", MaxWikiBody)
	}
	if utf8.RuneCountInString(in.Comment) > MaxWikiMessage || strings.IndexFunc(in.Comment, unicode.IsControl) >= 0 {
		return Errorf(EINVALID, "The change message must have at most %d characters and no line breaks.", MaxWikiMessage)
	}
	if in.Slug = strings.TrimSpace(in.Slug); in.Slug == "" {
		in.Slug = WikiSlug(in.Title)
	}
	if !ValidSlug(in.Slug) || slices.Contains(reservedWikiSlugs, in.Slug) {
		return Errorf(EINVALID, "The page address must have 2 to 63 lower-case letters, digits or dashes, and not be one of %s.", strings.Join(reservedWikiSlugs, ", "))
	}
	if in.ParentID != "" && !ValidID(in.ParentID) {
		return Errorf(EINVALID, "No such parent page.")
	}
	return nil
}

// WikiSlug derives a page address from a title: "Eskalation & Übersicht"
// becomes "eskalation-uebersicht".
func WikiSlug(title string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(title) {
		switch r {
		case 'ä':
			b.WriteString("ae")
		case 'ö':
			b.WriteString("oe")
		case 'ü':
			b.WriteString("ue")
		case 'ß':
			b.WriteString("ss")
		default:
			if r < 128 && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
				b.WriteRune(r)
			} else {
				if b.Len() > 0 && !dash {
					b.WriteByte('-')
				}
				dash = true
				continue
			}
		}
		dash = false
	}
	s := strings.Trim(b.String(), "-")
	if len(s) > 63 {
		s = strings.TrimRight(s[:63], "-")
	}
	if len(s) < 2 {
		s = "page-" + s
	}
	return s
}

// WikiAccessInput narrows a page: ReadRoles (nil: the space's readers) and
// the roles it is hidden from.
type WikiAccessInput struct {
	ReadRoles   []Role
	HiddenRoles []Role
}

// WikiGrantsInput are a space's grants.
type WikiGrantsInput struct {
	ReadRoles []Role
	EditRoles []Role
}

// WikiMarkup reads what a page's Markdown refers to: its wiki link targets
// (for backlinks) and its task-list items (for checklists). The web
// adapter implements it with the docs-engine.
type WikiMarkup interface {
	Analyze(body string) (links []string, tasks []WikiTask, err error)
}

// WikiTask is a task-list item of a page ("- [x] Inform legal").
type WikiTask struct {
	Text string
	Done bool
}

// WikiService keeps the wiki. Every method acts for the Actor in ctx and
// judges page access with viewer's tenant roles (CanReadPage, CanEditPage);
// a page the viewer may not read answers ENOTFOUND, exactly like a page
// that does not exist. Changes run in one transaction with their audit
// event, whose detail names the page and revision, never its text.
type WikiService interface {
	// Spaces lists the spaces viewer may read.
	Spaces(ctx context.Context, tenantID string, viewer *User) ([]*WikiSpace, error)
	// Space returns a space viewer may read (ENOTFOUND otherwise).
	Space(ctx context.Context, tenantID, space string, viewer *User) (*WikiSpace, error)
	// SpaceForManage returns a space's grants for a manager of grants,
	// who need not read it.
	SpaceForManage(ctx context.Context, tenantID, space string) (*WikiSpace, error)
	// Pages lists the pages of a space viewer may read, by title.
	Pages(ctx context.Context, tenantID, space string, viewer *User) ([]*WikiChange, error)
	// Page returns a page at revision (0: the current one).
	Page(ctx context.Context, tenantID, space, slug string, revision int, viewer *User) (*WikiSpace, *WikiPage, error)
	// Breadcrumbs are the space, then the page's ancestors viewer may read.
	Breadcrumbs(ctx context.Context, tenantID string, page *WikiPage, viewer *User) ([]Crumb, error)
	// Revisions lists a page's revisions, newest first.
	Revisions(ctx context.Context, tenantID, space, slug string, viewer *User) ([]*WikiRevision, error)
	// CreatePage creates a page at revision 1. EINVALID if the space
	// already has a page with its title or address; EFORBIDDEN if viewer
	// may not edit the space.
	CreatePage(ctx context.Context, tenantID, space string, in WikiPageInput, viewer *User) (*WikiPage, error)
	// SaveRevision saves a new revision against in.BaseRevision: ECONFLICT
	// if the page moved on since, and nothing is saved.
	SaveRevision(ctx context.Context, tenantID, space, slug string, in WikiPageInput, viewer *User) (*WikiPage, error)
	// Restore saves revision as a new revision with its title and text.
	Restore(ctx context.Context, tenantID, space, slug string, revision int, viewer *User) (*WikiPage, error)
	// SetPageAccess narrows a page or hides it from roles.
	SetPageAccess(ctx context.Context, tenantID, space, slug string, in WikiAccessInput, viewer *User) error
	// SetSpaceGrants changes a space's grants. EINVALID for a space no
	// threat manager could edit any more.
	SetSpaceGrants(ctx context.Context, tenantID, space string, in WikiGrantsInput) error
	// Backlinks lists the pages viewer may read that link to page.
	Backlinks(ctx context.Context, tenantID string, page *WikiPage, viewer *User) ([]*WikiChange, error)
	// RecentChanges lists the latest saves of pages viewer may read.
	RecentChanges(ctx context.Context, tenantID string, viewer *User, limit int) ([]*WikiChange, error)
	// Resolve finds the page a wiki link target names, seen from space:
	// "Title" or "slug" in that space, or "space/slug". ok is false for
	// no page, or one viewer may not read.
	Resolve(ctx context.Context, tenantID, fromSpace, target string, viewer *User) (space, slug string, ok bool, err error)
	// Epoch is the tenant's wiki epoch: it grows whenever a page appears
	// or changes its title or address, which changes how links render.
	Epoch(ctx context.Context, tenantID string) (int64, error)
	// ApplyChecklist turns the task-list items of a page revision into
	// action items of a case, owned by the actor and linked to the page
	// revision, and links the case to the page. The caller has checked
	// that the actor may contribute to the case; ECONFLICT on a closed
	// case, EINVALID for a page without open tasks.
	ApplyChecklist(ctx context.Context, tenantID, space, slug string, revision int, caseID string, viewer *User) ([]*Action, error)
	// LinkCase records that a case uses a process page; UnlinkCase undoes
	// it. Both need a page viewer may read (ENOTFOUND or EINVALID
	// otherwise, as for a missing page) and an open case (ECONFLICT).
	LinkCase(ctx context.Context, tenantID, caseID, pageID string, viewer *User) error
	UnlinkCase(ctx context.Context, tenantID, caseID, pageID string, viewer *User) error
	// CasePages lists the process pages a case uses that viewer may read.
	CasePages(ctx context.Context, tenantID, caseID string, viewer *User) ([]*WikiChange, error)
	// UsedBy counts the cases that use page among those viewer may see
	// (membership current, no exclusion).
	UsedBy(ctx context.Context, tenantID, pageID, viewerID string) (int, error)
}
