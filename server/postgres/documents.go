package postgres

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tma-portal/tma/server/tma"
)

// DocumentService keeps case documents: one documents row per document,
// one document_versions row per upload, whose stream is a blob in the blob
// store sealed by the DocumentCipher and registered in blobs with its
// sealing id and its plaintext digest sealed with the case key. File names
// are sealed records of the version row, bound to "<document id>@<version>".
type DocumentService struct {
	db      *DB
	sealer  tma.RecordSealer
	cipher  tma.DocumentCipher
	blobs   tma.BlobStore
	extract tma.TextExtractor // nil: documents get no text for search
}

var _ tma.DocumentService = (*DocumentService)(nil)

// NewDocumentService returns a DocumentService on db that seals names and
// digests with sealer and streams with cipher into blobs. extract finds
// the text of each upload for search as it streams (documenttext.go); nil
// stores documents without text.
func NewDocumentService(db *DB, sealer tma.RecordSealer, cipher tma.DocumentCipher, blobs tma.BlobStore, extract tma.TextExtractor) *DocumentService {
	return &DocumentService{db: db, sealer: sealer, cipher: cipher, blobs: blobs, extract: extract}
}

const (
	msgNoDocument      = "No such document."
	msgEmptyFile       = "The file is empty."
	msgDocumentChanged = "Another version of this document was uploaded meanwhile. Reload and try again."
	msgDeletePending   = "A deletion of this version is waiting for approval already."
	msgNoPermission    = "You do not have permission to do this."
	msgLegalHoldDelete = "This case is under legal hold: no document can be deleted until the hold is lifted."
)

// nameRecord is where a version's file name is sealed.
func nameRecord(documentID string, version int) *tma.Record {
	return &tma.Record{Table: "document_versions", RowID: documentID + "@" + strconv.Itoa(version), Field: "name"}
}

// digestRecord is where the SHA-256 of a blob's plaintext is sealed
// (crypt.DigestBinding).
func digestRecord(blobID string) *tma.Record {
	return &tma.Record{Table: "blobs", RowID: blobID, Field: "sha256"}
}

func documentDetail(documentID string, version int) string {
	return "document " + documentID + " version " + strconv.Itoa(version)
}

// storedType is the sniffed type as it is stored: parsed and formatted
// again, so that only a well-formed media type ever reaches a header.
func storedType(contentType string) string {
	if mt, params, err := mime.ParseMediaType(contentType); err == nil {
		if s := mime.FormatMediaType(mt, params); s != "" && len(s) <= 200 {
			return s
		}
	}
	return tma.BaseType(contentType)
}

