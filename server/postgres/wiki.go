package postgres

import (
	"context"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/tma-portal/tma/server/tma"
)

// WikiService keeps the process-documentation wiki: spaces, pages and
// their revisions, in clear (they are the tenant's documentation, not case
// content). Page access is judged in SQL with the viewer's tenant roles
// (wikiVisible), the same rule as tma.CanReadPage.
type WikiService struct {
	db     *DB
	sealer tma.RecordSealer // checklists become sealed case actions
	markup tma.WikiMarkup
}

var _ tma.WikiService = (*WikiService)(nil)

// NewWikiService returns a WikiService on db. markup reads links and tasks
// from page text; sealer seals the actions a checklist becomes.
func NewWikiService(db *DB, sealer tma.RecordSealer, markup tma.WikiMarkup) *WikiService {
	return &WikiService{db: db, sealer: sealer, markup: markup}
}

const (
	msgNoWikiPage      = "No such page."
	msgNoWikiSpace     = "No such wiki space."
	msgWikiPageChanged = "Someone else saved this page meanwhile (now revision %d). Nothing was overwritten: compare both texts below, merge them, and save again."
	msgWikiTitleTaken  = "This space has a page with this title or address already."
	msgWikiNoEdit      = "You may not edit this space."
	msgWikiNoTasks     = "This page has no checklist (task-list items such as \"- [ ] Call the team lead\")."
	msgWikiNoEditors   = "At least threat managers must be able to edit the space."
)

// wikiVisible is tma.CanReadPage in SQL, for the space s and page p, with
// the viewer's tenant roles as the text[] parameter named by roles.
func wikiVisible(roles string) string {
	return `(s.read_roles && ` + roles + ` OR s.edit_roles && ` + roles + `) AND NOT (p.hidden_roles && ` + roles + `)
		AND (p.read_roles IS NULL OR p.read_roles && ` + roles + `)`
}

func roleStrings(u *tma.User) []string {
	if u == nil {
		return []string{}
	}
	out := make([]string, 0, len(u.Roles))
	for _, r := range u.Roles {
		out = append(out, string(r))
	}
	return out
}

func toRoles(ss []string) []tma.Role {
	if ss == nil {
		return nil
	}
	out := make([]tma.Role, 0, len(ss))
	for _, s := range ss {
		out = append(out, tma.Role(s))
	}
	return out
}

func fromRoles(rs []tma.Role) []string {
	if rs == nil {
		return nil
	}
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		out = append(out, string(r))
	}
	return out
}

// createDefaultWikiSpace gives a new tenant its process documentation
// space, in the tenant's creating transaction.
func createDefaultWikiSpace(ctx context.Context, tx pgx.Tx, tenantID string) error {
	d := tma.DefaultWikiSpace()
	if _, err := tx.Exec(ctx, `INSERT INTO wiki_spaces (tenant_id, id, slug, name, read_roles, edit_roles) VALUES ($1, $2, $3, $4, $5, $6)`,
		tenantID, tma.NewID(), d.Slug, d.Name, fromRoles(d.ReadRoles), fromRoles(d.EditRoles)); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `INSERT INTO wiki_epochs (tenant_id) VALUES ($1) ON CONFLICT DO NOTHING`, tenantID)
	return err
}

const spaceColumns = `s.id::text, s.tenant_id::text, s.slug, s.name, s.read_roles, s.edit_roles`

func scanSpace(r pgx.Row) (*tma.WikiSpace, error) {
	var s tma.WikiSpace
	var read, edit []string
	err := r.Scan(&s.ID, &s.TenantID, &s.Slug, &s.Name, &read, &edit)
	s.ReadRoles, s.EditRoles = toRoles(read), toRoles(edit)
	return &s, notFound(err, msgNoWikiSpace)
}

// Spaces lists the spaces viewer may read.
func (s *WikiService) Spaces(ctx context.Context, tenantID string, viewer *tma.User) ([]*tma.WikiSpace, error) {
	if !tma.ValidID(tenantID) {
		return nil, nil
	}
	rows, err := s.db.Pool.Query(ctx, `SELECT `+spaceColumns+` FROM wiki_spaces s
		WHERE s.tenant_id = $1 AND (s.read_roles && $2 OR s.edit_roles && $2) ORDER BY s.name`, tenantID, roleStrings(viewer))
	if err != nil {
		return nil, dbError("WikiService.Spaces", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*tma.WikiSpace, error) { return scanSpace(r) })
	return list, dbError("WikiService.Spaces", err)
}

// SpaceForManage returns a space whatever the caller reads.
func (s *WikiService) SpaceForManage(ctx context.Context, tenantID, space string) (*tma.WikiSpace, error) {
	if !tma.ValidID(tenantID) {
		return nil, tma.Errorf(tma.ENOTFOUND, msgNoWikiSpace)
	}
	sp, err := scanSpace(s.db.Pool.QueryRow(ctx, `SELECT `+spaceColumns+` FROM wiki_spaces s WHERE s.tenant_id = $1 AND s.slug = $2`, tenantID, space))
	return sp, dbError("WikiService.SpaceForManage", err)
}

