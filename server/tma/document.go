package tma

import (
	"context"
	"io"
	"path"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Document is a file in a case folder. Its content lives in versions: every
// upload of a new version keeps the ones before. A document's bytes are
// sealed with a data key of their own under the case key (DocumentCipher)
// and stored in the blob store under a random id; its file names are sealed
// records; only sizes, types and times are in clear.
type Document struct {
	ID        string
	CaseID    string
	Latest    *DocumentVersion   // the newest version that is not deleted, or nil
	Versions  []*DocumentVersion // newest first; filled by DocumentService.Document only
	Count     int                // how many versions, deleted ones included
	CreatedAt time.Time
}

// DocumentVersion is one upload of a document.
type DocumentVersion struct {
	DocumentID   string
	CaseID       string
	Version      int    // 1 for the first upload
	Name         string // the file name, cleaned by CleanFileName
	ContentType  string // sniffed from the bytes, never taken from the client
	Size         int64  // plaintext bytes
	SHA256       []byte // of the plaintext as uploaded (chain of custody); nil if not opened
	UploadedBy   string
	UploaderName string
	UploadedAt   time.Time
	// Deleted versions keep their number, uploader and time for the record;
	// name, digest and content are gone.
	Deleted   bool
	DeletedAt time.Time
}

// Upload is one file to store.
type Upload struct {
	// DocumentID is "" for a new document, or the document that gets a new
	// version.
	DocumentID string
	// Name is the file name as the client sent it; CleanFileName cleans it.
	Name string
	// ContentType is the type sniffed from the first bytes (by the web
	// adapter), checked against the tenant's allow-list.
	ContentType string
	// Body is the plaintext. It is read once, streaming, to its end.
	Body io.Reader
}

// DocumentRef names one version of one document: what its stream is bound to.
type DocumentRef struct {
	TenantID, CaseID, DocumentID string
	Version                      int
}

// SealWriter encrypts what is written to it; Close writes the final
// segment. After Close, Sum is the SHA-256 of the plaintext, SealingID the
// id of this sealing (which readers require) and Size the plaintext size.
type SealWriter interface {
	io.WriteCloser
	Sum() []byte
	SealingID() []byte
	Size() int64
}

// DocumentCipher seals and opens the byte streams of document versions
// with the case key (crypt's streaming format).
type DocumentCipher interface {
	// Seal returns a writer that encrypts into dst, for ref, under the
	// checked sealing key of the case.
	Seal(ctx context.Context, ref DocumentRef, dst io.Writer) (SealWriter, error)
	// Open returns the plaintext bytes [off, off+n) (n < 0: to the end) of
	// the sealed stream of size bytes in src. It refuses with ECORRUPT,
	// before returning a byte, a stream whose sealing id is not sealingID,
	// and fails a read with ECORRUPT on any altered segment; EGONE if the
	// case was shredded.
	Open(ctx context.Context, ref DocumentRef, src io.ReaderAt, size int64, sealingID []byte, off, n int64) (io.Reader, error)
}

// Limits of documents.
const (
	MaxFileName = 255 // bytes of a cleaned file name
	// SniffLen is how many leading bytes a type is sniffed from.
	SniffLen = 3072
)

// DefaultDocumentTypes is the allow-list of a tenant that has not set one:
// documents and images that experts exchange. HTML and SVG are left out
// (they can carry scripts); a tenant may add them, but they are never
// shown inline.
var DefaultDocumentTypes = []string{
	"application/pdf",
	"image/png", "image/jpeg", "image/gif", "image/webp", "image/tiff", "image/heic",
	"text/plain", "text/csv", "message/rfc822",
	"application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint", "application/vnd.ms-outlook",
	"application/vnd.openxmlformats-officedocument.wordprocessingml.document",
	"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
	"application/vnd.openxmlformats-officedocument.presentationml.presentation",
	"application/vnd.oasis.opendocument.text",
	"application/vnd.oasis.opendocument.spreadsheet",
	"application/vnd.oasis.opendocument.presentation",
	"application/rtf",
	"audio/mpeg", "audio/wav", "video/mp4",
}

// BaseType is the media type without parameters, lower case:
// "text/plain; charset=utf-8" → "text/plain".
func BaseType(contentType string) string {
	t, _, _ := strings.Cut(contentType, ";")
	return strings.ToLower(strings.TrimSpace(t))
}

// CheckDocumentType returns EINVALID unless the sniffed type is on the
// allow-list (DefaultDocumentTypes if allowed is empty).
func CheckDocumentType(allowed []string, contentType string) error {
	if len(allowed) == 0 {
		allowed = DefaultDocumentTypes
	}
	t := BaseType(contentType)
	if t == "" || !slices.Contains(allowed, t) {
		return Errorf(EINVALID, "Files of this type (%s) are not accepted. Ask an administrator if you need it.", CleanText(t, 80))
	}
	return nil
}

// CleanFileName returns the last element of a client's file name without
// control or format characters and surrounding spaces and dots, or
// EINVALID if nothing usable is left. Directories in the name (both / and
// \) are dropped: they are the client's, and a name never reaches a path.
func CleanFileName(name string) (string, error) {
	if !utf8.ValidString(name) {
		return "", Errorf(EINVALID, "The file name is not valid text.")
	}
	name = strings.ReplaceAll(name, "\\", "/")
	name = path.Base("/" + name)
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError {
			return -1
		}
		return r
	}, name)
	name = strings.Trim(name, " .")
	for len(name) > MaxFileName {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	if name == "" || name == "/" {
		return "", Errorf(EINVALID, "The file needs a name.")
	}
	return name, nil
}