// Upload checks the upload, streams it sealed into the blob store and then
// registers blob, document and version in one transaction. The body is
// never held in memory: a pipe carries it from the cipher to the store.
func (s *DocumentService) Upload(ctx context.Context, tenantID, caseID string, up tma.Upload) (*tma.DocumentVersion, error) {
	actor := tma.ActorFromContext(ctx)
	if !tma.ValidID(tenantID) || !tma.ValidID(caseID) {
		return nil, tma.Errorf(tma.ENOTFOUND, msgNoCase)
	}
	if up.DocumentID != "" && !tma.ValidID(up.DocumentID) {
		return nil, tma.Errorf(tma.ENOTFOUND, msgNoDocument)
	}
	if !tma.ValidID(actor.UserID) || actor.TenantID != tenantID {
		return nil, tma.Errorf(tma.EFORBIDDEN, msgNoPermission)
	}
	name, err := tma.CleanFileName(up.Name)
	if err != nil {
		return nil, err
	}
	var allowed []string
	if err := s.db.Pool.QueryRow(ctx, `SELECT document_types FROM tenants WHERE id = $1`, tenantID).Scan(&allowed); err != nil {
		return nil, dbError("DocumentService.Upload", notFound(err, msgNoCase))
	}
	if err := tma.CheckDocumentType(allowed, up.ContentType); err != nil {
		return nil, err
	}
	c, err := findCase(ctx, s.db.Pool, `id = $2`, tenantID, caseID, false)
	if err != nil {
		return nil, dbError("DocumentService.Upload", err)
	}
	if err := c.CheckOpen(); err != nil {
		return nil, err
	}
	// The version number is read without a transaction: the stream may take
	// minutes. The transaction that registers it checks that it is still
	// the next one.
	documentID, version := up.DocumentID, 1
	if documentID == "" {
		documentID = tma.NewID()
	} else {
		var versions int
		err := s.db.Pool.QueryRow(ctx, `SELECT versions FROM documents WHERE tenant_id = $1 AND case_id = $2 AND id = $3`,
			tenantID, caseID, documentID).Scan(&versions)
		if err != nil {
			return nil, dbError("DocumentService.Upload", notFound(err, msgNoDocument))
		}
		version = versions + 1
	}
	// Refuse an empty file before anything is created.
	var first [1]byte
	if _, err := io.ReadFull(up.Body, first[:]); err == io.EOF {
		return nil, tma.Errorf(tma.EINVALID, msgEmptyFile)
	} else if err != nil {
		return nil, tma.Wrap("DocumentService.Upload", err)
	}
	body := io.MultiReader(bytes.NewReader(first[:]), up.Body)

	ref := tma.DocumentRef{TenantID: tenantID, CaseID: caseID, DocumentID: documentID, Version: version}
	blobID := tma.NewID()
	tap := s.tapText(ctx, tma.ExtractType(name, up.ContentType))
	if tap != nil {
		body = io.TeeReader(body, tap)
	}
	sealed, blobSize, err := s.store(ctx, ref, blobID, body)
	text := tap.finish(err)
	if err != nil {
		return nil, err
	}
	v, err := s.register(ctx, ref, blobID, blobSize, sealed, name, storedType(up.ContentType), up.DocumentID == "", text)
	if err != nil {
		// GC is the backstop if this fails too: the blob has no row.
		_ = s.blobs.Delete(context.WithoutCancel(ctx), blobID)
		return nil, err
	}
	return v, nil
}

// store seals body into the blob blobID and returns the closed writer (for
// its digest, sealing id and size) and the blob's size. An error of body
// aborts the Put, so that no blob appears under blobID.
func (s *DocumentService) store(ctx context.Context, ref tma.DocumentRef, blobID string, body io.Reader) (tma.SealWriter, int64, error) {
	return storeSealed(ctx, s.blobs, blobID, body, "DocumentService.Upload", func(dst io.Writer) (tma.SealWriter, error) {
		return s.cipher.Seal(ctx, ref, dst)
	})
}

// storeSealed streams body through the writer that seal makes into the
// blob blobID, never holding it in memory: a pipe carries it from the
// cipher to the store. It returns the closed writer and the blob's size.
// An error of body aborts the Put, so that no blob appears under blobID.
func storeSealed(ctx context.Context, blobs tma.BlobStore, blobID string, body io.Reader, op string,
	seal func(dst io.Writer) (tma.SealWriter, error)) (tma.SealWriter, int64, error) {
	pr, pw := io.Pipe()
	sw, err := seal(pw)
	if err != nil {
		return nil, 0, err
	}
	var sealErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, err := io.Copy(sw, body)
		if err == nil {
			err = sw.Close()
		}
		sealErr = err
		pw.CloseWithError(err) // nil: the store reads io.EOF
	}()
	size, putErr := blobs.Put(ctx, blobID, pr)
	// If the store gave up early, the copy must not block on the pipe.
	pr.CloseWithError(errors.Join(putErr, io.ErrClosedPipe))
	wg.Wait()
	switch {
	case sealErr != nil && !errors.Is(sealErr, io.ErrClosedPipe):
		if putErr == nil {
			_ = blobs.Delete(context.WithoutCancel(ctx), blobID)
		}
		return nil, 0, sealErr // the cause: ETOOLARGE, a cut connection, EGONE
	case putErr != nil:
		return nil, 0, putErr
	case sealErr != nil:
		_ = blobs.Delete(context.WithoutCancel(ctx), blobID)
		return nil, 0, tma.Wrap(op, sealErr)
	}
	return sw, size, nil
}

