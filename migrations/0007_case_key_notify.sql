-- Invalidation of the in-process case-key caches (crypt.KeyCache).
--
-- Every server process may keep recently used case keys in memory. When a
-- case key is shredded (or its row otherwise changes or goes), every process
-- must drop its copy at once: a process that kept it would go on reading the
-- case, and could even seal new content under a destroyed key, which nobody
-- could ever read again. The trigger announces the change on the channel
-- tma_case_keys, in the writing transaction, so that the notification goes
-- out exactly when it commits, whoever writes. Payload: <tenant id>:<case id>.
-- Rewrapping under a new KEK version announces nothing: the case key itself
-- does not change. The same payload is raised as a NOTICE, so that the
-- writing process drops its own copy without waiting for the round trip.

CREATE FUNCTION case_key_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    key text;
BEGIN
    IF TG_LEVEL = 'STATEMENT' THEN
        key := '*';
    ELSE
        key := OLD.tenant_id || ':' || OLD.case_id;
    END IF;
    PERFORM pg_notify('tma_case_keys', key);
    RAISE NOTICE USING MESSAGE = 'tma_case_keys ' || key;
    RETURN NULL;
END;
$$;

CREATE TRIGGER case_keys_shred AFTER UPDATE OF shredded_at ON case_keys
    FOR EACH ROW WHEN (OLD.shredded_at IS DISTINCT FROM NEW.shredded_at) EXECUTE FUNCTION case_key_notify();
CREATE TRIGGER case_keys_delete AFTER DELETE ON case_keys
    FOR EACH ROW EXECUTE FUNCTION case_key_notify();
CREATE TRIGGER case_keys_truncate AFTER TRUNCATE ON case_keys
    FOR EACH STATEMENT EXECUTE FUNCTION case_key_notify();
