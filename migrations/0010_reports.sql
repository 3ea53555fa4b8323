-- Intake: reports of warning behaviour, named or anonymous, their two-way
-- channel, the users they name, and the intake decisions.
--
-- Sealing before a case exists: every report gets its own intake case row
-- (cases.intake, reference "R-…", no members, so no case route shows it)
-- whose case key seals the report. Key rotation, retirement and shredding
-- therefore reach a report exactly like any case. Opening a case promotes
-- that row; merging re-seals the report under the target case's key and
-- shreds the intake row's key.

ALTER TABLE cases ADD COLUMN intake boolean NOT NULL DEFAULT false;

CREATE TABLE reports (
    id             uuid PRIMARY KEY,
    tenant_id      uuid NOT NULL REFERENCES tenants(id),
    case_id        uuid NOT NULL,          -- whose key seals the report now
    intake_case_id uuid NOT NULL,          -- the report's own intake row
    reporter_id    uuid,                   -- NULL: anonymous
    -- Anonymous reports only: argon2id of the receipt code, salted with
    -- the tenant. Never the code, never a client address.
    receipt_hash   bytea UNIQUE,
    urgency        text NOT NULL CHECK (urgency IN ('low', 'medium', 'high', 'immediate')),
    categories     text[] NOT NULL DEFAULT '{}',
    content        bytea NOT NULL,         -- sealed ReportContent (JSON)
    status         text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'opened', 'merged', 'dismissed')),
    dismiss_reason bytea,                  -- sealed
    decided_at     timestamptz,
    decided_by     uuid,
    created_at     timestamptz NOT NULL,
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, case_id) REFERENCES cases (tenant_id, id),
    FOREIGN KEY (tenant_id, intake_case_id) REFERENCES cases (tenant_id, id),
    FOREIGN KEY (tenant_id, reporter_id) REFERENCES users (tenant_id, id),
    CHECK ((reporter_id IS NULL) = (receipt_hash IS NOT NULL))
);
CREATE INDEX reports_queue ON reports (tenant_id, status, created_at);
CREATE INDEX reports_reporter ON reports (tenant_id, reporter_id, created_at);

-- Users of the tenant named in a report: excluded from its case, and the
-- report is hidden from them in the queue.
CREATE TABLE report_named (
    tenant_id uuid NOT NULL,
    report_id uuid NOT NULL,
    user_id   uuid NOT NULL,
    PRIMARY KEY (tenant_id, report_id, user_id),
    FOREIGN KEY (tenant_id, report_id) REFERENCES reports (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id)
);
CREATE INDEX report_named_user ON report_named (tenant_id, user_id);

CREATE TABLE report_messages (
    id         uuid PRIMARY KEY,
    tenant_id  uuid NOT NULL,
    report_id  uuid NOT NULL,
    from_team  boolean NOT NULL,
    author_id  uuid,                       -- the team member; NULL for the reporter
    text       bytea NOT NULL,             -- sealed with the report
    created_at timestamptz NOT NULL,
    FOREIGN KEY (tenant_id, report_id) REFERENCES reports (tenant_id, id)
);
CREATE INDEX report_messages_report ON report_messages (tenant_id, report_id, created_at);