// Preview is how a version may be shown in the browser.
type Preview string

// The ways of showing a version. Only PDFs and raster images are shown
// inline, in a sandboxed frame; text is shown escaped; everything else is
// only downloaded.
const (
	PreviewNone  Preview = ""
	PreviewPDF   Preview = "pdf"
	PreviewImage Preview = "image"
	PreviewText  Preview = "text"
)

// extTypes are the extensions whose files may be previewed, with the
// sniffed types they must have.
var extTypes = map[string][]string{
	".pdf":  {"application/pdf"},
	".png":  {"image/png"},
	".jpg":  {"image/jpeg"},
	".jpeg": {"image/jpeg"},
	".gif":  {"image/gif"},
	".webp": {"image/webp"},
	".txt":  {"text/plain"},
	".text": {"text/plain"},
	".log":  {"text/plain"},
	".md":   {"text/plain", "text/markdown"},
	".csv":  {"text/plain", "text/csv"},
}

// PreviewOf says how a version may be previewed: only when the sniffed type
// is one that can be shown safely and the file's extension agrees with it.
// A mislabelled file (a PDF named .png, an HTML page named .pdf) is only
// ever downloaded.
func PreviewOf(name, contentType string) Preview {
	t := BaseType(contentType)
	want, ok := extTypes[strings.ToLower(path.Ext(name))]
	if !ok || !slices.Contains(want, t) {
		return PreviewNone
	}
	switch {
	case t == "application/pdf":
		return PreviewPDF
	case strings.HasPrefix(t, "image/"):
		return PreviewImage
	default:
		return PreviewText
	}
}

// DocumentAccess is why a document's bytes are read, for the audit log.
type DocumentAccess string

// The reasons to read a document.
const (
	AccessDownload DocumentAccess = "download"
	AccessPreview  DocumentAccess = "preview"
)

// DocumentService keeps the documents of case folders. Every method acts
// for the Actor in ctx, whose access to the case the caller has checked
// (the web adapter's case-scoped routes); changes run in one transaction
// with their audit event, whose detail names document, version and blob,
// never a file name. ENOTFOUND for a document or version that is not on the
// case, whatever the reason.
type DocumentService interface {
	// Documents lists the case's documents that have a version left, most
	// recently changed first, with the latest version's name, type and size.
	Documents(ctx context.Context, tenantID, caseID string) ([]*Document, error)
	// Document returns a document with all its versions, their names and
	// digests.
	Document(ctx context.Context, tenantID, caseID, documentID string) (*Document, error)
	// Upload stores a new document or a new version, streaming: nothing is
	// visible until every byte is sealed, stored and registered, and a
	// failed upload leaves at most a blob that blob GC removes. EINVALID for
	// an empty file, a type outside the tenant's allow-list or a bad name;
	// ETOOLARGE from Body is passed on; ECONFLICT on a closed case or when
	// another version was uploaded meanwhile.
	Upload(ctx context.Context, tenantID, caseID string, up Upload) (*DocumentVersion, error)
	// Open returns the version (0: the latest) and a reader of its
	// plaintext bytes [off, off+n) (n < 0: to the end); the read is audited
	// with why. A stream that fails its integrity check is refused with
	// ECORRUPT, and that failure is audited too.
	Open(ctx context.Context, tenantID, caseID, documentID string, version int, off, n int64, why DocumentAccess) (*DocumentVersion, io.ReadCloser, error)
	// RequestDelete files a four-eyes request to delete a version
	// (ApprovalDocumentDelete), decided through CaseService.DecideApproval.
	// Once approved, the version's content and name are gone and its blob
	// is left to blob GC.
	RequestDelete(ctx context.Context, tenantID, caseID, documentID string, version int) (*Approval, error)
}
