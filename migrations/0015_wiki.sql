-- The process-documentation wiki. Wiki pages are the tenant's own
-- documentation (processes, checklists, contacts), not case content: they
-- are stored in clear, under no case key. Access is by tenant role: a space
-- grants read and edit to roles; a page may narrow its space's readers and
-- be hidden from roles, never widen.

CREATE TABLE wiki_spaces (
    tenant_id  uuid NOT NULL REFERENCES tenants (id),
    id         uuid NOT NULL,
    slug       text NOT NULL,
    name       text NOT NULL,
    read_roles text[] NOT NULL, -- tenant roles that read the space
    edit_roles text[] NOT NULL, -- tenant roles that edit it (and so read it)
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, slug)
);

CREATE TABLE wiki_pages (
    tenant_id    uuid NOT NULL,
    id           uuid NOT NULL,
    space_id     uuid NOT NULL,
    parent_id    uuid, -- NULL: at the top of the space
    slug         text NOT NULL,
    title        text NOT NULL,
    revision     integer NOT NULL CHECK (revision >= 1), -- the current one
    read_roles   text[], -- NULL: the space's readers; else only these of them
    hidden_roles text[] NOT NULL DEFAULT '{}', -- a holder of any of these never sees the page
    created_by   uuid,
    created_at   timestamptz NOT NULL,
    updated_by   uuid,
    updated_at   timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, space_id, slug),
    FOREIGN KEY (tenant_id, space_id) REFERENCES wiki_spaces (tenant_id, id),
    FOREIGN KEY (tenant_id, parent_id) REFERENCES wiki_pages (tenant_id, id)
);
CREATE UNIQUE INDEX wiki_pages_title ON wiki_pages (tenant_id, space_id, lower(title));
CREATE INDEX wiki_pages_recent ON wiki_pages (tenant_id, updated_at DESC);

-- Every save is a new row; rows are never changed.
CREATE TABLE wiki_revisions (
    tenant_id  uuid NOT NULL,
    page_id    uuid NOT NULL,
    revision   integer NOT NULL CHECK (revision >= 1),
    title      text NOT NULL,
    body       text NOT NULL, -- Markdown
    message    text NOT NULL DEFAULT '',
    template   text NOT NULL DEFAULT '', -- the template of revision 1, if any
    restored_from integer, -- a restore copies this revision
    author_id  uuid,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, page_id, revision),
    FOREIGN KEY (tenant_id, page_id) REFERENCES wiki_pages (tenant_id, id)
);

-- The wiki links of each page's current revision, for "what links here".
-- target is the link target as written, trimmed and lower-cased; which page
-- it names is decided when read, so links written before their page
-- existed count as soon as it does.
CREATE TABLE wiki_links (
    tenant_id uuid NOT NULL,
    page_id   uuid NOT NULL,
    target    text NOT NULL,
    PRIMARY KEY (tenant_id, page_id, target),
    FOREIGN KEY (tenant_id, page_id) REFERENCES wiki_pages (tenant_id, id)
);
CREATE INDEX wiki_links_target ON wiki_links (tenant_id, target);

-- A case uses a process page.
CREATE TABLE case_wiki_pages (
    tenant_id  uuid NOT NULL,
    case_id    uuid NOT NULL,
    page_id    uuid NOT NULL,
    created_by uuid,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, case_id, page_id),
    FOREIGN KEY (tenant_id, case_id) REFERENCES cases (tenant_id, id),
    FOREIGN KEY (tenant_id, page_id) REFERENCES wiki_pages (tenant_id, id)
);
CREATE INDEX case_wiki_pages_page ON case_wiki_pages (tenant_id, page_id);

-- An action that came from a process page's checklist names the page
-- revision it came from.
ALTER TABLE case_actions ADD COLUMN wiki_page_id uuid, ADD COLUMN wiki_revision integer,
    ADD FOREIGN KEY (tenant_id, wiki_page_id) REFERENCES wiki_pages (tenant_id, id),
    ADD CHECK ((wiki_page_id IS NULL) = (wiki_revision IS NULL));

-- Bumped whenever a page appears or changes its title or slug: rendered
-- pages mark links to missing pages, so cached renderings keyed by it
-- go stale exactly then (see web/wiki_render.go).
CREATE TABLE wiki_epochs (
    tenant_id uuid PRIMARY KEY REFERENCES tenants (id),
    epoch     bigint NOT NULL DEFAULT 0
);

-- Every tenant has the process documentation space; new tenants get it in
-- TenantService (postgres/tenant.go).
INSERT INTO wiki_spaces (tenant_id, id, slug, name, read_roles, edit_roles)
SELECT id, gen_random_uuid(), 'process', 'Process documentation',
       ARRAY['threat_manager', 'legal', 'hr', 'compliance', 'auditor'], ARRAY['threat_manager']
FROM tenants;
INSERT INTO wiki_epochs (tenant_id) SELECT id FROM tenants;
