-- Persons involved in a case (person of concern, affected persons,
-- reporter, witnesses), and four-eyes hand-over of the last lead.
--
-- Name and note are sealed with the case key (crypt.SealRecord, format 2),
-- bound to tenant, case, table "case_persons", the row id and the field.
-- A person may be linked to a user of the tenant; the link is kept in clear
-- so that the exclusion it causes can be explained.
CREATE TABLE case_persons (
    tenant_id  uuid NOT NULL,
    id         uuid NOT NULL,
    case_id    uuid NOT NULL,
    kind       text NOT NULL CHECK (kind IN ('concern', 'affected', 'reporter', 'witness')),
    name       bytea NOT NULL, -- sealed
    note       bytea,          -- sealed, NULL for none
    user_id    uuid,
    created_by uuid NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, case_id) REFERENCES cases (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE SET NULL (user_id)
);
CREATE INDEX case_persons_case ON case_persons (tenant_id, case_id);

-- A four-eyes request is a state change (status/risk, as before) or a
-- hand-over: the last lead asks to leave the case, and a second threat
-- manager who is a member takes the lead. One pending request of each
-- kind per case.
ALTER TABLE case_approvals
    ADD COLUMN kind text NOT NULL DEFAULT 'state' CHECK (kind IN ('state', 'handover'));
DROP INDEX case_approvals_pending;
CREATE UNIQUE INDEX case_approvals_pending ON case_approvals (tenant_id, case_id, kind) WHERE decided_at IS NULL;
