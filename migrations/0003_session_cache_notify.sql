-- Invalidation of the in-process session caches (server/postgres/sessioncache.go).
--
-- Every server process keeps validated sessions with their user, roles and
-- tenant in memory and LISTENs on the channel tma_session_cache. These
-- triggers announce every change that a cached session depends on, in the
-- transaction that makes it, so that the notification is delivered exactly
-- when the change commits, and no write path (a new service method, the CLI,
-- an operator in psql) can forget it. Payloads:
--   s:<session id>  the session ended, or its token or MFA state changed
--   u:<user id>     the user's row or roles changed (disabled, locale, MFA, ...)
--   t:<tenant id>   the tenant's row changed (require_mfa, name, ...)
--   *               a table was truncated: drop everything
-- The same key is also raised as a NOTICE, so that the writing process
-- invalidates its own cache when its transaction ends, without waiting for
-- the notification's round trip.
-- Refreshing sessions.last_seen_at announces nothing: it changes nothing a
-- cached session depends on, and happens once a minute per session.

CREATE FUNCTION session_cache_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    key text;
BEGIN
    IF TG_LEVEL = 'STATEMENT' THEN
        key := '*';
    ELSIF TG_TABLE_NAME = 'sessions' THEN
        key := 's:' || OLD.id;
    ELSIF TG_TABLE_NAME = 'users' THEN
        key := 'u:' || OLD.id;
    ELSIF TG_TABLE_NAME = 'tenants' THEN
        key := 't:' || OLD.id;
    ELSIF TG_TABLE_NAME = 'user_roles' AND TG_OP = 'INSERT' THEN
        key := 'u:' || NEW.user_id;
    ELSIF TG_TABLE_NAME = 'user_roles' THEN
        key := 'u:' || OLD.user_id;
    ELSE
        key := '*';
    END IF;
    PERFORM pg_notify('tma_session_cache', key);
    RAISE NOTICE USING MESSAGE = 'tma_session_cache ' || key;
    RETURN NULL;
END;
$$;

CREATE TRIGGER sessions_cache_delete AFTER DELETE ON sessions
    FOR EACH ROW EXECUTE FUNCTION session_cache_notify();
CREATE TRIGGER sessions_cache_update AFTER UPDATE OF token_hash, tenant_id, user_id, mfa_pending, created_at ON sessions
    FOR EACH ROW EXECUTE FUNCTION session_cache_notify();

CREATE TRIGGER users_cache_update AFTER UPDATE ON users
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION session_cache_notify();
CREATE TRIGGER users_cache_delete AFTER DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION session_cache_notify();

CREATE TRIGGER user_roles_cache AFTER INSERT OR UPDATE OR DELETE ON user_roles
    FOR EACH ROW EXECUTE FUNCTION session_cache_notify();

CREATE TRIGGER tenants_cache AFTER UPDATE OR DELETE ON tenants
    FOR EACH ROW EXECUTE FUNCTION session_cache_notify();

CREATE TRIGGER sessions_cache_truncate AFTER TRUNCATE ON sessions
    FOR EACH STATEMENT EXECUTE FUNCTION session_cache_notify();
CREATE TRIGGER users_cache_truncate AFTER TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION session_cache_notify();
CREATE TRIGGER user_roles_cache_truncate AFTER TRUNCATE ON user_roles
    FOR EACH STATEMENT EXECUTE FUNCTION session_cache_notify();
CREATE TRIGGER tenants_cache_truncate AFTER TRUNCATE ON tenants
    FOR EACH STATEMENT EXECUTE FUNCTION session_cache_notify();
