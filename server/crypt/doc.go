// Package crypt encrypts case content at rest: the key hierarchy and its two
// key providers (a local keyring and AWS KMS), a cache for case keys, sealed
// record fields, and a streaming format for document bytes.
//
// # Keys
//
//	tenant KEK (a KMS key of the tenant, or the tenant's version in the local keyring)
//	  └─ case key: random 256 bits, stored wrapped under the KEK, bound to tenant and case
//	       ├─ record fields: AES-256-GCM under the case key
//	       └─ document data key: random 256 bits per document version, wrapped by the case key
//
// Each tenant's KEK versions are independent random keys: a section of the
// local keyring file (format 2: "format 2", "id keyring-<random>", then
// "tenant <id> v<n> <base64 key>" lines), or one KMS key per tenant and
// version, found through an alias such as alias/tma/<tenant>. The keyring's
// id is random and stored in the file, so versions can be removed. A
// keyring of format 1 (master keys shared by all tenants, KEK =
// HKDF-SHA256(master, tenant), id derived from the lowest master) is still
// read; its id is kept, its masters keep opening what they wrapped, and each
// tenant's new versions are numbered above them.
//
// Rotating a tenant KEK rewraps case keys (and the data keys of sealed TOTP
// seeds) only. Destroying a wrapped case key makes every record and
// document of the case unreadable (crypto-shredding). Plaintext keys stay in
// memory only: KeyCache holds case keys for a short TTL and zeroes them when
// they leave it.
//
// # Shredding and backups
//
// A shred removes the wrapped case key from the live row. A backup taken
// before still holds it, wrapped under the tenant KEK version of that time,
// and opens the case as long as that version exists. A shred epoch closes
// the gap: the tenant's KEK rotates and every live case key and sealed seed
// is rewrapped (postgres.CaseKeyService.RotateTenant, which records in
// key_epochs when each older version was replaced); once every backup older
// than that moment has expired (the configured backup retention), RetireTenant
// destroys the old versions: the keyring drops them, or KMS schedules the
// deletion of the tenant's old key. From then on the copies in backups open
// nothing. Until then, a backup keeps a shredded case readable: for at most
// rotation time + retention (+ the KMS deletion window). A copy of the
// keyring file is itself a backup and must not outlive the retention. A KMS
// key shared by tenants and format 1 master keys are never destroyed by one
// tenant's retirement.
//
// # Record fields
//
// SealRecord produces
//
//	0x01 (format) || nonce (12, random) || AES-256-GCM ciphertext || tag (16)
//
// with associated data "tma record v1" || 0x01 || field(tenant) || field(case)
// || field(table) || field(row) || field(column), where field(s) is a 32-bit
// big-endian length and the bytes of s. The lengths keep values from sliding
// into each other, so a ciphertext opens only in the row and column it was
// written for.
//
// # Document streams
//
// A stream is a header followed by segments. All integers are big-endian.
//
//	offset size
//	0      4    magic "TMAS"
//	4      1    format version, 1
//	5      1    key scheme, 1: the data key is wrapped by the case key with AES-256-GCM
//	6      4    segment size S: plaintext bytes per segment, 64 KiB to 16 MiB
//	10     7    nonce prefix P, random
//	17     12   wrap nonce, random
//	29     48   data key (32) sealed under the case key, with its tag (16)
//	77          first segment
//
// The data key is sealed with associated data header[0:29] || B, where B is
// the document binding:
//
//	"tma document v1" || field(tenant) || field(case) || field(document id) || version (8)
//
// so every plain header field, the document's identity and the case key are
// authenticated before any segment is read. Let H = SHA-256(header[0:77] ||
// B). Segment i (i from 0, at most 2^32 segments) holds plaintext bytes
// [i*S, (i+1)*S) and is
//
//	AES-256-GCM(data key, nonce = P || i (4) || f (1), ad = H || i (4) || f (1))
//
// where f is 1 for the final segment and 0 otherwise. Every segment but the
// final one holds exactly S bytes, S+16 with its tag. The final segment holds
// 1 to S bytes, or 0 for an empty document, and is the last thing in the
// stream: a reader knows a segment is final because no byte follows it, and
// checks that by opening it with f = 1. Hence
//
//	ciphertext size = 77 + plaintext size + 16 * max(1, ceil(plaintext size / S))
//
// and PlaintextSize inverts it, which lets NewRangeReader find segment i at
// offset 77 + i*(S+16) without reading the ones before it.
//
// # Threat model
//
// Protected: someone who obtains the blob store, the database, a backup or a
// disk learns nothing of the content of records and documents without the
// KEK, beyond their sizes. Someone who can also change stored bytes can make
// reading fail, and nothing more: a changed bit, a changed header field, a
// truncation (at a segment boundary or inside one), a dropped final segment,
// appended data, reordered, repeated or omitted segments, segments spliced
// from another document (even one under the same case key, or another
// sealing of the same document), a blob moved to another document, version,
// case or tenant, and a record moved to another row, column, case or tenant
// all fail with ECORRUPT. The Reader returns bytes only from segments that
// authenticated and returns io.EOF only after the final segment
// authenticated, so a truncated document is never presented as complete.
// Tenants never share a KEK: the local keyring holds independent keys per
// tenant, and with KMS each tenant has keys of its own (alias template), or,
// with one shared KMS key, tenants are separated by the encryption context:
// KMS refuses to unwrap a case key for any context other than its own tenant
// and case.
//
// Not protected: a compromised running server (it holds case keys in memory
// and may ask the KEK to unwrap any case key), memory dumps, and traffic or
// size analysis: the length of every field and document is visible, as are
// access patterns. A blob may be replaced by an older stream of the same
// document version written under the same case key (rollback), since both
// authenticate; comparing Writer.Sum, recorded with the version, with a
// hash of what is read detects that. The header deliberately carries no case key fingerprint, so
// that someone holding only the blobs cannot group them by case.
//
// Nonces: a case key seals record fields and data keys with random 96-bit
// nonces, far fewer than 2^32 times in its life. Segment nonces never repeat
// because each document version has its own random data key and the segment
// index is part of the nonce.
package crypt