// register seals the name, digest and text and records blob, document,
// version and text with their audit event in one transaction.
func (s *DocumentService) register(ctx context.Context, ref tma.DocumentRef, blobID string, blobSize int64, sw tma.SealWriter,
	name, contentType string, isNew bool, text extractedText) (*tma.DocumentVersion, error) {
	actor := tma.ActorFromContext(ctx)
	nameRec, digestRec := nameRecord(ref.DocumentID, ref.Version), digestRecord(blobID)
	nameRec.Plain, digestRec.Plain = []byte(name), sw.Sum()
	recs := []*tma.Record{nameRec, digestRec}
	textRec := text.record(ref)
	if textRec != nil {
		recs = append(recs, textRec)
	}
	err := s.sealer.Seal(ctx, ref.TenantID, ref.CaseID, recs)
	if textRec != nil {
		clear(textRec.Plain)
	}
	if err != nil {
		return nil, err
	}
	now := s.db.now()
	err = s.db.inTx(ctx, "DocumentService.Upload", func(tx pgx.Tx) error {
		c, err := findCase(ctx, tx, `id = $2`, ref.TenantID, ref.CaseID, true)
		if err != nil {
			return err
		}
		if err := c.CheckOpen(); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO blobs (id, tenant_id, case_id, size, sealing_id, sealed_digest, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, blobID, ref.TenantID, ref.CaseID, blobSize, sw.SealingID(), digestRec.Sealed, now); err != nil {
			return err
		}
		if isNew {
			if _, err := tx.Exec(ctx, `INSERT INTO documents (tenant_id, id, case_id, created_by, created_at, updated_at, versions)
				VALUES ($1, $2, $3, $4, $5, $5, 1)`, ref.TenantID, ref.DocumentID, ref.CaseID, actor.UserID, now); err != nil {
				return err
			}
		} else {
			tag, err := tx.Exec(ctx, `UPDATE documents SET versions = $4, updated_at = $5
				WHERE tenant_id = $1 AND case_id = $2 AND id = $3 AND versions = $4 - 1`,
				ref.TenantID, ref.CaseID, ref.DocumentID, ref.Version, now)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				return tma.Errorf(tma.ECONFLICT, msgDocumentChanged)
			}
		}
		_, err = tx.Exec(ctx, `INSERT INTO document_versions (tenant_id, document_id, version, blob_id, name_sealed, content_type, size, uploaded_by, uploaded_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			ref.TenantID, ref.DocumentID, ref.Version, blobID, nameRec.Sealed, contentType, sw.Size(), actor.UserID, now)
		if isUniqueViolation(err) {
			return tma.Errorf(tma.ECONFLICT, msgDocumentChanged)
		} else if err != nil {
			return err
		}
		if err := text.store(ctx, tx, ref, textRec, now); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE cases SET updated_at = $3 WHERE tenant_id = $1 AND id = $2`, ref.TenantID, ref.CaseID, now); err != nil {
			return err
		}
		detail := documentDetail(ref.DocumentID, ref.Version) + " blob " + blobID + " " + contentType + " " + strconv.FormatInt(sw.Size(), 10) + " bytes"
		return s.db.audit(ctx, tx, ref.TenantID, tma.AuditDocumentUploaded, "case", ref.CaseID, detail)
	})
	if err != nil {
		return nil, err
	}
	return &tma.DocumentVersion{DocumentID: ref.DocumentID, CaseID: ref.CaseID, Version: ref.Version, Name: name, ContentType: contentType,
		Size: sw.Size(), SHA256: sw.Sum(), UploadedBy: actor.UserID, UploaderName: actor.Label, UploadedAt: now}, nil
}

