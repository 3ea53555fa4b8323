-- The minimal core of cases (extended by later migrations), their wrapped
-- keys, KEK rotation state and the blob registry used by blob GC.

CREATE TABLE cases (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id  uuid NOT NULL REFERENCES tenants(id),
    reference  text NOT NULL,
    legal_hold boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, reference),
    UNIQUE (tenant_id, id)
);

-- A case key wrapped under a tenant KEK. kek_* name the KEK so that rotation
-- knows what to rewrap. shredded_at is set when the key was destroyed: the
-- wrapped bytes are gone, the row stays as a tombstone.
CREATE TABLE case_keys (
    tenant_id    uuid NOT NULL,
    case_id      uuid NOT NULL,
    kek_provider text NOT NULL,
    kek_id       text NOT NULL,
    kek_version  integer NOT NULL,
    wrapped      bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    rotated_at   timestamptz,
    shredded_at  timestamptz,
    PRIMARY KEY (tenant_id, case_id),
    FOREIGN KEY (tenant_id, case_id) REFERENCES cases (tenant_id, id),
    CHECK ((wrapped IS NULL) = (shredded_at IS NOT NULL))
);
CREATE INDEX case_keys_kek ON case_keys (tenant_id, kek_provider, kek_id, kek_version);

-- A rotation in progress. Present from the moment a new KEK version is made
-- until every case key of the tenant is rewrapped, so an interrupted
-- rotation is resumed with the same target.
CREATE TABLE kek_rotations (
    tenant_id    uuid PRIMARY KEY REFERENCES tenants(id),
    kek_provider text NOT NULL,
    kek_id       text NOT NULL,
    kek_version  integer NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT now()
);

-- Every blob that a database row owns. A blob in the store without a row
-- here is an orphan (a crashed upload) and is deleted by `tma blobs gc`
-- after a grace period.
CREATE TABLE blobs (
    id         uuid PRIMARY KEY,
    tenant_id  uuid NOT NULL REFERENCES tenants(id),
    case_id    uuid,
    size       bigint NOT NULL,
    sha256     bytea,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX blobs_case ON blobs (tenant_id, case_id);