// Space returns a space viewer may read.
func (s *WikiService) Space(ctx context.Context, tenantID, space string, viewer *tma.User) (*tma.WikiSpace, error) {
	sp, err := s.SpaceForManage(ctx, tenantID, space)
	if err != nil {
		return nil, err
	}
	if !sp.CanRead(viewer) {
		return nil, tma.Errorf(tma.ENOTFOUND, msgNoWikiSpace)
	}
	return sp, nil
}

const changeColumns = `p.id::text, s.slug, s.name, p.slug, p.title, p.revision, COALESCE(u.display_name, ''), p.updated_at`

const changeFrom = ` FROM wiki_pages p
	JOIN wiki_spaces s ON s.tenant_id = p.tenant_id AND s.id = p.space_id
	LEFT JOIN users u ON u.tenant_id = p.tenant_id AND u.id = p.updated_by `

func scanChange(r pgx.CollectableRow) (*tma.WikiChange, error) {
	var c tma.WikiChange
	err := r.Scan(&c.PageID, &c.Space, &c.SpaceName, &c.Slug, &c.Title, &c.Revision, &c.AuthorName, &c.SavedAt)
	return &c, err
}

func (s *WikiService) changes(ctx context.Context, op, where string, args ...any) ([]*tma.WikiChange, error) {
	rows, err := s.db.Pool.Query(ctx, `SELECT `+changeColumns+changeFrom+where, args...)
	if err != nil {
		return nil, dbError(op, err)
	}
	list, err := pgx.CollectRows(rows, scanChange)
	return list, dbError(op, err)
}

// Pages lists the readable pages of a space by title.
func (s *WikiService) Pages(ctx context.Context, tenantID, space string, viewer *tma.User) ([]*tma.WikiChange, error) {
	if !tma.ValidID(tenantID) {
		return nil, nil
	}
	return s.changes(ctx, "WikiService.Pages", `WHERE p.tenant_id = $1 AND s.slug = $2 AND `+wikiVisible("$3")+
		` ORDER BY lower(p.title) LIMIT 1000`, tenantID, space, roleStrings(viewer))
}

// RecentChanges lists the latest saves of readable pages.
func (s *WikiService) RecentChanges(ctx context.Context, tenantID string, viewer *tma.User, limit int) ([]*tma.WikiChange, error) {
	if !tma.ValidID(tenantID) {
		return nil, nil
	}
	if limit <= 0 || limit > 200 {
		limit = 50
	}
	return s.changes(ctx, "WikiService.RecentChanges", `WHERE p.tenant_id = $1 AND `+wikiVisible("$2")+
		` ORDER BY p.updated_at DESC, p.id LIMIT $3`, tenantID, roleStrings(viewer), limit)
}

// pageSQL reads a page with its space and one revision (0: the current).
const pageSQL = `SELECT ` + spaceColumns + `, p.id::text, COALESCE(p.parent_id::text, ''), p.slug, p.revision, p.read_roles, p.hidden_roles, p.created_at,
	r.revision, r.title, r.body, r.message, r.template, COALESCE(r.restored_from, 0), COALESCE(r.author_id::text, ''), COALESCE(u.display_name, ''),
	r.created_at, COALESCE(e.epoch, 0)
	FROM wiki_spaces s
	JOIN wiki_pages p ON p.tenant_id = s.tenant_id AND p.space_id = s.id
	JOIN wiki_revisions r ON r.tenant_id = p.tenant_id AND r.page_id = p.id AND r.revision = CASE WHEN $4::int = 0 THEN p.revision ELSE $4::int END
	LEFT JOIN users u ON u.tenant_id = r.tenant_id AND u.id = r.author_id
	LEFT JOIN wiki_epochs e ON e.tenant_id = s.tenant_id
	WHERE s.tenant_id = $1 AND s.slug = $2 AND p.slug = $3`

func scanPage(r pgx.Row) (*tma.WikiSpace, *tma.WikiPage, error) {
	var sp tma.WikiSpace
	var p tma.WikiPage
	var sread, sedit, pread, phidden []string
	err := r.Scan(&sp.ID, &sp.TenantID, &sp.Slug, &sp.Name, &sread, &sedit,
		&p.ID, &p.ParentID, &p.Slug, &p.Current, &pread, &phidden, &p.CreatedAt,
		&p.Revision, &p.Title, &p.Body, &p.Comment, &p.Template, &p.RestoredFrom, &p.AuthorID, &p.AuthorName, &p.SavedAt, &p.Epoch)
	sp.ReadRoles, sp.EditRoles = toRoles(sread), toRoles(sedit)
	p.ReadRoles, p.HiddenRoles = toRoles(pread), toRoles(phidden)
	p.SpaceID, p.Space = sp.ID, sp.Slug
	return &sp, &p, notFound(err, msgNoWikiPage)
}