// versionSQL reads versions of a case's documents with their uploaders and
// blobs (none for a deleted version).
const versionSQL = `SELECT d.id::text, d.case_id::text, d.versions, d.created_at, v.version, v.name_sealed, v.content_type, v.size,
	v.uploaded_by::text, COALESCE(u.display_name, ''), v.uploaded_at, v.deleted_at,
	COALESCE(b.id::text, ''), COALESCE(b.size, 0), b.sealing_id, b.sealed_digest
	FROM documents d
	JOIN document_versions v ON v.tenant_id = d.tenant_id AND v.document_id = d.id
	LEFT JOIN users u ON u.tenant_id = v.tenant_id AND u.id = v.uploaded_by
	LEFT JOIN blobs b ON b.tenant_id = v.tenant_id AND b.id = v.blob_id
	WHERE d.tenant_id = $1 AND d.case_id = $2 `

// sealedVersion is a versionSQL row before its name and digest are opened.
type sealedVersion struct {
	tma.DocumentVersion
	count        int
	createdAt    time.Time
	name, digest []byte
	blobID       string
	blobSize     int64
	sealingID    []byte
}

func scanSealedVersion(r pgx.CollectableRow) (*sealedVersion, error) {
	var v sealedVersion
	var deletedAt *time.Time
	err := r.Scan(&v.DocumentID, &v.CaseID, &v.count, &v.createdAt, &v.Version, &v.name, &v.ContentType, &v.Size,
		&v.UploadedBy, &v.UploaderName, &v.UploadedAt, &deletedAt, &v.blobID, &v.blobSize, &v.sealingID, &v.digest)
	if deletedAt != nil {
		v.Deleted, v.DeletedAt = true, *deletedAt
	}
	return &v, err
}

// open opens the names (and digests, if withDigest) of versions with one
// key fetch; deleted versions have neither.
func (s *DocumentService) open(ctx context.Context, tenantID, caseID string, versions []*sealedVersion, withDigest bool) error {
	var recs []*tma.Record
	type pending struct {
		v            *sealedVersion
		name, digest *tma.Record
	}
	var ps []pending
	for _, v := range versions {
		if v.Deleted {
			continue
		}
		p := pending{v: v, name: nameRecord(v.DocumentID, v.Version)}
		p.name.Sealed = v.name
		recs = append(recs, p.name)
		if withDigest && v.digest != nil {
			p.digest = digestRecord(v.blobID)
			p.digest.Sealed = v.digest
			recs = append(recs, p.digest)
		}
		ps = append(ps, p)
	}
	if len(recs) == 0 {
		return nil
	}
	if err := s.sealer.Open(ctx, tenantID, caseID, recs); err != nil {
		return err
	}
	for _, p := range ps {
		p.v.Name = string(p.name.Plain)
		if p.digest != nil {
			p.v.SHA256 = p.digest.Plain
		}
	}
	return nil
}

// Documents lists the case's documents that have a version left, with
// their latest version, most recently changed first.
func (s *DocumentService) Documents(ctx context.Context, tenantID, caseID string) ([]*tma.Document, error) {
	if !tma.ValidID(tenantID) || !tma.ValidID(caseID) {
		return nil, tma.Errorf(tma.ENOTFOUND, msgNoCase)
	}
	rows, err := s.db.Pool.Query(ctx, versionSQL+`AND v.version = (SELECT max(l.version) FROM document_versions l
		WHERE l.tenant_id = d.tenant_id AND l.document_id = d.id AND l.deleted_at IS NULL)
		ORDER BY d.updated_at DESC, d.id LIMIT 1000`, tenantID, caseID)
	if err != nil {
		return nil, dbError("DocumentService.Documents", err)
	}
	sealed, err := pgx.CollectRows(rows, scanSealedVersion)
	if err != nil {
		return nil, dbError("DocumentService.Documents", err)
	}
	if err := s.open(ctx, tenantID, caseID, sealed, false); err != nil {
		return nil, dbError("DocumentService.Documents", err)
	}
	out := make([]*tma.Document, 0, len(sealed))
	for _, sv := range sealed {
		v := sv.DocumentVersion
		out = append(out, &tma.Document{ID: v.DocumentID, CaseID: v.CaseID, Latest: &v, Count: sv.count, CreatedAt: sv.createdAt})
	}
	return out, nil
}

