-- The revision an import last wrote to each page it made. A re-import
-- compares the export with that revision, not with the page's current one:
-- an edit made in the portal since is neither taken for a change of the
-- export nor overwritten (the import leaves such a page and warns). Rows of
-- earlier imports start at the page's current revision.
ALTER TABLE wiki_page_origins ADD COLUMN imported_revision integer;
UPDATE wiki_page_origins o SET imported_revision = p.revision
    FROM wiki_pages p WHERE p.tenant_id = o.tenant_id AND p.id = o.page_id;
ALTER TABLE wiki_page_origins ALTER COLUMN imported_revision SET NOT NULL;
