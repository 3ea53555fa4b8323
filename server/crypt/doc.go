// Package crypt encrypts case content at rest: the key hierarchy and its two
// key providers (a local keyring and AWS KMS), a cache for case keys, sealed
// record fields, and a streaming format for document bytes.
//
// # Keys
//
//	tenant KEK (a KMS key of the tenant, or the tenant's version in the local keyring)
//	  └─ case key: random 256 bits, stored wrapped under the KEK, bound to tenant and case
//	       ├─ record fields: AES-256-GCM under a per-record subkey of the case key (format 2)
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
// seeds and of wiki attachments) only. Destroying a wrapped case key makes every record and
// document of the case unreadable (crypto-shredding). Plaintext keys stay in
// memory only: KeyCache holds case keys for a short TTL and zeroes its copy
// when they leave it (see "Memory is out of scope" for what that does not
// reach). A shred reaches every server process at once: a trigger announces
// it on the channel tma_case_keys and each process's listener drops the key;
// while a listener is down its KeyCache is off; and keys for sealing new
// content (SealingKey) are read from the key's row every time, never from a
// cache, so nothing is sealed under a key destroyed meanwhile.
//
// # Wiki attachments
//
// Files attached to wiki pages (Attachments) belong to no case, so no case
// key exists for them. Each attachment instead gets
//
//	tenant KEK
//	  └─ attachment key: random 256 bits per attachment, wrapped under the KEK
//	     for the scope (tenant, "wiki-attachment:<attachment id>")
//	       ├─ stream: the document format below, with the attachment key in the
//	       │  case key's place and B bound to (tenant, "wiki:<space id>",
//	       │  attachment id, version 1)
//	       ├─ digest: the plaintext's SHA-256 sealed as a record, table
//	       │  "wiki_attachments", row the attachment id, field "sha256"
//	       └─ text: the text extracted for search, sealed as a record, table
//	          "wiki_attachment_texts", row the attachment id, field "text"
//
// so the stream keeps every property of a document stream (sealing id,
// commitment, rollback and splice detection; a blob moved to another
// attachment, space or tenant fails), and the wrap is SecretBox's: KMS sees
// the scope as encryption context. postgres.CaseKeyService.RotateTenant
// rewraps attachment keys with the provider's Rewrap (the key never leaves
// KMS) and RetireTenant counts them as users of a version, so retiring a
// version never makes an attachment unreadable. Replacing an attachment
// drops its wrapped key, which shreds the old bytes and their text (backups
// keep the wrapping until its KEK version is retired, as for case keys).
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
// SealRecord produces format 2:
//
//	0x02 (format) || salt (32, random) || commitment (32) || AES-256-GCM ciphertext || tag (16)
//
// with associated data A = "tma record v2" || 0x02 || field(tenant) ||
// field(case) || field(table) || field(row) || field(column), where field(s)
// is a 32-bit big-endian length and the bytes of s. The lengths keep values
// from sliding into each other, so a ciphertext opens only in the row and
// column it was written for. The record is sealed under a subkey made for
// it alone:
//
//	subkey (32) || commitment (32) = HKDF-SHA256(secret = case key, salt = salt,
//	                                             info = "tma record v2 subkey" || A, 64 bytes)
//
// with a GCM nonce of 12 zero bytes, which is safe because a subkey seals one
// message. OpenRecord compares the commitment in constant time before it
// decrypts anything.
//
// Format 1, still read: 0x01 || nonce (12, random) || ciphertext || tag (16),
// under the case key itself, with associated data "tma record v1" || 0x01 ||
// the same fields.
//
// DigestBinding names the one place a document's plaintext SHA-256
// (Writer.Sum) is kept: sealed as a record of the blobs row. No clear column
// holds a digest of plaintext.
//
// # Document streams
//
// A stream is a header followed by segments. All integers are big-endian.
// Format 2, which Writer writes:
//
//	offset size
//	0      4    magic "TMAS"
//	4      1    format version, 2
//	5      1    key scheme, 2: the data key is wrapped under a subkey of the case key
//	6      4    segment size S: plaintext bytes per segment, 64 KiB to 16 MiB
//	10     7    nonce prefix P, random
//	17     32   salt, random
//	49     32   commitment
//	81     48   data key (32) sealed under the subkey with a zero nonce, with its tag (16)
//	129         first segment
//
// where, with B the document binding
//
//	"tma document v1" || field(tenant) || field(case) || field(document id) || version (8)
//
// subkey || commitment = HKDF-SHA256(secret = case key, salt = salt, info =
// "tma stream v2 subkey" || header[0:17] || B, 64 bytes), and the data key's
// associated data is header[0:17] || B. A reader checks, in this order and
// before it reads any segment: the sealing id (below), the commitment
// (constant time), then the wrap. Every header field is authenticated: salt
// and commitment through the derivation and the check, the others as
// associated data, all of them by the sealing id.
//
// Format 1, still read, differs only in the header (77 bytes): key scheme 1,
// then at 17 a random wrap nonce (12) and at 29 the data key sealed under the
// case key itself (48), with associated data header[0:29] || B.
//
// The sealing id of a stream is H = SHA-256(header || B), over the whole
// header of either format. It names one sealing of one document version:
// every sealing has a fresh data key, nonce prefix and salt, so two sealings
// of the same version, even of the same text, have different ids. It is
// derived from random values and the ids of the binding only, so it may be
// stored in clear; Writer.SealingID returns it, the version's row keeps it
// (blobs.sealing_id), and NewReader and NewRangeReader take it and refuse,
// with ECORRUPT and before returning a byte, a stream whose H differs. Segment
// i (i from 0, at most 2^32 segments) holds plaintext bytes [i*S, (i+1)*S)
// and is
//
//	AES-256-GCM(data key, nonce = P || i (4) || f (1), ad = H || i (4) || f (1))
//
// where f is 1 for the final segment and 0 otherwise, so that segments belong
// to the one header whose id was checked. Every segment but the final one
// holds exactly S bytes, S+16 with its tag. The final segment holds 1 to S
// bytes, or 0 for an empty document, and is the last thing in the stream: a
// reader knows a segment is final because no byte follows it, and checks
// that by opening it with f = 1. Hence
//
//	ciphertext size = header size + plaintext size + 16 * max(1, ceil(plaintext size / S))
//
// (header size 129, or 77 for format 1) and PlaintextSize inverts it, which
// lets NewRangeReader find segment i at offset header size + i*(S+16)
// without reading the ones before it.
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
// case or tenant, an older sealing of the same document version put back
// (rollback: its sealing id is not the one recorded), and a record moved to
// another row, column, case or tenant all fail with ECORRUPT. The Reader
// returns bytes only from segments that authenticated and returns io.EOF
// only after the final segment authenticated, so a truncated document is
// never presented as complete; a range read checks the sealing id before
// its first byte too. FuzzStreamEdits makes such edits and checks every
// returned byte against the true text. Tenants never share a KEK: the
// local keyring holds independent keys per tenant, and with KMS each tenant
// has keys of its own (alias template), or, with one shared KMS key, tenants
// are separated by the encryption context: KMS refuses to unwrap a case key
// for any context other than its own tenant and case.
//
// Key commitment: a format 2 record or stream header opens under one case
// key only. AES-GCM alone does not commit to its key (a format 1 record can
// be built that opens under two keys to two texts); the commitment, 256 bits
// of HKDF output stored in the clear and compared before decryption, would
// have to collide for two keys. Segments need no commitment of their own:
// the data key is fixed once the header opens, and GCM decryption under a
// fixed key is a function of the ciphertext.
//
// Message limits: a case key never seals anything itself in format 2. Each
// record and each data-key wrap uses a subkey from a fresh 256-bit salt, so
// a case key has no practical bound on messages (format 1's random 96-bit
// nonces bounded it at about 2^32). Segment nonces never repeat because each
// document version has its own random data key and the segment index is
// part of the nonce.
//
// Not protected: a compromised running server (it holds case keys in memory
// and may ask the KEK to unwrap any case key); someone who can change both
// the blob and the version's row (the sealing id) can put back an older
// whole sealing of the same version, though never a mix of two; traffic and
// size analysis: the length of every field and document is visible, as are
// access patterns and which blobs belong to one case in the database. The
// header deliberately carries no case key fingerprint, so that someone
// holding only the blobs cannot group them by case. Rows written before
// migration 0006 have no sealing id, and a range read may report a stream
// cut to fewer segments as a range outside the document (EINVALID) when the
// blob's size is all it knows.
//
// Memory is out of scope. Wiping a key's byte slice after use (wipe, and the
// KeyCache when a key leaves it) shortens how long that copy lives, and no
// more: the AES key schedule inside every cipher.AEAD (crypto/aes and
// crypto/cipher keep it unexported, and it is not zeroed when the AEAD is
// dropped), HKDF's internal state, copies the runtime or the garbage collector
// made, the KEK material of the local provider while it is loaded, and
// TMA_KEK in the process environment (readable in /proc/<pid>/environ by the
// same user and root, for the life of the process) all stay until the memory
// is reused. A memory dump, a core file, swap, a debugger or another process
// of the same user can read keys. Deployments rely on the host: no core dumps,
// encrypted or no swap, one service user, a secret file or SSM rather than
// TMA_KEK where the environment is visible.
package crypt
