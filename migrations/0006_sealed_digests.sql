-- No plaintext digest in clear (issue 7). blobs.sha256 held an unkeyed
-- SHA-256 of each document's plaintext: it confirms guessed files and links
-- the same file across tenants. It goes; a digest that users must see is
-- kept sealed with the case key (crypt.SealRecord, bound to tenant, case,
-- table "blobs", the blob id and field "sha256"), so that it is shredded with
-- the case.
--
-- Existing digests cannot be sealed here: SQL has no case key. They are
-- dropped, not sealed; no released version showed them to anyone.
-- Clearing them first writes new row versions without the digest, so VACUUM
-- can reclaim the old ones (DROP COLUMN alone leaves the bytes in every
-- row). Backups and WAL from before this migration still hold them.
UPDATE blobs SET sha256 = NULL WHERE sha256 IS NOT NULL;
ALTER TABLE blobs DROP COLUMN sha256;

-- sealed_digest: the plaintext's SHA-256 sealed as above, or NULL.
-- sealing_id: the id of the one stream sealing (crypt.Writer.SealingID,
-- SHA-256 of the stream header and the document binding) that readers
-- accept for this blob, so that an older stream put back fails on every
-- read, range reads included. It is derived from random values only.
ALTER TABLE blobs
    ADD COLUMN sealed_digest bytea,
    ADD COLUMN sealing_id bytea,
    ADD CONSTRAINT blobs_sealing_id_size CHECK (octet_length(sealing_id) = 32),
    ADD CONSTRAINT blobs_sealed_digest_of_case CHECK (sealed_digest IS NULL OR case_id IS NOT NULL);

-- Every case blob registered from now on names its sealing. Rows from
-- before this migration have none and cannot be read through a checked
-- reader; documents were not live yet, so there are none outside tests.
ALTER TABLE blobs
    ADD CONSTRAINT blobs_case_sealing CHECK (case_id IS NULL OR sealing_id IS NOT NULL) NOT VALID;
