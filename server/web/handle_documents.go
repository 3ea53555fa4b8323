package web

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gabriel-vasile/mimetype"
	"github.com/gofiber/fiber/v2"

	"github.com/tma-portal/tma/server/tma"
)

// textPreviewLen is how much of a text document its page shows.
const textPreviewLen = 256 << 10

// previewCSP is the policy of an inline preview (a PDF or a raster image,
// by tma.PreviewOf): it may load nothing and run nothing, it may be framed
// only by the portal's own pages (with X-Frame-Options SAMEORIGIN for old
// browsers), and it is sandboxed, so that a file that a browser took for
// something else than a PDF or an image (which Content-Type, nosniff and
// the check of name against sniffed type should already rule out) would be
// a unique origin without scripts, forms, popups or top navigation. Inline
// styles are allowed for the browser's own image document.
//
// Trade-off for PDFs, measured in Chromium 156 (TestBrowserPDFPreviewRenders):
//   - A frame with the sandbox attribute (any allow- tokens, even all of
//     them) never shows a PDF: Chromium puts its "blocked" page there,
//     because its viewer is a plugin and sandboxed frames get no plugins.
//     The document page therefore frames the preview WITHOUT the sandbox
//     attribute (assets/templates/document.html).
//   - The sandbox directive here does not stop the viewer, but Chromium
//     does not apply it to a PDF either: the frame's document stays
//     same-origin with the portal. It is kept for what it still does (the
//     image document, other browsers, a file taken for something else).
//   - What keeps a PDF from acting as the portal is then: Chromium's viewer
//     runs in its own extension frame, cross-origin to the portal, and the
//     PDF's JavaScript has no DOM (a test PDF's submitForm, launchURL and
//     getURL sent no request); default-src 'none' blocks any script or
//     subresource in the portal-origin document around it; the bytes are
//     only ever application/pdf with nosniff, never HTML.
//   - What is lost against a sandboxed frame: a click on a link in the PDF
//     navigates the whole tab (not just the frame) to the link's target
//     (javascript: links are ignored). That request is cross-site, carries
//     no cookies (SameSite=Strict) and no referrer, and needs the user's
//     click, like any link in a downloaded PDF; the hint under the preview
//     says so.
//
// An <embed type="application/pdf"> renders too, but cannot be sandboxed
// either and needs object-src 'self' on the page; object-src is not needed
// here (default-src 'none' does not block Chromium's viewer).
const previewCSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'self'; sandbox"

// documentPageCSP is the page policy plus frames of the portal itself, for
// the preview of a PDF (an <iframe> without the sandbox attribute; see
// previewCSP).
const documentPageCSP = csp + "; frame-src 'self'"

type documentData struct {
	caseData
	Document *tma.Document
	Current  *tma.DocumentVersion // the newest version not deleted, or nil
	Preview  tma.Preview          // how Current may be shown
	Text     string               // the start of a text document
	TextCut  bool                 // Text is not the whole document
}

// documentView loads the document in the URL with all its versions.
func (s *Server) documentView(c *fiber.Ctx) (*view, error) {
	p := principal(c)
	ctx, tenantID, caseID := c.UserContext(), p.Tenant.ID, c.Params("id")
	kase, err := s.deps.Cases.FindCase(ctx, tenantID, caseID)
	if err != nil {
		return nil, err
	}
	d := documentData{caseData: caseData{Case: kase, Now: time.Now(), Closed: kase.Status == tma.StatusClosed}}
	s.caseRights(c, &d.caseData)
	if d.Document, err = s.deps.Documents.Document(ctx, tenantID, caseID, c.Params("doc")); err != nil {
		return nil, err
	}
	for _, v := range d.Document.Versions {
		if !v.Deleted {
			d.Current = v
			break
		}
	}
	if d.Current != nil {
		d.Preview = tma.PreviewOf(d.Current.Name, d.Current.ContentType)
		if d.Preview == tma.PreviewText {
			_, rc, err := s.deps.Documents.Open(ctx, tenantID, caseID, d.Document.ID, d.Current.Version, 0, textPreviewLen, tma.AccessPreview)
			if err != nil {
				return nil, err
			}
			b, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				return nil, err
			}
			d.TextCut = d.Current.Size > int64(len(b))
			if d.TextCut {
				// Do not show half a character at the cut.
				for len(b) > 0 && !utf8.Valid(b[len(b)-min(len(b), 3):]) {
					b = b[:len(b)-1]
				}
			}
			d.Text = strings.ToValidUTF8(string(b), "\uFFFD")
		}
	}
	v := s.newView(c, "document.title", "cases", d)
	v.TitleArg = kase.Reference
	return v, nil
}