// findPage loads a page the viewer may read, or ENOTFOUND.
func findPage(ctx context.Context, q querier, tenantID, space, slug string, revision int, viewer *tma.User, lock bool) (*tma.WikiSpace, *tma.WikiPage, error) {
	if !tma.ValidID(tenantID) || revision < 0 || !tma.ValidSlug(space) || !tma.ValidSlug(slug) {
		return nil, nil, tma.Errorf(tma.ENOTFOUND, msgNoWikiPage)
	}
	sql := pageSQL
	if lock {
		sql += ` FOR UPDATE OF p`
	}
	sp, p, err := scanPage(q.QueryRow(ctx, sql, tenantID, space, slug, revision))
	if err != nil {
		return nil, nil, err
	}
	if !tma.CanReadPage(sp, p, viewer) {
		return nil, nil, tma.Errorf(tma.ENOTFOUND, msgNoWikiPage)
	}
	return sp, p, nil
}

// Page returns a readable page at revision (0: the current one).
func (s *WikiService) Page(ctx context.Context, tenantID, space, slug string, revision int, viewer *tma.User) (*tma.WikiSpace, *tma.WikiPage, error) {
	sp, p, err := findPage(ctx, s.db.Pool, tenantID, space, slug, revision, viewer, false)
	return sp, p, dbError("WikiService.Page", err)
}

// Breadcrumbs walks up the parents the viewer may read.
func (s *WikiService) Breadcrumbs(ctx context.Context, tenantID string, page *tma.WikiPage, viewer *tma.User) ([]tma.Crumb, error) {
	rows, err := s.db.Pool.Query(ctx, `WITH RECURSIVE up(id, parent_id, depth) AS (
			SELECT id, parent_id, 0 FROM wiki_pages WHERE tenant_id = $1 AND id = $2
			UNION ALL
			SELECT p.id, p.parent_id, up.depth + 1 FROM wiki_pages p JOIN up ON p.tenant_id = $1 AND p.id = up.parent_id WHERE up.depth < 50)
		SELECT s.slug, s.name, p.slug, p.title, `+wikiVisible("$3")+`
		FROM up JOIN wiki_pages p ON p.tenant_id = $1 AND p.id = up.id
		JOIN wiki_spaces s ON s.tenant_id = p.tenant_id AND s.id = p.space_id
		WHERE up.depth > 0 ORDER BY up.depth DESC`, tenantID, page.ID, roleStrings(viewer))
	if err != nil {
		return nil, dbError("WikiService.Breadcrumbs", err)
	}
	var crumbs []tma.Crumb
	var spaceSlug, spaceName, slug, title string
	var visible bool
	_, err = pgx.ForEachRow(rows, []any{&spaceSlug, &spaceName, &slug, &title, &visible}, func() error {
		if visible {
			crumbs = append(crumbs, tma.Crumb{Title: title, URL: "/wiki/" + spaceSlug + "/" + slug})
		}
		return nil
	})
	if err != nil {
		return nil, dbError("WikiService.Breadcrumbs", err)
	}
	sp, err := s.SpaceForManage(ctx, tenantID, page.Space)
	if err != nil {
		return nil, err
	}
	return append([]tma.Crumb{{Title: sp.Name, URL: "/wiki/" + sp.Slug}}, crumbs...), nil
}

// Revisions lists a readable page's revisions, newest first.
func (s *WikiService) Revisions(ctx context.Context, tenantID, space, slug string, viewer *tma.User) ([]*tma.WikiRevision, error) {
	_, p, err := s.Page(ctx, tenantID, space, slug, 0, viewer)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.Pool.Query(ctx, `SELECT r.revision, r.title, r.message, COALESCE(r.author_id::text, ''), COALESCE(u.display_name, ''),
		COALESCE(r.restored_from, 0), r.created_at
		FROM wiki_revisions r LEFT JOIN users u ON u.tenant_id = r.tenant_id AND u.id = r.author_id
		WHERE r.tenant_id = $1 AND r.page_id = $2 ORDER BY r.revision DESC LIMIT 1000`, tenantID, p.ID)
	if err != nil {
		return nil, dbError("WikiService.Revisions", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*tma.WikiRevision, error) {
		var v tma.WikiRevision
		err := r.Scan(&v.Revision, &v.Title, &v.Comment, &v.AuthorID, &v.AuthorName, &v.RestoredFrom, &v.SavedAt)
		return &v, err
	})
	return list, dbError("WikiService.Revisions", err)
}

