-- Case folders: title, status, risk level, labels; members with a case role
-- and an optional expiry; exclusions (ethical walls); per-tenant reference
-- counters. Persons involved come with intake (sealed with the case key).

ALTER TABLE cases
    ADD COLUMN title      text NOT NULL DEFAULT '' CHECK (length(title) <= 200),
    ADD COLUMN status     text NOT NULL DEFAULT 'new'
        CHECK (status IN ('new', 'assessing', 'defusing', 'monitoring', 'closed')),
    ADD COLUMN risk       text NOT NULL DEFAULT 'unrated'
        CHECK (risk IN ('unrated', 'low', 'moderate', 'high', 'imminent')),
    ADD COLUMN labels     text[] NOT NULL DEFAULT '{}',
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();

-- The last reference number handed out per tenant and year. Allocation is
-- an upsert that locks the row until the creating transaction ends, so two
-- cases never get the same number and numbers have no gaps from races.
CREATE TABLE case_counters (
    tenant_id uuid NOT NULL REFERENCES tenants(id),
    year      integer NOT NULL,
    last      integer NOT NULL,
    PRIMARY KEY (tenant_id, year)
);

CREATE TABLE case_members (
    tenant_id  uuid NOT NULL,
    case_id    uuid NOT NULL,
    user_id    uuid NOT NULL,
    role       text NOT NULL CHECK (role IN ('lead', 'expert', 'read_only')),
    expires_at timestamptz,
    added_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, case_id, user_id),
    FOREIGN KEY (tenant_id, case_id) REFERENCES cases (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
-- "My cases": the memberships of one user.
CREATE INDEX case_members_user ON case_members (tenant_id, user_id, case_id);

-- An exclusion beats every role, tenant-wide ones included.
CREATE TABLE case_exclusions (
    tenant_id  uuid NOT NULL,
    case_id    uuid NOT NULL,
    user_id    uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, case_id, user_id),
    FOREIGN KEY (tenant_id, case_id) REFERENCES cases (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);

-- Invalidation of cached case access (server/postgres/sessioncache.go): a
-- change to a membership or an exclusion announces the user ('u:<user>',
-- as migration 0003 does for roles) on tma_session_cache, in the writing
-- transaction, whoever writes; a deleted case announces 'c:<case>'.
CREATE FUNCTION case_access_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    key text;
BEGIN
    IF TG_LEVEL = 'STATEMENT' THEN
        key := '*';
    ELSIF TG_TABLE_NAME = 'cases' THEN
        key := 'c:' || OLD.id;
    ELSIF TG_OP = 'INSERT' THEN
        key := 'u:' || NEW.user_id;
    ELSIF TG_OP = 'UPDATE' AND NEW.user_id IS DISTINCT FROM OLD.user_id THEN
        PERFORM pg_notify('tma_session_cache', 'u:' || NEW.user_id);
        RAISE NOTICE USING MESSAGE = 'tma_session_cache u:' || NEW.user_id;
        key := 'u:' || OLD.user_id;
    ELSE
        key := 'u:' || OLD.user_id;
    END IF;
    PERFORM pg_notify('tma_session_cache', key);
    RAISE NOTICE USING MESSAGE = 'tma_session_cache ' || key;
    RETURN NULL;
END;
$$;

CREATE TRIGGER case_members_cache AFTER INSERT OR UPDATE OR DELETE ON case_members
    FOR EACH ROW EXECUTE FUNCTION case_access_notify();
CREATE TRIGGER case_exclusions_cache AFTER INSERT OR UPDATE OR DELETE ON case_exclusions
    FOR EACH ROW EXECUTE FUNCTION case_access_notify();
CREATE TRIGGER cases_cache_delete AFTER DELETE ON cases
    FOR EACH ROW EXECUTE FUNCTION case_access_notify();
CREATE TRIGGER case_members_cache_truncate AFTER TRUNCATE ON case_members
    FOR EACH STATEMENT EXECUTE FUNCTION case_access_notify();
CREATE TRIGGER case_exclusions_cache_truncate AFTER TRUNCATE ON case_exclusions
    FOR EACH STATEMENT EXECUTE FUNCTION case_access_notify();
CREATE TRIGGER cases_cache_truncate AFTER TRUNCATE ON cases
    FOR EACH STATEMENT EXECUTE FUNCTION case_access_notify();