func (s *Server) handleDocumentPage(c *fiber.Ctx) error {
	v, err := s.documentView(c)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentSecurityPolicy, documentPageCSP)
	return s.render(c, fiber.StatusOK, "document", v)
}

func (s *Server) handleDocumentUpload(c *fiber.Ctx) error { return s.upload(c, "") }

func (s *Server) handleDocumentVersionUpload(c *fiber.Ctx) error {
	return s.upload(c, c.Params("doc"))
}

// upload stores the file of a multipart body as a new document, or as a
// new version of documentID.
func (s *Server) upload(c *fiber.Ctx, documentID string) error {
	p := principal(c)
	caseID := c.Params("id")
	var v *tma.DocumentVersion
	err := s.uploadOne(c, func(ctx context.Context, up tma.Upload) error {
		up.DocumentID = documentID
		var err error
		v, err = s.deps.Documents.Upload(ctx, p.Tenant.ID, caseID, up)
		return err
	})
	if err != nil {
		return s.uploadOutcome(c, nil, err)
	}
	return s.uploadOutcome(c, []*tma.DocumentVersion{v}, nil)
}

// uploadOne hands the one file of a streamed multipart body to store. The
// body is read as a stream, part by part, never held in memory or on disk
// here; the file's type is sniffed from its first bytes. Errors are the
// user's to see (EINVALID for a form that is not one file), or store's.
func (s *Server) uploadOne(c *fiber.Ctx, store func(ctx context.Context, up tma.Upload) error) error {
	body := uploadBody(c)
	if body == nil {
		return tma.Errorf(tma.EINTERNAL, "upload route without a streamed body")
	}
	// The request's deadline bounds ordinary requests; an upload may take
	// as long as its bytes keep coming (limitedBody pushes the read
	// deadline with every read).
	ctx, cancel := context.WithCancel(context.WithoutCancel(c.UserContext()))
	defer cancel()
	mt, params, err := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
	if err != nil || mt != fiber.MIMEMultipartForm || params["boundary"] == "" {
		return tma.Errorf(tma.EINVALID, "Send the files as a multipart form (multipart/form-data).")
	}
	// One file per request (the page's script sends each file on its
	// own, with its own progress bar): the part's reader checks that
	// nothing but form fields follows it before it reports its end, so a
	// second file is refused before the first is registered.
	mr := multipart.NewReader(body, params["boundary"])
	for {
		part, err := mr.NextRawPart()
		if err == io.EOF {
			return tma.Errorf(tma.EINVALID, "Choose a file to upload.")
		}
		if err != nil {
			return bodyError(err)
		}
		if part.FileName() == "" {
			continue // a form field, or a file input left empty; NextRawPart skips its bytes
		}
		up, err := sniffedUpload(part.FileName(), &lastPart{part: part, mr: mr})
		if err != nil {
			return err
		}
		if err := store(ctx, up); err != nil {
			return err
		}
		// Read the closing boundary's rest, so that the connection can go on.
		_, _ = io.Copy(io.Discard, io.LimitReader(body, 4<<10))
		return nil
	}
}

// lastPart reads a file part that must be the request's only file: at the
// part's end it reads on through the rest of the form and reports io.EOF
// only if no other file follows.
type lastPart struct {
	part *multipart.Part
	mr   *multipart.Reader
	end  error // once the part has ended: io.EOF, or why the form is refused
}

func (l *lastPart) Read(p []byte) (int, error) {
	if l.end != nil {
		return 0, l.end
	}
	n, err := l.part.Read(p)
	if err != io.EOF {
		return n, err
	}
	for l.end == nil {
		next, err := l.mr.NextRawPart()
		switch {
		case err == io.EOF:
			l.end = io.EOF
		case err != nil:
			l.end = bodyError(err)
		case next.FileName() != "":
			l.end = tma.Errorf(tma.EINVALID, "Upload one file per request.")
		}
	}
	return n, l.end
}