// linkTargets normalises wiki link targets for the wiki_links table.
func linkTargets(links []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, l := range links {
		k := strings.ToLower(strings.TrimSpace(l))
		if k != "" && len(k) <= 500 && !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

func (s *WikiService) analyze(body string) (links []string, tasks []tma.WikiTask, err error) {
	links, tasks, err = s.markup.Analyze(body)
	if err != nil {
		return nil, nil, tma.Errorf(tma.EINVALID, "The page text cannot be rendered: %s", err.Error())
	}
	return linkTargets(links), tasks, nil
}

func bumpEpoch(ctx context.Context, tx pgx.Tx, tenantID string) error {
	_, err := tx.Exec(ctx, `INSERT INTO wiki_epochs (tenant_id, epoch) VALUES ($1, 1)
		ON CONFLICT (tenant_id) DO UPDATE SET epoch = wiki_epochs.epoch + 1`, tenantID)
	return err
}

func writeLinks(ctx context.Context, tx pgx.Tx, tenantID, pageID string, targets []string) error {
	if _, err := tx.Exec(ctx, `DELETE FROM wiki_links WHERE tenant_id = $1 AND page_id = $2`, tenantID, pageID); err != nil {
		return err
	}
	if len(targets) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `INSERT INTO wiki_links (tenant_id, page_id, target) SELECT $1, $2, unnest($3::text[])`, tenantID, pageID, targets)
	return err
}

func wikiDetail(pageID string, revision int) string {
	return "page " + pageID + " r" + strconv.Itoa(revision)
}

// CreatePage creates a page at revision 1.
func (s *WikiService) CreatePage(ctx context.Context, tenantID, space string, in tma.WikiPageInput, viewer *tma.User) (*tma.WikiPage, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	sp, err := s.Space(ctx, tenantID, space, viewer)
	if err != nil {
		return nil, err
	}
	if !sp.CanEdit(viewer) {
		return nil, tma.Errorf(tma.EFORBIDDEN, msgWikiNoEdit)
	}
	links, _, err := s.analyze(in.Body)
	if err != nil {
		return nil, err
	}
	actor := tma.ActorFromContext(ctx)
	id, now := tma.NewID(), s.db.now()
	err = s.db.inTx(ctx, "WikiService.CreatePage", func(tx pgx.Tx) error {
		var parent *string
		if in.ParentID != "" {
			var ok bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM wiki_pages WHERE tenant_id = $1 AND space_id = $2 AND id = $3)`,
				tenantID, sp.ID, in.ParentID).Scan(&ok); err != nil {
				return err
			}
			if !ok {
				return tma.Errorf(tma.EINVALID, "No such parent page.")
			}
			parent = &in.ParentID
		}
		slug, err := freeSlug(ctx, tx, tenantID, sp.ID, "", in.Title, in.Slug, viewer)
		if err != nil {
			return err
		}
		in.Slug = slug
		_, err = tx.Exec(ctx, `INSERT INTO wiki_pages (tenant_id, id, space_id, parent_id, slug, title, revision, created_by, created_at, updated_by, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8, $7, $8)`, tenantID, id, sp.ID, parent, in.Slug, in.Title, nullID(actor.UserID), now)
		if isUniqueViolation(err) {
			return tma.Errorf(tma.EINVALID, msgWikiTitleTaken)
		} else if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO wiki_revisions (tenant_id, page_id, revision, title, body, message, template, author_id, created_at)
			VALUES ($1, $2, 1, $3, $4, $5, $6, $7, $8)`, tenantID, id, in.Title, in.Body, in.Comment, in.Template, nullID(actor.UserID), now); err != nil {
			return err
		}
		if err := writeLinks(ctx, tx, tenantID, id, links); err != nil {
			return err
		}
		if err := bumpEpoch(ctx, tx, tenantID); err != nil {
			return err
		}
		return s.db.audit(ctx, tx, tenantID, tma.AuditWikiPageCreated, "wiki_page", id, wikiDetail(id, 1))
	})
	if err != nil {
		return nil, err
	}
	return &tma.WikiPage{ID: id, SpaceID: sp.ID, Space: sp.Slug, ParentID: in.ParentID, Slug: in.Slug, Title: in.Title, Body: in.Body,
		Revision: 1, Current: 1, Comment: in.Comment, Template: in.Template, AuthorID: actor.UserID, SavedAt: now, CreatedAt: now}, nil
}

func nullID(id string) *string {
	if id == "" {
		return nil
	}
	return &id
}

