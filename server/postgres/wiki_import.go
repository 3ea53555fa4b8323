package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tma-portal/tma/server/tma"
)

var _ tma.WikiImporter = (*WikiService)(nil)

const msgWikiImportTaken = "Imported page %q: another page took its title or address meanwhile. Nothing was imported; run the import again."

// ImportState lists a space's pages with the origins an earlier import of
// source gave them.
func (s *WikiService) ImportState(ctx context.Context, tenantID, space, source string) ([]tma.WikiPageKey, error) {
	if _, err := s.SpaceForManage(ctx, tenantID, space); err != nil {
		return nil, err
	}
	rows, err := s.db.Pool.Query(ctx, `SELECT COALESCE(o.origin, ''), p.slug, p.title
		FROM wiki_pages p JOIN wiki_spaces s ON s.tenant_id = p.tenant_id AND s.id = p.space_id
		LEFT JOIN wiki_page_origins o ON o.tenant_id = p.tenant_id AND o.page_id = p.id AND o.source = $3
		WHERE p.tenant_id = $1 AND s.slug = $2`, tenantID, space, source)
	if err != nil {
		return nil, dbError("WikiService.ImportState", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (tma.WikiPageKey, error) {
		var k tma.WikiPageKey
		err := r.Scan(&k.Origin, &k.Slug, &k.Title)
		return k, err
	})
	return list, dbError("WikiService.ImportState", err)
}

// importedPage is a page an earlier import made: its title and body as the
// import last wrote them (revision imported), and its current revision.
type importedPage struct {
	id, parentID, title, body string
	revision, imported        int
	savedAt                   time.Time
}

// ImportPages writes an import in one transaction.
func (s *WikiService) ImportPages(ctx context.Context, tenantID, space string, imp *tma.WikiImport) (*tma.WikiImportResult, error) {
	if err := imp.Validate(); err != nil {
		return nil, err
	}
	sp, err := s.SpaceForManage(ctx, tenantID, space)
	if err != nil {
		return nil, err
	}
	links := make([][]string, len(imp.Pages))
	for i, p := range imp.Pages {
		if links[i], _, err = s.analyze(p.Body); err != nil {
			return nil, tma.Errorf(tma.EINVALID, "Imported page %q: %s", tma.CleanText(p.Origin, 80), tma.ErrorMessage(err))
		}
	}
	now := s.db.now()
	res := &tma.WikiImportResult{Source: imp.Source, Space: sp.Slug, Skipped: imp.Skipped, Warnings: imp.Warnings, Media: imp.Media,
		ReportSlug: imp.Report.Slug, At: now}
	err = s.db.inTx(ctx, "WikiService.ImportPages", func(tx pgx.Tx) error {
		// One import of a space at a time: the second waits, then sees
		// the pages of the first.
		if _, err := tx.Exec(ctx, `SELECT 1 FROM wiki_spaces WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, tenantID, sp.ID); err != nil {
			return err
		}
		known, err := importedPages(ctx, tx, tenantID, sp.ID, imp.Source)
		if err != nil {
			return err
		}
		ids := map[string]string{}
		write := func(p tma.ImportedPage, links []string, report bool) error {
			parentID := ids[p.ParentOrigin]
			old, ok := known[p.Origin]
			if !ok {
				id, err := s.createImported(ctx, tx, tenantID, sp.ID, imp.Source, p, parentID, links)
				ids[p.Origin] = id
				res.Created++
				return err
			}
			ids[p.Origin] = old.id
			if !report && old.title == p.Title && old.body == p.Body && old.parentID == parentID {
				res.Unchanged++
				return nil
			}
			if !report && old.revision != old.imported {
				// Edited in the portal since the last import: the edit
				// stays, and the operator is told.
				res.Unchanged++
				res.Warnings = append(res.Warnings, fmt.Sprintf("%s: changed in the export and edited in the portal since the last import; not updated",
					tma.CleanText(p.Origin, 80)))
				return nil
			}
			res.Updated++
			return s.reviseImported(ctx, tx, tenantID, p, old, parentID, links, now)
		}
		for i, p := range imp.Pages {
			if err := write(p, links[i], false); err != nil {
				return err
			}
		}
		report := imp.Report
		report.Body, report.CreatedAt, report.UpdatedAt = res.Markdown(), now, now
		reportLinks, _, err := s.analyze(report.Body)
		if err != nil {
			return err
		}
		if err := write(report, reportLinks, true); err != nil {
			return err
		}
		// The report is not counted among the pages.
		if _, ok := known[report.Origin]; ok {
			res.Updated--
		} else {
			res.Created--
		}
		if err := bumpEpoch(ctx, tx, tenantID); err != nil {
			return err
		}
		return s.db.audit(ctx, tx, tenantID, tma.AuditWikiImported, "wiki_space", sp.ID, fmt.Sprintf(
			"source %s created %d updated %d unchanged %d skipped %d warnings %d",
			tma.CleanText(imp.Source, 200), res.Created, res.Updated, res.Unchanged, len(res.Skipped), len(res.Warnings)))
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// importedPages reads the pages an earlier import of source made in a
// space, by origin, locked until tx ends.
func importedPages(ctx context.Context, tx pgx.Tx, tenantID, spaceID, source string) (map[string]importedPage, error) {
	rows, err := tx.Query(ctx, `SELECT o.origin, p.id::text, COALESCE(p.parent_id::text, ''), p.revision, o.imported_revision, r.title, r.body, r.created_at
		FROM wiki_page_origins o
		JOIN wiki_pages p ON p.tenant_id = o.tenant_id AND p.id = o.page_id
		JOIN wiki_revisions r ON r.tenant_id = p.tenant_id AND r.page_id = p.id AND r.revision = o.imported_revision
		WHERE o.tenant_id = $1 AND o.space_id = $2 AND o.source = $3
		FOR UPDATE OF p`, tenantID, spaceID, source)
	if err != nil {
		return nil, err
	}
	known := map[string]importedPage{}
	var origin string
	var p importedPage
	_, err = pgx.ForEachRow(rows, []any{&origin, &p.id, &p.parentID, &p.revision, &p.imported, &p.title, &p.body, &p.savedAt}, func() error {
		known[origin] = p
		return nil
	})
	return known, err
}

func (s *WikiService) createImported(ctx context.Context, tx pgx.Tx, tenantID, spaceID, source string, p tma.ImportedPage, parentID string, links []string) (string, error) {
	id := tma.NewID()
	created, updated := p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	if created.IsZero() {
		created = s.db.now()
	}
	if updated.Before(created) {
		updated = created
	}
	_, err := tx.Exec(ctx, `INSERT INTO wiki_pages (tenant_id, id, space_id, parent_id, slug, title, revision, created_by, created_at, updated_by, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8, $7, $9)`, tenantID, id, spaceID, nullID(parentID), p.Slug, p.Title, nullID(p.AuthorID), created, updated)
	if isUniqueViolation(err) {
		return "", tma.Errorf(tma.EINVALID, msgWikiImportTaken, tma.CleanText(p.Origin, 80))
	} else if err != nil {
		return "", err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO wiki_revisions (tenant_id, page_id, revision, title, body, message, author_id, created_at)
		VALUES ($1, $2, 1, $3, $4, $5, $6, $7)`, tenantID, id, p.Title, p.Body, tma.CleanText(p.Message, tma.MaxWikiMessage), nullID(p.AuthorID), updated); err != nil {
		return "", err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO wiki_page_origins (tenant_id, page_id, space_id, source, origin, imported_revision) VALUES ($1, $2, $3, $4, $5, 1)`,
		tenantID, id, spaceID, source, p.Origin); err != nil {
		return "", err
	}
	return id, writeLinks(ctx, tx, tenantID, id, links)
}

// reviseImported saves a changed import as a new revision: at the time
// the source changed it, or now if that is not after the last revision.
func (s *WikiService) reviseImported(ctx context.Context, tx pgx.Tx, tenantID string, p tma.ImportedPage, old importedPage, parentID string, links []string, now time.Time) error {
	at := p.UpdatedAt.UTC()
	if !at.After(old.savedAt) {
		at = now
	}
	rev := old.revision + 1
	_, err := tx.Exec(ctx, `UPDATE wiki_pages SET title = $3, parent_id = $4, revision = $5, updated_by = $6, updated_at = $7 WHERE tenant_id = $1 AND id = $2`,
		tenantID, old.id, p.Title, nullID(parentID), rev, nullID(p.AuthorID), at)
	if isUniqueViolation(err) {
		return tma.Errorf(tma.EINVALID, msgWikiImportTaken, tma.CleanText(p.Origin, 80))
	} else if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO wiki_revisions (tenant_id, page_id, revision, title, body, message, author_id, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, tenantID, old.id, rev, p.Title, p.Body, tma.CleanText(p.Message, tma.MaxWikiMessage), nullID(p.AuthorID), at); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE wiki_page_origins SET imported_revision = $3 WHERE tenant_id = $1 AND page_id = $2`, tenantID, old.id, rev); err != nil {
		return err
	}
	return writeLinks(ctx, tx, tenantID, old.id, links)
}