// sniffedUpload is one file part with its type sniffed from the first
// tma.SniffLen bytes, which are then handed on with the rest.
func sniffedUpload(name string, part io.Reader) (tma.Upload, error) {
	head := make([]byte, tma.SniffLen)
	n, err := io.ReadFull(part, head)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return tma.Upload{}, bodyError(err)
	}
	head = head[:n]
	return tma.Upload{Name: name, ContentType: mimetype.Detect(head).String(), Body: io.MultiReader(bytes.NewReader(head), part)}, nil
}

// bodyError classifies an error of reading an upload's body: the limit, or
// a body that was cut off or is no multipart form.
func bodyError(err error) error {
	var e *tma.Error
	if errors.As(err, &e) {
		return err
	}
	return tma.Errorf(tma.EINVALID, "The upload was cut off or is not a valid multipart form. Try again.")
}

// wantsJSON reports whether an upload came from the page's script, which
// wants JSON, or from a plain form.
func wantsJSON(c *fiber.Ctx) bool {
	return c.Get(fiber.HeaderXRequestedWith) != "" || strings.Contains(c.Get(fiber.HeaderAccept), fiber.MIMEApplicationJSON)
}

type uploadedJSON struct {
	ID      string `json:"id"`
	Version int    `json:"version"`
	Name    string `json:"name"`
	URL     string `json:"url"`
}

// uploadOutcome answers an upload: JSON for the script, a redirect or the
// case page with the error for a plain form.
func (s *Server) uploadOutcome(c *fiber.Ctx, done []*tma.DocumentVersion, uerr error) error {
	caseID := c.Params("id")
	var docs []uploadedJSON
	for _, v := range done {
		docs = append(docs, uploadedJSON{ID: v.DocumentID, Version: v.Version, Name: v.Name, URL: "/cases/" + caseID + "/documents/" + v.DocumentID})
	}
	if wantsJSON(c) {
		if uerr != nil {
			return uerr // handleError answers JSON, translated
		}
		last := docs[len(docs)-1]
		return c.Status(fiber.StatusCreated).JSON(fiber.Map{"id": last.ID, "version": last.Version, "name": last.Name, "url": last.URL, "documents": docs})
	}
	if uerr == nil {
		if len(docs) == 1 {
			return c.Redirect(docs[0].URL, fiber.StatusSeeOther)
		}
		return c.Redirect("/cases/"+caseID+"#documents-heading", fiber.StatusSeeOther)
	}
	if tma.ErrorCode(uerr) == tma.ENOTFOUND {
		return uerr
	}
	v, err := s.caseView(c)
	if err != nil {
		return err
	}
	return s.outcome(c, v, "case", uerr, "")
}

func (s *Server) handleDocumentDeleteRequest(c *fiber.Ctx) error {
	p := principal(c)
	n, ok := versionParam(c)
	if !ok {
		return errNoDocument()
	}
	_, aerr := s.deps.Documents.RequestDelete(c.UserContext(), p.Tenant.ID, c.Params("id"), c.Params("doc"), n)
	if tma.ErrorCode(aerr) == tma.ENOTFOUND {
		return aerr
	}
	v, err := s.documentView(c)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentSecurityPolicy, documentPageCSP)
	return s.outcome(c, v, "document", aerr, "document.delete.requested")
}

func errNoDocument() error { return tma.Errorf(tma.ENOTFOUND, "No such document.") }

// versionParam is the version number in the URL: digits only, from 1.
func versionParam(c *fiber.Ctx) (int, bool) {
	raw := c.Params("v")
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || strconv.Itoa(n) != raw {
		return 0, false
	}
	return n, true
}

func (s *Server) handleDocumentDownload(c *fiber.Ctx) error { return s.serveDocument(c, false) }

func (s *Server) handleDocumentPreview(c *fiber.Ctx) error { return s.serveDocument(c, true) }

