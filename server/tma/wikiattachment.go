package tma

import (
	"context"
	"io"
	"time"
)

// WikiAttachment is a file attached to a wiki page: an image the page shows
// inline, or a file to download. Its name is unique on the page (a new
// upload under the same name replaces the old file), so that Markdown can
// refer to it as attachment:<name>. Its bytes are sealed like a case
// document's, but under a data key of its own wrapped by the tenant KEK
// (AttachmentCipher): wiki pages belong to no case.
type WikiAttachment struct {
	ID           string
	PageID       string
	Name         string // cleaned by CleanFileName; in clear, like the page
	ContentType  string // sniffed from the bytes, never taken from the client
	Size         int64  // plaintext bytes
	SealingID    []byte // of the stream (the blob's sealing id), also its ETag
	UploadedBy   string
	UploaderName string
	UploadedAt   time.Time
}

// AttachmentRef names one attachment: what its stream and its data key are
// bound to.
type AttachmentRef struct {
	TenantID, SpaceID, AttachmentID string
}

// AttachmentKeyScope is the key scope of an attachment's data key: KMS sees
// it as the encryption context, the local provider as associated data. Both
// the cipher (which wraps the key) and a KEK rotation (which rewraps it)
// use it, so it lives here.
func AttachmentKeyScope(tenantID, attachmentID string) KeyScope {
	return KeyScope{TenantID: tenantID, CaseID: "wiki-attachment:" + attachmentID}
}

// AttachmentWriter seals an attachment's bytes. After Close it has, besides
// what SealWriter has, the wrapped data key to store and the plaintext's
// SHA-256 sealed under that key.
type AttachmentWriter interface {
	SealWriter
	WrappedKey() WrappedKey
	SealedDigest() []byte
}

// AttachmentCipher seals and opens the byte streams of wiki attachments:
// a fresh data key per attachment, wrapped by the tenant KEK of the key
// provider (AttachmentKeyScope), seals the stream in crypt's streaming
// format bound to tenant, "wiki:<space id>" and attachment id.
type AttachmentCipher interface {
	// Seal returns a writer that encrypts into dst under a new data key.
	Seal(ctx context.Context, ref AttachmentRef, dst io.Writer) (AttachmentWriter, error)
	// Open returns the plaintext bytes [off, off+n) (n < 0: to the end) of
	// the sealed stream of size bytes in src, whose data key is wrapped.
	// ECORRUPT, before a byte, for a stream whose sealing id is not
	// sealingID, and on any altered segment.
	Open(ctx context.Context, ref AttachmentRef, wrapped WrappedKey, src io.ReaderAt, size int64, sealingID []byte, off, n int64) (io.Reader, error)
	// SealText seals the text extracted from the attachment for search
	// under the same data key, bound to tenant, space and attachment, so
	// the text lives and dies with the key (a replaced file's text becomes
	// unreadable with its bytes) and a KEK rotation needs nothing more.
	SealText(ctx context.Context, ref AttachmentRef, wrapped WrappedKey, text []byte) ([]byte, error)
	// OpenText opens what SealText sealed for ref: ECORRUPT for text
	// sealed for another attachment, space or tenant, or altered.
	OpenText(ctx context.Context, ref AttachmentRef, wrapped WrappedKey, sealed []byte) ([]byte, error)
}

// WikiAttachmentService keeps the attachments of wiki pages. Access is the
// page's: a viewer who may not read the page gets ENOTFOUND, exactly as
// for a page (or attachment) that does not exist; uploading needs the
// right to edit the page (EFORBIDDEN otherwise). Uploads and reads are
// audited, with attachment and page ids, never a name.
type WikiAttachmentService interface {
	// Attachments lists a page's attachments by name.
	Attachments(ctx context.Context, tenantID, space, slug string, viewer *User) ([]*WikiAttachment, error)
	// Attachment returns the attachment of the page with this name.
	Attachment(ctx context.Context, tenantID, space, slug, name string, viewer *User) (*WikiAttachment, error)
	// Upload stores a file on the page, streaming, as Documents.Upload
	// does: EINVALID for an empty file, a bad name or a type outside the
	// tenant's allow-list; ETOOLARGE from Body is passed on. A file of the
	// same name is replaced: its row is kept, marked deleted, and its data
	// key and blob are dropped.
	Upload(ctx context.Context, tenantID, space, slug string, up Upload, viewer *User) (*WikiAttachment, error)
	// Open returns a reader of the plaintext bytes [off, off+n) (n < 0: to
	// the end) of the page's attachment id, audited with why.
	Open(ctx context.Context, tenantID, space, slug, attachmentID string, off, n int64, why DocumentAccess, viewer *User) (io.ReadCloser, error)
}
