-- Files attached to wiki pages (images shown inline, other files to
-- download). A wiki page belongs to no case, so there is no case key: each
-- attachment has a data key of its own, random, wrapped by the tenant KEK
-- (kek_provider, kek_id, kek_version, wrapped_key; scope
-- "wiki-attachment:<id>"), which seals the bytes in the document stream
-- format (crypt.Attachments). The stream is a tenant blob (blobs.case_id
-- NULL) with its sealing id in blobs.sealing_id; the plaintext's SHA-256 is
-- sealed under the data key (digest_sealed). A KEK rotation rewraps
-- wrapped_key like case keys (postgres/attachmentkeys.go), so retiring an
-- old KEK version never makes an attachment unreadable.
--
-- The name is in clear, like the page that refers to it by name
-- (![plan](attachment:plan.png)): the wiki is the tenant's process
-- documentation, stored in clear (0015), and a name sealed under the
-- attachment's key would hide nothing that the page text does not show.
--
-- A replaced attachment (a new upload under the same name) keeps its row
-- for the record, marked deleted: its data key is dropped (the old bytes
-- become unreadable at once, even in backups once the KEK is retired), its
-- blobs row goes and blob GC removes the stream.
CREATE TABLE wiki_attachments (
    tenant_id     uuid NOT NULL,
    id            uuid NOT NULL,
    page_id       uuid NOT NULL,
    name          text NOT NULL CHECK (octet_length(name) BETWEEN 1 AND 255),
    content_type  text NOT NULL, -- sniffed from the bytes
    size          bigint NOT NULL CHECK (size > 0),
    blob_id       uuid REFERENCES blobs (id),
    kek_provider  text,
    kek_id        text,
    kek_version   integer,
    wrapped_key   bytea,
    digest_sealed bytea,
    uploaded_by   uuid NOT NULL,
    uploaded_at   timestamptz NOT NULL,
    rotated_at    timestamptz,
    deleted_at    timestamptz,
    deleted_by    uuid,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, page_id) REFERENCES wiki_pages (tenant_id, id),
    CHECK ((deleted_at IS NULL) = (blob_id IS NOT NULL AND wrapped_key IS NOT NULL AND kek_provider IS NOT NULL
        AND kek_id IS NOT NULL AND kek_version IS NOT NULL))
);
CREATE UNIQUE INDEX wiki_attachments_name ON wiki_attachments (tenant_id, page_id, lower(name)) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX wiki_attachments_blob ON wiki_attachments (blob_id) WHERE blob_id IS NOT NULL;
CREATE INDEX wiki_attachments_kek ON wiki_attachments (tenant_id, kek_provider, kek_id, kek_version) WHERE deleted_at IS NULL;
