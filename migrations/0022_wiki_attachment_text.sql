-- Search (issue 11) for wiki attachments: the extracted text of each
-- attachment, and the outbox rows that bring attachments into the index as
-- items of type "wikifile", key "wikifile:<attachment id>".
--
-- wiki_attachment_texts: the text is extracted right after the upload
-- (postgres/wikiattachmenttext.go; the same extractor, limits and timeouts
-- as case documents, in memory only) and stored sealed, so that
-- re-indexing never decrypts and parses the file again. A wiki attachment
-- has no case key (0017); the text is sealed as a record under the
-- attachment's own data key (the key wiki_attachments.wrapped_key wraps,
-- which already seals the bytes and the digest), bound to tenant,
-- "wiki:<space id>", table "wiki_attachment_texts", the attachment id and
-- field "text" (crypt.Attachments.SealText). That is the simplest sound
-- choice:
--  - no key of its own to wrap, rotate, count at retirement or forget: a
--    KEK rotation rewraps the one key (attachmentkeys.go) and the text
--    follows;
--  - the text dies with the file: replacing an attachment drops its data
--    key (0017), which makes the text unreadable at once, even in backups
--    once the KEK version is retired; the row is deleted as well;
--  - the binding names tenant and attachment, so a sealed text copied to
--    another row (another attachment, space or tenant) does not open, and
--    is under another key anyway.
-- text is NULL when the attachment has no text; reason says why, as in
-- document_texts (0019).
CREATE TABLE wiki_attachment_texts (
    tenant_id     uuid NOT NULL,
    attachment_id uuid NOT NULL,
    text          bytea,
    reason        text CHECK (reason IN ('none', 'invalid', 'too_large', 'unavailable', 'failed')),
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, attachment_id),
    FOREIGN KEY (tenant_id, attachment_id) REFERENCES wiki_attachments (tenant_id, id),
    CHECK ((text IS NULL) = (reason IS NOT NULL))
);

-- search_enqueue_page_files enqueues the live attachments of a page: an
-- attachment is read by whoever reads its page, so its index entry carries
-- the page's permission fields and must follow every change of them.
CREATE FUNCTION search_enqueue_page_files(t uuid, p uuid) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM search_enqueue(t, 'wikifile:' || a.id)
        FROM wiki_attachments a WHERE a.tenant_id = t AND a.page_id = p AND a.deleted_at IS NULL;
END;
$$;

-- search_outbox_files_trigger enqueues attachments (0019's
-- search_outbox_trigger keeps the other items): an upload (insert), a
-- replacement (the old row's deleted_at: the index drops it), its text,
-- and a change of its page's or space's access. A page's other changes do
-- not matter to its attachments (their title is their own name; the
-- page's title is read at query time).
CREATE FUNCTION search_outbox_files_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    IF TG_OP = 'DELETE' THEN
        r := OLD;
    ELSE
        r := NEW;
    END IF;
    CASE TG_TABLE_NAME
    WHEN 'wiki_pages' THEN
        PERFORM search_enqueue_page_files(r.tenant_id, r.id);
    WHEN 'wiki_spaces' THEN
        PERFORM search_enqueue_page_files(r.tenant_id, p.id) FROM wiki_pages p WHERE p.tenant_id = r.tenant_id AND p.space_id = r.id;
    WHEN 'wiki_attachments' THEN
        PERFORM search_enqueue(r.tenant_id, 'wikifile:' || r.id);
    WHEN 'wiki_attachment_texts' THEN
        PERFORM search_enqueue(r.tenant_id, 'wikifile:' || r.attachment_id);
    END CASE;
    RETURN NULL;
END;
$$;

CREATE CONSTRAINT TRIGGER wiki_attachments_search AFTER INSERT OR UPDATE OF deleted_at OR DELETE ON wiki_attachments
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION search_outbox_files_trigger();
CREATE CONSTRAINT TRIGGER wiki_attachment_texts_search AFTER INSERT OR UPDATE OR DELETE ON wiki_attachment_texts
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION search_outbox_files_trigger();
CREATE CONSTRAINT TRIGGER wiki_pages_files_search AFTER UPDATE OF read_roles, hidden_roles, space_id ON wiki_pages
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (OLD.read_roles IS DISTINCT FROM NEW.read_roles OR OLD.hidden_roles IS DISTINCT FROM NEW.hidden_roles OR OLD.space_id IS DISTINCT FROM NEW.space_id)
    EXECUTE FUNCTION search_outbox_files_trigger();
CREATE CONSTRAINT TRIGGER wiki_spaces_files_search AFTER UPDATE OF read_roles, edit_roles ON wiki_spaces
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION search_outbox_files_trigger();

-- Attachments uploaded before this migration have no text (their bytes
-- would have to be decrypted and parsed, which SQL cannot do); they are
-- enqueued so that the index learns them by name now.
SELECT search_enqueue(tenant_id, 'wikifile:' || id) FROM wiki_attachments WHERE deleted_at IS NULL;
