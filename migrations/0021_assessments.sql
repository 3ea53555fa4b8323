-- Assessment instruments and assessments.
--
-- An instrument version is the tenant's own data (structure, item names,
-- the team's guidance), not case content: it is kept in clear, as the
-- validated definition (jsonb, tma.Instrument) and the file it came from.
-- A version is never changed or deleted once an assessment uses it.
--
-- An assessment's ratings and judgments (values, evidence, rationale,
-- links) are one record sealed with the case key, bound to
-- "<assessment id>@<revision>" (table "assessments", field "content"). In
-- clear: the instrument version, the status, the risk level it set, the
-- rule outcome, and who did what when.

CREATE TABLE instruments (
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    id          text NOT NULL CHECK (id ~ '^[a-z0-9][a-z0-9-]{1,63}$'),
    version     integer NOT NULL CHECK (version >= 1),
    title       text NOT NULL,
    definition  jsonb NOT NULL,
    source      bytea NOT NULL,
    digest      bytea NOT NULL, -- SHA-256 of definition as stored, to tell a re-import from a changed version
    imported_by uuid, -- NULL: shipped with TMA
    imported_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id, version),
    FOREIGN KEY (tenant_id, imported_by) REFERENCES users (tenant_id, id)
);

-- A version is only ever added: assessments are pinned to it, and a new
-- version never changes an old assessment. The foreign key of assessments
-- keeps a used version from being deleted; this keeps every version from
-- being changed.
CREATE FUNCTION instruments_unchanged() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'an instrument version is never changed; import a higher version';
END;
$$;
CREATE TRIGGER instruments_unchanged BEFORE UPDATE ON instruments
    FOR EACH ROW EXECUTE FUNCTION instruments_unchanged();

CREATE TABLE assessments (
    tenant_id          uuid NOT NULL,
    id                 uuid NOT NULL,
    case_id            uuid NOT NULL,
    instrument_id      text NOT NULL,
    instrument_version integer NOT NULL,
    previous_id        uuid,
    status             text NOT NULL CHECK (status IN ('draft', 'pending', 'final')),
    revision           integer NOT NULL CHECK (revision >= 1),
    content            bytea NOT NULL, -- sealed
    risk               text, -- the risk judgment, once submitted
    from_risk          text, -- the case's risk level at submission
    incomplete         boolean NOT NULL DEFAULT false,
    reasons            text[] NOT NULL DEFAULT '{}', -- why a second approver is required
    created_by         uuid NOT NULL,
    edited_by          uuid[] NOT NULL, -- everyone who saved ratings or judgments into it (start, save, submit)
    created_at         timestamptz NOT NULL,
    saved_at           timestamptz NOT NULL,
    submitted_by       uuid,
    submitted_at       timestamptz,
    decided_by         uuid,
    decided_at         timestamptz,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, case_id, id),
    FOREIGN KEY (tenant_id, case_id) REFERENCES cases (tenant_id, id),
    FOREIGN KEY (tenant_id, instrument_id, instrument_version) REFERENCES instruments (tenant_id, id, version),
    -- The previous assessment is one of the same case.
    FOREIGN KEY (tenant_id, case_id, previous_id) REFERENCES assessments (tenant_id, case_id, id),
    FOREIGN KEY (tenant_id, created_by) REFERENCES users (tenant_id, id),
    FOREIGN KEY (tenant_id, submitted_by) REFERENCES users (tenant_id, id),
    FOREIGN KEY (tenant_id, decided_by) REFERENCES users (tenant_id, id),
    -- Four eyes: the approver wrote none of it, and an assessment that
    -- needed a second approver is final only with one.
    CHECK (decided_by IS NULL OR (decided_by <> created_by AND decided_by <> submitted_by AND decided_by <> ALL (edited_by))),
    CHECK ((decided_by IS NULL) = (decided_at IS NULL)),
    CHECK (decided_by IS NULL OR status = 'final'),
    CHECK (status <> 'final' OR reasons = '{}' OR decided_by IS NOT NULL),
    -- Submitted (pending or final) exactly when a submitter is named; a
    -- draft (a rejected one too) has no outcome.
    CHECK ((status = 'draft') = (submitted_by IS NULL)),
    CHECK ((submitted_by IS NULL) = (submitted_at IS NULL)),
    CHECK (status <> 'draft' OR (risk IS NULL AND from_risk IS NULL AND reasons = '{}' AND NOT incomplete)),
    CHECK (status <> 'pending' OR reasons <> '{}'),
    CHECK (risk IS NULL OR risk IN ('low', 'moderate', 'high', 'imminent')),
    CHECK (from_risk IS NULL OR from_risk IN ('unrated', 'low', 'moderate', 'high', 'imminent'))
);
CREATE INDEX assessments_case ON assessments (tenant_id, case_id, created_at);
-- At most one assessment in the works (draft or pending) per case.
CREATE UNIQUE INDEX assessments_open ON assessments (tenant_id, case_id) WHERE status <> 'final';