// Document returns a document with all its versions, newest first, their
// names and digests opened.
func (s *DocumentService) Document(ctx context.Context, tenantID, caseID, documentID string) (*tma.Document, error) {
	if !tma.ValidID(tenantID) || !tma.ValidID(caseID) || !tma.ValidID(documentID) {
		return nil, tma.Errorf(tma.ENOTFOUND, msgNoDocument)
	}
	rows, err := s.db.Pool.Query(ctx, versionSQL+`AND d.id = $3 ORDER BY v.version DESC`, tenantID, caseID, documentID)
	if err != nil {
		return nil, dbError("DocumentService.Document", err)
	}
	sealed, err := pgx.CollectRows(rows, scanSealedVersion)
	if err != nil {
		return nil, dbError("DocumentService.Document", err)
	}
	if len(sealed) == 0 {
		return nil, tma.Errorf(tma.ENOTFOUND, msgNoDocument)
	}
	if err := s.open(ctx, tenantID, caseID, sealed, true); err != nil {
		return nil, dbError("DocumentService.Document", err)
	}
	d := &tma.Document{ID: documentID, CaseID: caseID, Count: sealed[0].count, CreatedAt: sealed[0].createdAt}
	for _, sv := range sealed {
		v := sv.DocumentVersion
		d.Versions = append(d.Versions, &v)
		if d.Latest == nil && !v.Deleted {
			d.Latest = &v
		}
	}
	return d, nil
}

// validAccess reports whether why is a short word fit for an audit detail.
func validAccess(why tma.DocumentAccess) bool {
	if len(why) == 0 || len(why) > 32 {
		return false
	}
	for _, r := range why {
		if (r < 'a' || r > 'z') && r != '_' && r != '-' {
			return false
		}
	}
	return true
}

// Open returns a version and a reader of its plaintext. The read is
// audited once the stream's header has authenticated; an integrity failure
// is audited instead, and again (once) if a later segment fails.
func (s *DocumentService) Open(ctx context.Context, tenantID, caseID, documentID string, version int, off, n int64, why tma.DocumentAccess) (*tma.DocumentVersion, io.ReadCloser, error) {
	if !tma.ValidID(tenantID) || !tma.ValidID(caseID) || !tma.ValidID(documentID) || version < 0 {
		return nil, nil, tma.Errorf(tma.ENOTFOUND, msgNoDocument)
	}
	if !validAccess(why) {
		return nil, nil, tma.Errorf(tma.EINTERNAL, "reading a document needs a reason for the audit log")
	}
	rows, err := s.db.Pool.Query(ctx, versionSQL+`AND d.id = $3 AND v.deleted_at IS NULL AND ($4::int = 0 OR v.version = $4::int)
		ORDER BY v.version DESC LIMIT 1`, tenantID, caseID, documentID, version)
	if err != nil {
		return nil, nil, dbError("DocumentService.Open", err)
	}
	sv, err := pgx.CollectExactlyOneRow(rows, scanSealedVersion)
	if err != nil {
		return nil, nil, dbError("DocumentService.Open", notFound(err, msgNoDocument))
	}
	if sv.blobID == "" {
		return nil, nil, tma.Errorf(tma.ENOTFOUND, msgNoDocument)
	}
	if err := s.open(ctx, tenantID, caseID, []*sealedVersion{sv}, true); err != nil {
		return nil, nil, dbError("DocumentService.Open", err)
	}
	v := sv.DocumentVersion
	ref := tma.DocumentRef{TenantID: tenantID, CaseID: caseID, DocumentID: documentID, Version: v.Version}
	corrupt := func(err error) {
		detail := documentDetail(documentID, v.Version) + " blob " + sv.blobID + ": " + tma.CleanText(tma.ErrorMessage(err), 300)
		actx := context.WithoutCancel(ctx) // a cut download is still recorded
		_ = s.db.inTx(actx, "DocumentService.Open", func(tx pgx.Tx) error {
			return s.db.audit(actx, tx, tenantID, tma.AuditIntegrityFailure, "document", documentID, detail)
		})
	}
	ra := tma.NewBlobReaderAt(ctx, s.blobs, sv.blobID, sv.blobSize)
	r, err := s.cipher.Open(ctx, ref, ra, sv.blobSize, sv.sealingID, off, n)
	if err != nil {
		ra.Close()
		if tma.ErrorCode(err) == tma.ENOTFOUND {
			// The row names a blob that the store does not have.
			err = &tma.Error{Code: tma.ECORRUPT, Op: "DocumentService.Open", Message: "blob missing from the store", Err: err}
		}
		if tma.ErrorCode(err) == tma.ECORRUPT {
			corrupt(err)
		}
		return nil, nil, err
	}
	err = s.db.inTx(ctx, "DocumentService.Open", func(tx pgx.Tx) error {
		return s.db.audit(ctx, tx, tenantID, tma.AuditDocumentRead, "case", caseID, documentDetail(documentID, v.Version)+" "+string(why))
	})
	if err != nil {
		ra.Close()
		return nil, nil, err
	}
	return &v, &documentReader{r: r, ra: ra, corrupt: corrupt}, nil
}

