-- Case documents (issue 9). A document is a file of a case folder with
-- versions; every upload is a new version and keeps the ones before. A
-- version's bytes are a crypt stream in the blob store, registered in
-- blobs (sealing id, and the plaintext's SHA-256 sealed with the case key
-- in blobs.sealed_digest). Its file name is sealed with the case key
-- (crypt.SealRecord), table "document_versions", row "<document id>@<version>",
-- field "name". Only types, sizes, people and times are in clear.

CREATE TABLE documents (
    tenant_id  uuid NOT NULL,
    id         uuid NOT NULL,
    case_id    uuid NOT NULL,
    created_by uuid NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    versions   integer NOT NULL CHECK (versions >= 1), -- how many, deleted ones included
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, case_id) REFERENCES cases (tenant_id, id)
);
CREATE INDEX documents_case ON documents (tenant_id, case_id, updated_at DESC);

-- A deleted version keeps its number, type, size, uploader and times for
-- the record; its name and blob are gone (and with the blobs row, the
-- sealed digest), and blob GC removes the stream.
CREATE TABLE document_versions (
    tenant_id    uuid NOT NULL,
    document_id  uuid NOT NULL,
    version      integer NOT NULL CHECK (version >= 1),
    blob_id      uuid REFERENCES blobs (id),
    name_sealed  bytea,
    content_type text NOT NULL,
    size         bigint NOT NULL CHECK (size > 0),
    uploaded_by  uuid NOT NULL,
    uploaded_at  timestamptz NOT NULL,
    deleted_at   timestamptz,
    deleted_by   uuid,
    PRIMARY KEY (tenant_id, document_id, version),
    FOREIGN KEY (tenant_id, document_id) REFERENCES documents (tenant_id, id),
    CHECK ((deleted_at IS NULL) = (deleted_by IS NULL)),
    CHECK ((deleted_at IS NULL) = (blob_id IS NOT NULL AND name_sealed IS NOT NULL)),
    CHECK (deleted_at IS NOT NULL OR octet_length(name_sealed) > 0)
);
CREATE UNIQUE INDEX document_versions_blob ON document_versions (blob_id) WHERE blob_id IS NOT NULL;

-- A four-eyes request may delete one version of a document. Requests of
-- the kinds state and handover stay one pending per case and kind; a
-- deletion is one pending per version, so that deletions of several
-- versions may wait side by side.
ALTER TABLE case_approvals
    ADD COLUMN document_id uuid,
    ADD COLUMN doc_version integer,
    DROP CONSTRAINT case_approvals_kind_check,
    ADD CONSTRAINT case_approvals_kind_check CHECK (kind IN ('state', 'handover', 'document_delete')),
    ADD CONSTRAINT case_approvals_document CHECK (
        (kind = 'document_delete') = (document_id IS NOT NULL AND doc_version IS NOT NULL)
        AND (document_id IS NULL) = (doc_version IS NULL));
DROP INDEX case_approvals_pending;
CREATE UNIQUE INDEX case_approvals_pending ON case_approvals (tenant_id, case_id, kind)
    WHERE decided_at IS NULL AND kind <> 'document_delete';
CREATE UNIQUE INDEX case_approvals_pending_document ON case_approvals (tenant_id, case_id, document_id, doc_version)
    WHERE decided_at IS NULL AND kind = 'document_delete';

-- The allow-list of sniffed media types for documents; NULL: the default
-- list (tma.DefaultDocumentTypes).
ALTER TABLE tenants ADD COLUMN document_types text[];
