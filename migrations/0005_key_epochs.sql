-- Shred epochs. One row per KEK version a tenant has used: when it was first
-- recorded, when a finished rotation replaced it (from then on no live case
-- key or sealed secret of the tenant is wrapped under it; backups taken
-- before that moment still are), and when it was destroyed. `tma keys
-- retire` destroys a version once replaced_at is older than the backup
-- retention. kek_rotations keeps the rotation in progress, as before.
CREATE TABLE key_epochs (
    tenant_id    uuid NOT NULL REFERENCES tenants(id),
    kek_provider text NOT NULL,
    kek_id       text NOT NULL,
    kek_version  integer NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT now(),
    replaced_at  timestamptz,
    retired_at   timestamptz,
    PRIMARY KEY (tenant_id, kek_provider, kek_id, kek_version),
    CHECK (retired_at IS NULL OR replaced_at IS NOT NULL)
);

-- Rotations finished before this migration are known from the audit log
-- (detail "provider=… key=… version=… rewrapped=…"): each replaced every
-- older version of the same key, at the time of its event.
INSERT INTO key_epochs (tenant_id, kek_provider, kek_id, kek_version, started_at, replaced_at)
SELECT r.tenant_id, r.provider, r.kek_id, w.v, min(r.at), min(r.at)
FROM (
    SELECT tenant_id, at, m[1] AS provider, m[2] AS kek_id, m[3]::int AS version
    FROM (
        SELECT tenant_id, at, regexp_match(detail, '^provider=(\S+) key=(\S+) version=(\d+) ') AS m
        FROM audit_events WHERE action = 'key.rotated'
    ) a
    WHERE m IS NOT NULL
) r
CROSS JOIN LATERAL generate_series(1, r.version - 1) AS w(v)
GROUP BY r.tenant_id, r.provider, r.kek_id, w.v;

-- Every version that a case key row names (live, or the tombstone of a
-- shredded key) is one the tenant's backups may need.
INSERT INTO key_epochs (tenant_id, kek_provider, kek_id, kek_version, started_at)
SELECT tenant_id, kek_provider, kek_id, kek_version, min(created_at)
FROM case_keys WHERE kek_provider <> ''
GROUP BY tenant_id, kek_provider, kek_id, kek_version
ON CONFLICT DO NOTHING;

-- Case key rows per KEK version, for the retire check.
CREATE INDEX case_keys_live_kek ON case_keys (kek_provider, kek_id, kek_version) WHERE shredded_at IS NULL;
