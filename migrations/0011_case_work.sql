-- Case work: notes with versions, action plans, four-eyes approvals.
-- Free text (note titles and bodies, action titles and outcomes) is sealed
-- with the case key (crypt.SealRecord, format 2), bound to tenant, case,
-- table, row and field; a note version's row id is "<note id>@<version>",
-- an action's "<action id>@<revision>".

CREATE TABLE case_notes (
    tenant_id  uuid NOT NULL,
    id         uuid NOT NULL,
    case_id    uuid NOT NULL,
    version    integer NOT NULL CHECK (version >= 1), -- the latest
    restricted boolean NOT NULL, -- of the latest version (GDPR Art. 9/10)
    created_by uuid NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, case_id) REFERENCES cases (tenant_id, id)
);
CREATE INDEX case_notes_case ON case_notes (tenant_id, case_id, updated_at DESC);

-- Every save of a note is a new row; rows are never changed.
CREATE TABLE case_note_versions (
    tenant_id  uuid NOT NULL,
    note_id    uuid NOT NULL,
    version    integer NOT NULL CHECK (version >= 1),
    restricted boolean NOT NULL,
    title      bytea NOT NULL, -- sealed
    body       bytea NOT NULL, -- sealed
    author_id  uuid NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, note_id, version),
    FOREIGN KEY (tenant_id, note_id) REFERENCES case_notes (tenant_id, id)
);

CREATE TABLE case_actions (
    tenant_id  uuid NOT NULL,
    id         uuid NOT NULL,
    case_id    uuid NOT NULL,
    revision   integer NOT NULL DEFAULT 1, -- bumped with each change; part of the sealing binding
    title      bytea NOT NULL, -- sealed
    outcome    bytea, -- sealed, NULL for none
    owner_id   uuid NOT NULL,
    due_on     date,
    status     text NOT NULL CHECK (status IN ('open', 'in_progress', 'done', 'cancelled')),
    created_by uuid NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, case_id) REFERENCES cases (tenant_id, id),
    FOREIGN KEY (tenant_id, owner_id) REFERENCES users (tenant_id, id)
);
CREATE INDEX case_actions_case ON case_actions (tenant_id, case_id);
-- "My tasks": the open actions of one owner.
CREATE INDEX case_actions_owner ON case_actions (tenant_id, owner_id) WHERE status IN ('open', 'in_progress');

-- Four-eyes requests: a status or risk change that a second threat
-- manager must approve. At most one pending request per case.
CREATE TABLE case_approvals (
    tenant_id    uuid NOT NULL,
    id           uuid NOT NULL,
    case_id      uuid NOT NULL,
    requested_by uuid NOT NULL,
    from_status  text NOT NULL,
    from_risk    text NOT NULL,
    status       text NOT NULL,
    risk         text NOT NULL,
    created_at   timestamptz NOT NULL,
    decided_by   uuid,
    decided_at   timestamptz,
    approved     boolean,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, case_id) REFERENCES cases (tenant_id, id),
    CHECK (decided_by IS NULL OR decided_by <> requested_by)
);
CREATE UNIQUE INDEX case_approvals_pending ON case_approvals (tenant_id, case_id) WHERE decided_at IS NULL;

-- The timeline reads the tenant's audit events about one case.
CREATE INDEX audit_events_case ON audit_events (tenant_id, target_id, seq) WHERE target_type = 'case';