// documentReader is the plaintext of one version. The first integrity
// failure of a segment is audited.
type documentReader struct {
	r       io.Reader
	ra      *tma.BlobReaderAt
	corrupt func(error)
	once    sync.Once
}

func (d *documentReader) check(err error) {
	if err != nil && tma.ErrorCode(err) == tma.ECORRUPT {
		d.once.Do(func() { d.corrupt(err) })
	}
}

func (d *documentReader) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	if err != io.EOF {
		d.check(err)
	}
	return n, err
}

// WriteTo lets io.Copy write each segment straight from the decryption
// buffer.
func (d *documentReader) WriteTo(w io.Writer) (int64, error) {
	wt, ok := d.r.(io.WriterTo)
	if !ok {
		return io.Copy(w, struct{ io.Reader }{d})
	}
	n, err := wt.WriteTo(w)
	d.check(err)
	return n, err
}

func (d *documentReader) Close() error { return d.ra.Close() }

// RequestDelete files a four-eyes request to delete a version.
func (s *DocumentService) RequestDelete(ctx context.Context, tenantID, caseID, documentID string, version int) (*tma.Approval, error) {
	actor := tma.ActorFromContext(ctx)
	if !tma.ValidID(tenantID) || !tma.ValidID(caseID) || !tma.ValidID(documentID) || version < 1 {
		return nil, tma.Errorf(tma.ENOTFOUND, msgNoDocument)
	}
	if !tma.ValidID(actor.UserID) {
		return nil, tma.Errorf(tma.EFORBIDDEN, msgNoPermission)
	}
	var a *tma.Approval
	err := s.db.inTx(ctx, "DocumentService.RequestDelete", func(tx pgx.Tx) error {
		c, err := findCase(ctx, tx, `id = $2`, tenantID, caseID, true)
		if err != nil {
			return err
		}
		member, err := currentMember(ctx, tx, tenantID, caseID, actor.UserID, s.db.now(), false)
		if err != nil {
			return err
		}
		if !member {
			return tma.Errorf(tma.EFORBIDDEN, msgNoPermission)
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM documents d JOIN document_versions v ON v.tenant_id = d.tenant_id AND v.document_id = d.id
			WHERE d.tenant_id = $1 AND d.case_id = $2 AND d.id = $3 AND v.version = $4 AND v.deleted_at IS NULL)`,
			tenantID, caseID, documentID, version).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return tma.Errorf(tma.ENOTFOUND, msgNoDocument)
		}
		if err := c.CheckOpen(); err != nil {
			return err
		}
		if c.LegalHold {
			return tma.Errorf(tma.ECONFLICT, msgLegalHoldDelete)
		}
		a = &tma.Approval{ID: tma.NewID(), Kind: tma.ApprovalDocumentDelete, CaseID: caseID, RequestedBy: actor.UserID,
			FromStatus: c.Status, FromRisk: c.Risk, Status: c.Status, Risk: c.Risk, DocumentID: documentID, Version: version, CreatedAt: s.db.now()}
		_, err = tx.Exec(ctx, `INSERT INTO case_approvals (tenant_id, id, kind, case_id, requested_by, from_status, from_risk, status, risk,
			document_id, doc_version, created_at)
			VALUES ($1, $2, 'document_delete', $3, $4, $5, $6, $5, $6, $7, $8, $9)`,
			tenantID, a.ID, caseID, a.RequestedBy, c.Status, c.Risk, documentID, version, a.CreatedAt)
		if isUniqueViolation(err) {
			return tma.Errorf(tma.ECONFLICT, msgDeletePending)
		} else if err != nil {
			return err
		}
		return s.db.audit(ctx, tx, tenantID, tma.AuditApprovalRequested, "case", caseID, "request "+a.ID+" delete "+documentDetail(documentID, version))
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// applyDocumentDelete deletes the version an approved request names, in
// the transaction of the decision on the locked case c: name and blob
// reference go, the blobs row (with the sealed digest) is deleted, and blob
// GC removes the stream. The version row stays, marked deleted.
func (s *CaseService) applyDocumentDelete(ctx context.Context, tx pgx.Tx, c *tma.Case, a *tma.Approval, decider string) error {
	// A hold set after the request was filed stops it too.
	if c.LegalHold {
		return tma.Errorf(tma.ECONFLICT, msgLegalHoldDelete)
	}
	var blobID *string
	err := tx.QueryRow(ctx, `SELECT v.blob_id::text FROM documents d
		JOIN document_versions v ON v.tenant_id = d.tenant_id AND v.document_id = d.id
		WHERE d.tenant_id = $1 AND d.case_id = $2 AND d.id = $3 AND v.version = $4 AND v.deleted_at IS NULL FOR UPDATE OF v`,
		c.TenantID, c.ID, a.DocumentID, a.Version).Scan(&blobID)
	if err != nil {
		return notFound(err, msgNoDocument)
	}
	now := s.db.now()
	if _, err := tx.Exec(ctx, `UPDATE document_versions SET deleted_at = $4, deleted_by = $5, name_sealed = NULL, blob_id = NULL
		WHERE tenant_id = $1 AND document_id = $2 AND version = $3`, c.TenantID, a.DocumentID, a.Version, now, decider); err != nil {
		return err
	}
	// The text goes with the file (the outbox row the deletion writes
	// takes it out of the index).
	if _, err := tx.Exec(ctx, `DELETE FROM document_texts WHERE tenant_id = $1 AND document_id = $2 AND version = $3`,
		c.TenantID, a.DocumentID, a.Version); err != nil {
		return err
	}
	detail := documentDetail(a.DocumentID, a.Version)
	if blobID != nil {
		if _, err := tx.Exec(ctx, `DELETE FROM blobs WHERE tenant_id = $1 AND id = $2`, c.TenantID, *blobID); err != nil {
			return err
		}
		detail += " blob " + *blobID
	}
	if _, err := tx.Exec(ctx, `UPDATE documents SET updated_at = $3 WHERE tenant_id = $1 AND id = $2`, c.TenantID, a.DocumentID, now); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE cases SET updated_at = $3 WHERE tenant_id = $1 AND id = $2`, c.TenantID, c.ID, now); err != nil {
		return err
	}
	return s.db.audit(ctx, tx, c.TenantID, tma.AuditDocumentDeleted, "case", c.ID, detail+" (request "+a.ID+" of user "+a.RequestedBy+")")
}
