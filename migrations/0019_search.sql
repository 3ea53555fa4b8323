-- Search (issue 11): the outbox that feeds every server process's index,
-- and the extracted text of documents.
--
-- search_outbox: one row per change of a searchable item, "<type>:<id>"
-- (a document version: "document:<id>@<version>"). Each process tails it
-- in seq order (postgres.SearchSource.Changes) and remembers the last seq
-- it applied in its index. The row says only which item changed; the
-- indexer loads the item's current content (or finds it gone).
--
-- The rows are written by triggers on the tables that hold searchable
-- content, not by the services, for two reasons:
--  1. No write path can forget them: the services, the wiki import, the
--     CLI and an operator in psql all write through the same tables (the
--     same reason as the session-cache triggers of migration 0003).
--  2. A tailer that reads "seq > last" must never see seq n+1 before n:
--     a bigserial taken mid-transaction does not give that, since
--     transactions commit in another order than they draw numbers, and
--     a tailer would skip a row that commits late. So the triggers are
--     deferred to the commit (constraint triggers, INITIALLY DEFERRED),
--     and each takes a transaction-level advisory lock before it draws its
--     number: from drawing to the end of the commit, one transaction at a
--     time. Numbers are therefore visible in the order they are drawn,
--     and a reader that sees seq n sees every row below it. The lock is
--     held only for the last moments of a commit that changes searchable
--     content.
-- Membership changes write nothing: what a user may see is computed at
-- query time (SearchSource.Scope).
CREATE TABLE search_outbox (
    seq        bigserial PRIMARY KEY,
    tenant_id  uuid NOT NULL,
    key        text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- The extracted text of a document version, sealed with the case key
-- (table "document_texts", row "<document id>@<version>", field "text"),
-- so that re-indexing never decrypts and parses the file again. text is
-- NULL when the version has no text; reason says why (none: a type
-- without text or an empty text; invalid, too_large, unavailable: the
-- extractor's answer).
CREATE TABLE document_texts (
    tenant_id   uuid NOT NULL,
    document_id uuid NOT NULL,
    version     integer NOT NULL,
    text        bytea,
    reason      text CHECK (reason IN ('none', 'invalid', 'too_large', 'unavailable', 'failed')),
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, document_id, version),
    FOREIGN KEY (tenant_id, document_id, version) REFERENCES document_versions (tenant_id, document_id, version),
    CHECK ((text IS NULL) = (reason IS NOT NULL))
);

-- search_enqueue writes one outbox row, under the advisory lock that
-- orders outbox numbers (the key is "tma_srch"). It runs in the deferred
-- triggers below, at commit.
CREATE FUNCTION search_enqueue(t uuid, k text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(8389468743447765864);
    INSERT INTO search_outbox (tenant_id, key) VALUES (t, k);
END;
$$;

-- search_enqueue_case enqueues a case and every item of it: after a shred
-- (the index must drop them all) and a status change (the status facet of
-- every item).
CREATE FUNCTION search_enqueue_case(t uuid, c uuid) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    k text;
BEGIN
    PERFORM search_enqueue(t, 'case:' || c);
    FOR k IN
        SELECT 'note:' || id FROM case_notes WHERE tenant_id = t AND case_id = c
        UNION ALL SELECT 'action:' || id FROM case_actions WHERE tenant_id = t AND case_id = c
        UNION ALL SELECT 'report:' || id FROM reports WHERE tenant_id = t AND (case_id = c OR intake_case_id = c)
        UNION ALL SELECT 'document:' || v.document_id || '@' || v.version FROM documents d
            JOIN document_versions v ON v.tenant_id = d.tenant_id AND v.document_id = d.id
            WHERE d.tenant_id = t AND d.case_id = c
    LOOP
        PERFORM search_enqueue(t, k);
    END LOOP;
END;
$$;

CREATE FUNCTION search_outbox_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    IF TG_OP = 'DELETE' THEN
        r := OLD;
    ELSE
        r := NEW;
    END IF;
    CASE TG_TABLE_NAME
    WHEN 'cases' THEN
        IF TG_OP = 'UPDATE' AND OLD.status IS DISTINCT FROM NEW.status THEN
            PERFORM search_enqueue_case(r.tenant_id, r.id);
        ELSE
            PERFORM search_enqueue(r.tenant_id, 'case:' || r.id);
        END IF;
    WHEN 'case_keys' THEN
        PERFORM search_enqueue_case(r.tenant_id, r.case_id);
    WHEN 'case_persons' THEN
        PERFORM search_enqueue(r.tenant_id, 'case:' || r.case_id);
    WHEN 'case_notes' THEN
        PERFORM search_enqueue(r.tenant_id, 'note:' || r.id);
    WHEN 'case_actions' THEN
        PERFORM search_enqueue(r.tenant_id, 'action:' || r.id);
    WHEN 'reports' THEN
        PERFORM search_enqueue(r.tenant_id, 'report:' || r.id);
    WHEN 'report_messages' THEN
        PERFORM search_enqueue(r.tenant_id, 'report:' || r.report_id);
    WHEN 'document_versions', 'document_texts' THEN
        PERFORM search_enqueue(r.tenant_id, 'document:' || r.document_id || '@' || r.version);
    WHEN 'wiki_pages' THEN
        PERFORM search_enqueue(r.tenant_id, 'wiki:' || r.id);
    WHEN 'wiki_spaces' THEN
        PERFORM search_enqueue(r.tenant_id, 'wiki:' || p.id) FROM wiki_pages p WHERE p.tenant_id = r.tenant_id AND p.space_id = r.id;
    END CASE;
    RETURN NULL;
END;
$$;

CREATE CONSTRAINT TRIGGER cases_search AFTER INSERT OR UPDATE OF reference, title, labels, status, intake ON cases
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION search_outbox_trigger();
CREATE CONSTRAINT TRIGGER case_keys_search AFTER INSERT OR UPDATE OF shredded_at ON case_keys
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.shredded_at IS NOT NULL) EXECUTE FUNCTION search_outbox_trigger();
CREATE CONSTRAINT TRIGGER case_persons_search AFTER INSERT OR UPDATE OR DELETE ON case_persons
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION search_outbox_trigger();
CREATE CONSTRAINT TRIGGER case_notes_search AFTER INSERT OR UPDATE OR DELETE ON case_notes
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION search_outbox_trigger();
CREATE CONSTRAINT TRIGGER case_actions_search AFTER INSERT OR UPDATE OR DELETE ON case_actions
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION search_outbox_trigger();
CREATE CONSTRAINT TRIGGER reports_search AFTER INSERT OR UPDATE OR DELETE ON reports
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION search_outbox_trigger();
CREATE CONSTRAINT TRIGGER report_messages_search AFTER INSERT OR UPDATE OR DELETE ON report_messages
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION search_outbox_trigger();
CREATE CONSTRAINT TRIGGER document_versions_search AFTER INSERT OR UPDATE OR DELETE ON document_versions
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION search_outbox_trigger();
CREATE CONSTRAINT TRIGGER document_texts_search AFTER INSERT OR UPDATE OR DELETE ON document_texts
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION search_outbox_trigger();
CREATE CONSTRAINT TRIGGER wiki_pages_search AFTER INSERT OR UPDATE OF space_id, title, revision, read_roles, hidden_roles OR DELETE ON wiki_pages
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION search_outbox_trigger();
CREATE CONSTRAINT TRIGGER wiki_spaces_search AFTER UPDATE OF read_roles, edit_roles ON wiki_spaces
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION search_outbox_trigger();

-- Every process's indexer LISTENs on tma_search and tails the outbox when
-- woken, instead of waiting for its next poll. The payload is empty:
-- PostgreSQL folds equal notifications of one transaction into one.
CREATE FUNCTION search_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tma_search', '');
    RETURN NULL;
END;
$$;
CREATE TRIGGER search_outbox_notify AFTER INSERT ON search_outbox
    FOR EACH STATEMENT EXECUTE FUNCTION search_outbox_notify();