// serveDocument sends one version's bytes, streaming, with range support.
// Downloads are always attachments of type application/octet-stream. A
// preview is inline, with its exact sniffed type and previewCSP, only for
// what tma.PreviewOf allows as PDF or image; anything else asked for as a
// preview (HTML, SVG, a mislabelled file) is sent as an attachment.
func (s *Server) serveDocument(c *fiber.Ctx, preview bool) error {
	p := principal(c)
	ctx, tenantID, caseID, docID := c.UserContext(), p.Tenant.ID, c.Params("id"), c.Params("doc")
	version, ok := versionParam(c)
	if !ok {
		return errNoDocument()
	}
	doc, err := s.deps.Documents.Document(ctx, tenantID, caseID, docID)
	if err != nil {
		return err
	}
	var meta *tma.DocumentVersion
	for _, v := range doc.Versions {
		if v.Version == version && !v.Deleted {
			meta = v
		}
	}
	if meta == nil {
		return errNoDocument()
	}
	kind := tma.PreviewOf(meta.Name, meta.ContentType)
	inline := preview && (kind == tma.PreviewPDF || kind == tma.PreviewImage)
	why := tma.AccessDownload
	if inline {
		why = tma.AccessPreview
	}
	etag := ""
	if len(meta.SHA256) > 0 {
		etag = `"` + hex.EncodeToString(meta.SHA256) + `"`
	}
	return s.sendFile(c, sentFile{Name: meta.Name, ContentType: meta.ContentType, Size: meta.Size, ETag: etag, Modified: meta.UploadedAt, Inline: inline,
		Open: func(ctx context.Context, off, n int64) (io.ReadCloser, error) {
			_, rc, err := s.deps.Documents.Open(ctx, tenantID, caseID, docID, version, off, n, why)
			return rc, err
		}})
}

// sentFile is a stored file on its way to the browser.
type sentFile struct {
	Name, ContentType string
	Size              int64
	ETag              string // quoted, or "" for none
	Modified          time.Time
	// Inline sends the file with its exact type and previewCSP, to be shown
	// in the browser; only for what tma.PreviewOf allows as PDF or image.
	Inline bool
	// Open reads plaintext bytes [off, off+n); it audits the read.
	Open func(ctx context.Context, off, n int64) (io.ReadCloser, error)
}

// sendFile sends a file's bytes, streaming, with range support (If-Range
// against the ETag). A download is an attachment of type
// application/octet-stream; an inline file has its exact sniffed type,
// previewCSP and X-Frame-Options SAMEORIGIN.
func (s *Server) sendFile(c *fiber.Ctx, f sentFile) error {
	off, length, status := int64(0), f.Size, fiber.StatusOK
	if rh := c.Get(fiber.HeaderRange); rh != "" && (c.Get(fiber.HeaderIfRange) == "" || (f.ETag != "" && c.Get(fiber.HeaderIfRange) == f.ETag)) {
		o, l, r := parseRange(rh, f.Size)
		switch r {
		case rangeUnsatisfiable:
			c.Set(fiber.HeaderContentRange, "bytes */"+strconv.FormatInt(f.Size, 10))
			return c.Status(fiber.StatusRequestedRangeNotSatisfiable).SendString("Range Not Satisfiable")
		case rangePartial:
			off, length, status = o, l, fiber.StatusPartialContent
		}
	}
	var body io.Reader
	if c.Method() != fiber.MethodHead {
		// The bytes are sent after the handler returns: they must not
		// depend on the request's deadline, only on the client reading.
		octx, cancel := context.WithCancel(context.WithoutCancel(c.UserContext()))
		rc, err := f.Open(octx, off, length)
		if err != nil {
			cancel()
			return err
		}
		body = &sendBody{rc: rc, cancel: cancel, conn: c.Context().Conn(), idle: 2 * s.cfg.ReadTimeout}
	}

	c.Set(fiber.HeaderAcceptRanges, "bytes")
	if f.ETag != "" {
		c.Set(fiber.HeaderETag, f.ETag)
	}
	c.Set(fiber.HeaderLastModified, f.Modified.UTC().Format(httpTime))
	if status == fiber.StatusPartialContent {
		c.Set(fiber.HeaderContentRange, "bytes "+strconv.FormatInt(off, 10)+"-"+strconv.FormatInt(off+length-1, 10)+"/"+strconv.FormatInt(f.Size, 10))
	}
	if f.Inline {
		c.Set(fiber.HeaderContentType, tma.BaseType(f.ContentType))
		c.Set(fiber.HeaderContentDisposition, contentDisposition("inline", f.Name))
		c.Set(fiber.HeaderContentSecurityPolicy, previewCSP)
		c.Set(fiber.HeaderXFrameOptions, "SAMEORIGIN")
	} else {
		c.Set(fiber.HeaderContentType, fiber.MIMEOctetStream)
		c.Set(fiber.HeaderContentDisposition, contentDisposition("attachment", f.Name))
	}
	c.Status(status)
	if body == nil {
		c.Context().Response.Header.SetContentLength(int(length))
		return nil
	}
	c.Context().SetBodyStream(body, int(length))
	return nil
}