// save writes a new revision of a page against base; restoredFrom is the
// revision a restore copies, 0 otherwise.
func (s *WikiService) save(ctx context.Context, op, tenantID, space, slug string, in tma.WikiPageInput, restoredFrom int, viewer *tma.User) (*tma.WikiPage, error) {
	links, _, err := s.analyze(in.Body)
	if err != nil {
		return nil, err
	}
	actor := tma.ActorFromContext(ctx)
	now := s.db.now()
	var page *tma.WikiPage
	err = s.db.inTx(ctx, op, func(tx pgx.Tx) error {
		sp, p, err := findPage(ctx, tx, tenantID, space, slug, 0, viewer, true)
		if err != nil {
			return err
		}
		if !tma.CanEditPage(sp, p, viewer) {
			return tma.Errorf(tma.EFORBIDDEN, msgWikiNoEdit)
		}
		if p.Current != in.BaseRevision {
			return tma.Errorf(tma.ECONFLICT, msgWikiPageChanged, p.Current)
		}
		if _, err := freeSlug(ctx, tx, tenantID, sp.ID, p.ID, in.Title, "", viewer); err != nil {
			return err
		}
		rev := p.Current + 1
		_, err = tx.Exec(ctx, `UPDATE wiki_pages SET title = $3, revision = $4, updated_by = $5, updated_at = $6 WHERE tenant_id = $1 AND id = $2`,
			tenantID, p.ID, in.Title, rev, nullID(actor.UserID), now)
		if isUniqueViolation(err) {
			return tma.Errorf(tma.EINVALID, msgWikiTitleTaken)
		} else if err != nil {
			return err
		}
		var from *int
		if restoredFrom > 0 {
			from = &restoredFrom
		}
		if _, err := tx.Exec(ctx, `INSERT INTO wiki_revisions (tenant_id, page_id, revision, title, body, message, restored_from, author_id, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, tenantID, p.ID, rev, in.Title, in.Body, in.Comment, from, nullID(actor.UserID), now); err != nil {
			return err
		}
		if err := writeLinks(ctx, tx, tenantID, p.ID, links); err != nil {
			return err
		}
		if in.Title != p.Title {
			if err := bumpEpoch(ctx, tx, tenantID); err != nil {
				return err
			}
		}
		action := tma.AuditWikiPageSaved
		if restoredFrom > 0 {
			action = tma.AuditWikiPageRestored
		}
		p.Title, p.Body, p.Revision, p.Current, p.Comment, p.RestoredFrom, p.AuthorID, p.SavedAt = in.Title, in.Body, rev, rev, in.Comment, restoredFrom, actor.UserID, now
		page = p
		return s.db.audit(ctx, tx, tenantID, action, "wiki_page", p.ID, wikiDetail(p.ID, rev))
	})
	return page, err
}

// SaveRevision saves a new revision if nobody saved one since in.BaseRevision.
func (s *WikiService) SaveRevision(ctx context.Context, tenantID, space, slug string, in tma.WikiPageInput, viewer *tma.User) (*tma.WikiPage, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	return s.save(ctx, "WikiService.SaveRevision", tenantID, space, slug, in, 0, viewer)
}

// Restore saves an old revision's title and text as the newest revision.
func (s *WikiService) Restore(ctx context.Context, tenantID, space, slug string, revision int, viewer *tma.User) (*tma.WikiPage, error) {
	if revision < 1 {
		return nil, tma.Errorf(tma.ENOTFOUND, msgNoWikiPage)
	}
	_, old, err := s.Page(ctx, tenantID, space, slug, revision, viewer)
	if err != nil {
		return nil, err
	}
	in := tma.WikiPageInput{Title: old.Title, Slug: old.Slug, Body: old.Body, BaseRevision: old.Current,
		Comment: "Restored revision " + strconv.Itoa(revision)}
	return s.save(ctx, "WikiService.Restore", tenantID, space, slug, in, revision, viewer)
}

// SetPageAccess narrows a page or hides it from roles.
func (s *WikiService) SetPageAccess(ctx context.Context, tenantID, space, slug string, in tma.WikiAccessInput, viewer *tma.User) error {
	for _, rs := range [][]tma.Role{in.ReadRoles, in.HiddenRoles} {
		for _, r := range rs {
			if !r.Valid() {
				return tma.Errorf(tma.EINVALID, "Unknown role %q.", tma.CleanText(string(r), 40))
			}
		}
	}
	hidden := fromRoles(in.HiddenRoles)
	if hidden == nil {
		hidden = []string{}
	}
	return s.db.inTx(ctx, "WikiService.SetPageAccess", func(tx pgx.Tx) error {
		sp, p, err := findPage(ctx, tx, tenantID, space, slug, 0, viewer, true)
		if err != nil {
			return err
		}
		if !tma.CanEditPage(sp, p, viewer) {
			return tma.Errorf(tma.EFORBIDDEN, msgWikiNoEdit)
		}
		// Threat managers keep every page, as they keep editing every
		// space: otherwise a page could be narrowed away from everyone who
		// may manage it, and nobody could undo it in the portal.
		probe := *p
		probe.ReadRoles, probe.HiddenRoles = in.ReadRoles, in.HiddenRoles
		if !tma.CanReadPage(sp, &probe, &tma.User{Roles: []tma.Role{tma.RoleThreatManager}}) {
			return tma.Errorf(tma.EINVALID, "Threat managers must keep access to every page.")
		}
		if _, err := tx.Exec(ctx, `UPDATE wiki_pages SET read_roles = $3, hidden_roles = $4 WHERE tenant_id = $1 AND id = $2`,
			tenantID, p.ID, fromRoles(in.ReadRoles), hidden); err != nil {
			return err
		}
		if err := bumpEpoch(ctx, tx, tenantID); err != nil {
			return err
		}
		detail := "page " + p.ID + " read " + strings.Join(fromRoles(in.ReadRoles), ",") + " hidden " + strings.Join(hidden, ",")
		return s.db.audit(ctx, tx, tenantID, tma.AuditWikiPageAccess, "wiki_page", p.ID, detail)
	})
}

// SetSpaceGrants changes a space's grants; threat managers always edit.
func (s *WikiService) SetSpaceGrants(ctx context.Context, tenantID, space string, in tma.WikiGrantsInput) error {
	for _, rs := range [][]tma.Role{in.ReadRoles, in.EditRoles} {
		for _, r := range rs {
			if !r.Valid() {
				return tma.Errorf(tma.EINVALID, "Unknown role %q.", tma.CleanText(string(r), 40))
			}
		}
	}
	probe := tma.WikiSpace{EditRoles: in.EditRoles}
	if !probe.CanEdit(&tma.User{Roles: []tma.Role{tma.RoleThreatManager}}) {
		return tma.Errorf(tma.EINVALID, msgWikiNoEditors)
	}
	read := fromRoles(in.ReadRoles)
	if read == nil {
		read = []string{}
	}
	return s.db.inTx(ctx, "WikiService.SetSpaceGrants", func(tx pgx.Tx) error {
		var id string
		err := tx.QueryRow(ctx, `UPDATE wiki_spaces SET read_roles = $3, edit_roles = $4 WHERE tenant_id = $1 AND slug = $2 RETURNING id::text`,
			tenantID, space, read, fromRoles(in.EditRoles)).Scan(&id)
		if err != nil {
			return notFound(err, msgNoWikiSpace)
		}
		if err := bumpEpoch(ctx, tx, tenantID); err != nil {
			return err
		}
		return s.db.audit(ctx, tx, tenantID, tma.AuditWikiGrants, "wiki_space", id,
			"read "+strings.Join(read, ",")+" edit "+strings.Join(fromRoles(in.EditRoles), ","))
	})
}

// Backlinks lists the readable pages whose current revision links to page:
// by its title or address in its own space, or by "space/address" from
// anywhere.
func (s *WikiService) Backlinks(ctx context.Context, tenantID string, page *tma.WikiPage, viewer *tma.User) ([]*tma.WikiChange, error) {
	return s.changes(ctx, "WikiService.Backlinks", `WHERE p.tenant_id = $1 AND p.id <> $2 AND `+wikiVisible("$7")+`
		AND EXISTS (SELECT 1 FROM wiki_links l WHERE l.tenant_id = p.tenant_id AND l.page_id = p.id
			AND ((p.space_id = $3 AND l.target IN (lower($4), $5)) OR l.target = $6 || '/' || $5))
		ORDER BY lower(p.title) LIMIT 500`, tenantID, page.ID, page.SpaceID, page.Title, page.Slug, page.Space, roleStrings(viewer))
}

// freeSlug refuses a title or address that a page the viewer can read
// (other than exceptID) holds already, and returns slug, or slug-2, -3, …
// if pages the viewer cannot read hold it: the answer must be the same as
// if those pages did not exist. An empty slug checks the title only.
func freeSlug(ctx context.Context, tx pgx.Tx, tenantID, spaceID, exceptID, title, slug string, viewer *tma.User) (string, error) {
	rows, err := tx.Query(ctx, `SELECT p.slug, lower(p.title) = lower($4) OR p.slug = $5, `+wikiVisible("$6")+`
		FROM wiki_pages p JOIN wiki_spaces s ON s.tenant_id = p.tenant_id AND s.id = p.space_id
		WHERE p.tenant_id = $1 AND p.space_id = $2 AND p.id::text <> $3
		AND (lower(p.title) = lower($4) OR p.slug = $5 OR p.slug LIKE $5 || '-%')`,
		tenantID, spaceID, exceptID, title, slug, roleStrings(viewer))
	if err != nil {
		return "", err
	}
	taken := map[string]bool{}
	var clash bool
	for rows.Next() {
		var other string
		var same, visible bool
		if err := rows.Scan(&other, &same, &visible); err != nil {
			rows.Close()
			return "", err
		}
		taken[other] = true
		clash = clash || (same && visible)
	}
	if err := rows.Err(); err != nil {
		return "", err
	}
	if clash {
		return "", tma.Errorf(tma.EINVALID, msgWikiTitleTaken)
	}
	free := slug
	for n := 2; slug != "" && taken[free]; n++ {
		free = slug + "-" + strconv.Itoa(n)
	}
	return free, nil
}

// Resolve finds the readable page a wiki link target names.
func (s *WikiService) Resolve(ctx context.Context, tenantID, fromSpace, target string, viewer *tma.User) (string, string, bool, error) {
	key := strings.ToLower(strings.TrimSpace(target))
	space, cond := fromSpace, `(lower(p.title) = $3 OR p.slug = $3)`
	if sp, rest, ok := strings.Cut(key, "/"); ok {
		if i := strings.LastIndexByte(rest, '/'); i >= 0 {
			rest = rest[i+1:]
		}
		space, key, cond = sp, rest, `p.slug = $3`
	}
	if !tma.ValidID(tenantID) || key == "" {
		return "", "", false, nil
	}
	var slug string
	err := s.db.Pool.QueryRow(ctx, `SELECT p.slug FROM wiki_pages p JOIN wiki_spaces s ON s.tenant_id = p.tenant_id AND s.id = p.space_id
		WHERE p.tenant_id = $1 AND s.slug = $2 AND `+cond+` AND `+wikiVisible("$4")+` ORDER BY p.slug <> $3, p.created_at, p.id LIMIT 1`, tenantID, space, key, roleStrings(viewer)).Scan(&slug)
	if err == pgx.ErrNoRows {
		return space, "", false, nil
	}
	if err != nil {
		return "", "", false, dbError("WikiService.Resolve", err)
	}
	return space, slug, true, nil
}

// Epoch is the tenant's wiki epoch.
func (s *WikiService) Epoch(ctx context.Context, tenantID string) (int64, error) {
	var e int64
	err := s.db.Pool.QueryRow(ctx, `SELECT COALESCE((SELECT epoch FROM wiki_epochs WHERE tenant_id = $1), 0)`, tenantID).Scan(&e)
	return e, dbError("WikiService.Epoch", err)
}

// actionTitle makes a task-list item an action title: one line, cut to
// the limit.
func actionTitle(task string) string {
	t := strings.Join(strings.FieldsFunc(task, unicode.IsControl), " ")
	t = strings.TrimSpace(t)
	if utf8.RuneCountInString(t) > tma.MaxActionTitle {
		t = string([]rune(t)[:tma.MaxActionTitle-1]) + "…"
	}
	return t
}

// ApplyChecklist turns a page revision's tasks into the case's actions.
func (s *WikiService) ApplyChecklist(ctx context.Context, tenantID, space, slug string, revision int, caseID string, viewer *tma.User) ([]*tma.Action, error) {
	actor := tma.ActorFromContext(ctx)
	if !tma.ValidID(tenantID) || !tma.ValidID(caseID) || !tma.ValidID(actor.UserID) {
		return nil, tma.Errorf(tma.ENOTFOUND, msgNoCase)
	}
	_, p, err := s.Page(ctx, tenantID, space, slug, revision, viewer)
	if err != nil {
		return nil, err
	}
	_, tasks, err := s.analyze(p.Body)
	if err != nil {
		return nil, err
	}
	type sealed struct {
		in    tma.ActionInput
		id    string
		title []byte
	}
	var items []sealed
	for _, t := range tasks {
		in := tma.ActionInput{Title: actionTitle(t.Text), OwnerID: actor.UserID}
		if t.Done {
			in.Status = tma.ActionDone
		}
		if in.Validate() != nil {
			continue // an empty item
		}
		id := tma.NewID()
		rec, _ := actionRecords(id, 1)
		rec.Plain = []byte(in.Title)
		if err := s.sealer.Seal(ctx, tenantID, caseID, []*tma.Record{rec}); err != nil {
			return nil, err
		}
		items = append(items, sealed{in: in, id: id, title: rec.Sealed})
	}
	if len(items) == 0 {
		return nil, tma.Errorf(tma.EINVALID, msgWikiNoTasks)
	}
	now := s.db.now()
	var out []*tma.Action
	err = s.db.inTx(ctx, "WikiService.ApplyChecklist", func(tx pgx.Tx) error {
		c, err := findCase(ctx, tx, `id = $2`, tenantID, caseID, true)
		if err != nil {
			return err
		}
		if err := c.CheckOpen(); err != nil {
			return err
		}
		if err := checkOwner(ctx, tx, tenantID, caseID, actor.UserID, now); err != nil {
			return err
		}
		for _, it := range items {
			if _, err := tx.Exec(ctx, `INSERT INTO case_actions (tenant_id, id, case_id, revision, title, owner_id, status, created_by, created_at, updated_at, wiki_page_id, wiki_revision)
				VALUES ($1, $2, $3, 1, $4, $5, $6, $5, $7, $7, $8, $9)`,
				tenantID, it.id, caseID, it.title, actor.UserID, it.in.Status, now, p.ID, p.Revision); err != nil {
				return err
			}
			if err := s.db.audit(ctx, tx, tenantID, tma.AuditActionAdded, "case", caseID, actionDetail(it.id, it.in)+" from "+wikiDetail(p.ID, p.Revision)); err != nil {
				return err
			}
			out = append(out, &tma.Action{ID: it.id, CaseID: caseID, Reference: c.Reference, Title: it.in.Title, OwnerID: actor.UserID,
				Status: it.in.Status, CreatedAt: now, UpdatedAt: now, WikiPageID: p.ID, WikiRevision: p.Revision})
		}
		if _, err := tx.Exec(ctx, `INSERT INTO case_wiki_pages (tenant_id, case_id, page_id, created_by, created_at) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT DO NOTHING`, tenantID, caseID, p.ID, actor.UserID, now); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE cases SET updated_at = $3 WHERE tenant_id = $1 AND id = $2`, tenantID, caseID, now); err != nil {
			return err
		}
		return s.db.audit(ctx, tx, tenantID, tma.AuditWikiChecklist, "case", caseID, wikiDetail(p.ID, p.Revision)+" actions "+strconv.Itoa(len(items)))
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// LinkCase records that a case uses a readable page.
func (s *WikiService) LinkCase(ctx context.Context, tenantID, caseID, pageID string, viewer *tma.User) error {
	if !tma.ValidID(tenantID) || !tma.ValidID(caseID) || !tma.ValidID(pageID) {
		return tma.Errorf(tma.EINVALID, msgNoWikiPage)
	}
	actor := tma.ActorFromContext(ctx)
	return s.db.inTx(ctx, "WikiService.LinkCase", func(tx pgx.Tx) error {
		if err := s.casePageCheck(ctx, tx, tenantID, caseID, pageID, viewer, tma.EINVALID); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO case_wiki_pages (tenant_id, case_id, page_id, created_by, created_at) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT DO NOTHING`, tenantID, caseID, pageID, nullID(actor.UserID), s.db.now())
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		return s.db.audit(ctx, tx, tenantID, tma.AuditCaseWikiLinked, "case", caseID, "page "+pageID)
	})
}

// UnlinkCase removes a case's link to a page the viewer may read.
func (s *WikiService) UnlinkCase(ctx context.Context, tenantID, caseID, pageID string, viewer *tma.User) error {
	if !tma.ValidID(tenantID) || !tma.ValidID(caseID) || !tma.ValidID(pageID) {
		return tma.Errorf(tma.ENOTFOUND, msgNoWikiPage)
	}
	return s.db.inTx(ctx, "WikiService.UnlinkCase", func(tx pgx.Tx) error {
		if err := s.casePageCheck(ctx, tx, tenantID, caseID, pageID, viewer, tma.ENOTFOUND); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM case_wiki_pages WHERE tenant_id = $1 AND case_id = $2 AND page_id = $3`, tenantID, caseID, pageID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return tma.Errorf(tma.ENOTFOUND, msgNoWikiPage)
		}
		return s.db.audit(ctx, tx, tenantID, tma.AuditCaseWikiUnlinked, "case", caseID, "page "+pageID)
	})
}

// casePageCheck locks the case and refuses a closed one (ECONFLICT), and a
// page the viewer may not read with missing (the answer of a page that
// does not exist).
func (s *WikiService) casePageCheck(ctx context.Context, tx pgx.Tx, tenantID, caseID, pageID string, viewer *tma.User, missing string) error {
	c, err := findCase(ctx, tx, `id = $2`, tenantID, caseID, true)
	if err != nil {
		return err
	}
	if err := c.CheckOpen(); err != nil {
		return err
	}
	var visible bool
	err = tx.QueryRow(ctx, `SELECT `+wikiVisible("$3")+` FROM wiki_pages p JOIN wiki_spaces s ON s.tenant_id = p.tenant_id AND s.id = p.space_id
		WHERE p.tenant_id = $1 AND p.id = $2`, tenantID, pageID, roleStrings(viewer)).Scan(&visible)
	if err == pgx.ErrNoRows || (err == nil && !visible) {
		return tma.Errorf(missing, msgNoWikiPage)
	}
	return err
}

// CasePages lists the readable pages a case uses.
func (s *WikiService) CasePages(ctx context.Context, tenantID, caseID string, viewer *tma.User) ([]*tma.WikiChange, error) {
	if !tma.ValidID(tenantID) || !tma.ValidID(caseID) {
		return nil, nil
	}
	return s.changes(ctx, "WikiService.CasePages", `JOIN case_wiki_pages cw ON cw.tenant_id = p.tenant_id AND cw.page_id = p.id
		WHERE p.tenant_id = $1 AND cw.case_id = $2 AND `+wikiVisible("$3")+` ORDER BY lower(p.title)`, tenantID, caseID, roleStrings(viewer))
}

// UsedBy counts the cases using a page among the viewer's visible cases:
// the same rule as CaseService.MyCases (membership current, no exclusion).
func (s *WikiService) UsedBy(ctx context.Context, tenantID, pageID, viewerID string) (int, error) {
	if !tma.ValidID(tenantID) || !tma.ValidID(pageID) || !tma.ValidID(viewerID) {
		return 0, nil
	}
	var n int
	err := s.db.Pool.QueryRow(ctx, `SELECT count(*) FROM case_wiki_pages cw
		JOIN case_members m ON m.tenant_id = cw.tenant_id AND m.case_id = cw.case_id AND m.user_id = $3
		WHERE cw.tenant_id = $1 AND cw.page_id = $2 AND (m.expires_at IS NULL OR m.expires_at > $4)
		  AND NOT EXISTS (SELECT 1 FROM case_exclusions x WHERE x.tenant_id = m.tenant_id AND x.case_id = m.case_id AND x.user_id = m.user_id)`,
		tenantID, pageID, viewerID, s.db.now()).Scan(&n)
	return n, dbError("WikiService.UsedBy", err)
}