// httpTime is the date format of HTTP headers.
const httpTime = "Mon, 02 Jan 2006 15:04:05 GMT"

// sendBody is a document's bytes on their way out. Every read pushes the
// connection's write deadline ahead, so that a large download may take as
// long as the client keeps reading; Close ends the read's context.
type sendBody struct {
	rc     io.ReadCloser
	cancel context.CancelFunc
	conn   net.Conn
	idle   time.Duration
	pushed time.Time
}

func (b *sendBody) Read(p []byte) (int, error) {
	if now := time.Now(); b.conn != nil && b.idle > 0 && now.Sub(b.pushed) > time.Second {
		_ = b.conn.SetWriteDeadline(now.Add(b.idle))
		b.pushed = now
	}
	return b.rc.Read(p)
}

func (b *sendBody) Close() error {
	err := b.rc.Close()
	b.cancel()
	return err
}

// rangeKind is what a Range header asks for.
type rangeKind int

const (
	rangeNone          rangeKind = iota // no usable range: send everything (200)
	rangePartial                        // one satisfiable range (206)
	rangeUnsatisfiable                  // 416
)

// parseRange reads a Range header for a body of size bytes. Only one byte
// range is served ("bytes=a-b", "bytes=a-", "bytes=-n"); several ranges or a
// header that does not parse are ignored (RFC 9110 allows both), and the
// whole body is sent.
func parseRange(header string, size int64) (off, n int64, kind rangeKind) {
	unit, spec, ok := strings.Cut(header, "=")
	if !ok || !strings.EqualFold(strings.TrimSpace(unit), "bytes") || strings.Contains(spec, ",") {
		return 0, 0, rangeNone
	}
	first, last, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok {
		return 0, 0, rangeNone
	}
	num := func(s string) (int64, bool) {
		if s == "" || strings.TrimLeft(s, "0123456789") != "" {
			return 0, false
		}
		v, err := strconv.ParseInt(s, 10, 64)
		return v, err == nil
	}
	if first == "" { // the last n bytes
		k, ok := num(last)
		if !ok {
			return 0, 0, rangeNone
		}
		if k == 0 || size == 0 {
			return 0, 0, rangeUnsatisfiable
		}
		k = min(k, size)
		return size - k, k, rangePartial
	}
	a, ok := num(first)
	if !ok {
		return 0, 0, rangeNone
	}
	b := size - 1
	if last != "" {
		if b, ok = num(last); !ok || b < a {
			return 0, 0, rangeNone
		}
	}
	if a >= size {
		return 0, 0, rangeUnsatisfiable
	}
	b = min(b, size-1)
	return a, b - a + 1, rangePartial
}

// contentDisposition is a Content-Disposition header (RFC 6266) for a file
// name: an ASCII fallback that every client reads safely (umlauts
// transliterated, other characters replaced, no quotes, backslashes or
// control characters), and the exact name as UTF-8 in filename*.
func contentDisposition(kind, name string) string {
	return kind + `; filename="` + asciiFileName(name) + `"; filename*=UTF-8''` + encodeRFC5987(name)
}

var transliterations = map[rune]string{
	'ä': "ae", 'ö': "oe", 'ü': "ue", 'Ä': "Ae", 'Ö': "Oe", 'Ü': "Ue", 'ß': "ss",
	'é': "e", 'è': "e", 'ê': "e", 'á': "a", 'à': "a", 'â': "a", 'ó': "o", 'ò': "o", 'ô': "o",
	'í': "i", 'ì': "i", 'ú': "u", 'ù': "u", 'ç': "c", 'ñ': "n", 'É': "E", 'À': "A",
	'–': "-", '—': "-", '„': "_", '“': "_", '”': "_", '‘': "_", '’': "_",
}

func asciiFileName(name string) string {
	var b strings.Builder
	for _, r := range name {
		switch {
		case r == '"' || r == '\\' || r == '/' || r < 0x20 || r == 0x7f:
			b.WriteByte('_')
		case r < 0x7f:
			b.WriteRune(r)
		case transliterations[r] != "":
			b.WriteString(transliterations[r])
		default:
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "download"
	}
	return b.String()
}

// encodeRFC5987 percent-encodes every byte but RFC 5987's attr-char.
func encodeRFC5987(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || strings.IndexByte("!#$&+-.^_`|~", ch) >= 0 {
			b.WriteByte(ch)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[ch>>4])
		b.WriteByte(hexDigits[ch&15])
	}
	return b.String()
}
