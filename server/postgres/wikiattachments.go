package postgres

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tma-portal/tma/server/tma"
)

// WikiAttachmentService keeps the files of wiki pages: one wiki_attachments
// row per upload, whose stream is a tenant blob (no case) sealed by the
// AttachmentCipher under a data key of its own, wrapped by the tenant KEK
// and stored in the row. Access is the page's (findPage): a page the viewer
// may not read hides its attachments exactly like a missing page.
type WikiAttachmentService struct {
	db      *DB
	cipher  tma.AttachmentCipher
	blobs   tma.BlobStore
	extract tma.TextExtractor // nil: attachments get no text for search
}

var _ tma.WikiAttachmentService = (*WikiAttachmentService)(nil)

// NewWikiAttachmentService returns a WikiAttachmentService on db that seals
// streams with cipher into blobs. extract finds the text of each upload for
// search (wikiattachmenttext.go); nil stores attachments without text.
func NewWikiAttachmentService(db *DB, cipher tma.AttachmentCipher, blobs tma.BlobStore, extract tma.TextExtractor) *WikiAttachmentService {
	return &WikiAttachmentService{db: db, cipher: cipher, blobs: blobs, extract: extract}
}

const msgNoAttachment = "No such attachment."

func attachmentDetail(pageID, attachmentID string) string {
	return "page " + pageID + " attachment " + attachmentID
}

// attachmentSQL reads the live attachments of a page with their uploaders
// and blobs.
const attachmentSQL = `SELECT a.id::text, a.page_id::text, a.name, a.content_type, a.size, a.uploaded_by::text, COALESCE(u.display_name, ''),
	a.uploaded_at, b.id::text, b.size, b.sealing_id, a.kek_provider, a.kek_id, a.kek_version, a.wrapped_key
	FROM wiki_attachments a
	JOIN blobs b ON b.tenant_id = a.tenant_id AND b.id = a.blob_id
	LEFT JOIN users u ON u.tenant_id = a.tenant_id AND u.id = a.uploaded_by
	WHERE a.tenant_id = $1 AND a.page_id = $2 AND a.deleted_at IS NULL `

type storedAttachment struct {
	tma.WikiAttachment
	blobID   string
	blobSize int64
	wrapped  tma.WrappedKey
}

func scanAttachment(r pgx.CollectableRow) (*storedAttachment, error) {
	var a storedAttachment
	err := r.Scan(&a.ID, &a.PageID, &a.Name, &a.ContentType, &a.Size, &a.UploadedBy, &a.UploaderName, &a.UploadedAt,
		&a.blobID, &a.blobSize, &a.SealingID, &a.wrapped.KEK.Provider, &a.wrapped.KEK.KeyID, &a.wrapped.KEK.Version, &a.wrapped.Ciphertext)
	return &a, err
}

func (s *WikiAttachmentService) find(ctx context.Context, op, tenantID, pageID, where string, args ...any) ([]*storedAttachment, error) {
	rows, err := s.db.Pool.Query(ctx, attachmentSQL+where, append([]any{tenantID, pageID}, args...)...)
	if err != nil {
		return nil, dbError(op, err)
	}
	list, err := pgx.CollectRows(rows, scanAttachment)
	return list, dbError(op, err)
}

// Attachments lists a readable page's attachments by name.
func (s *WikiAttachmentService) Attachments(ctx context.Context, tenantID, space, slug string, viewer *tma.User) ([]*tma.WikiAttachment, error) {
	_, p, err := findPage(ctx, s.db.Pool, tenantID, space, slug, 0, viewer, false)
	if err != nil {
		return nil, dbError("WikiAttachmentService.Attachments", err)
	}
	list, err := s.find(ctx, "WikiAttachmentService.Attachments", tenantID, p.ID, `ORDER BY lower(a.name) LIMIT 1000`)
	if err != nil {
		return nil, err
	}
	out := make([]*tma.WikiAttachment, 0, len(list))
	for _, a := range list {
		out = append(out, &a.WikiAttachment)
	}
	return out, nil
}

// Attachment returns a readable page's attachment by name.
func (s *WikiAttachmentService) Attachment(ctx context.Context, tenantID, space, slug, name string, viewer *tma.User) (*tma.WikiAttachment, error) {
	_, p, err := findPage(ctx, s.db.Pool, tenantID, space, slug, 0, viewer, false)
	if err != nil {
		return nil, dbError("WikiAttachmentService.Attachment", err)
	}
	list, err := s.find(ctx, "WikiAttachmentService.Attachment", tenantID, p.ID, `AND lower(a.name) = lower($3)`, name)
	if err != nil {
		return nil, err
	}
	if len(list) != 1 {
		return nil, tma.Errorf(tma.ENOTFOUND, msgNoAttachment)
	}
	return &list[0].WikiAttachment, nil
}

// Upload checks the upload, streams it sealed into the blob store, then
// registers blob and attachment (replacing one of the same name) with the
// audit event in one transaction.
func (s *WikiAttachmentService) Upload(ctx context.Context, tenantID, space, slug string, up tma.Upload, viewer *tma.User) (*tma.WikiAttachment, error) {
	const op = "WikiAttachmentService.Upload"
	actor := tma.ActorFromContext(ctx)
	sp, p, err := findPage(ctx, s.db.Pool, tenantID, space, slug, 0, viewer, false)
	if err != nil {
		return nil, dbError(op, err)
	}
	if !tma.CanEditPage(sp, p, viewer) || !tma.ValidID(actor.UserID) || actor.TenantID != tenantID {
		return nil, tma.Errorf(tma.EFORBIDDEN, msgWikiNoEdit)
	}
	name, err := tma.CleanFileName(up.Name)
	if err != nil {
		return nil, err
	}
	var allowed []string
	if err := s.db.Pool.QueryRow(ctx, `SELECT document_types FROM tenants WHERE id = $1`, tenantID).Scan(&allowed); err != nil {
		return nil, dbError(op, notFound(err, msgNoWikiPage))
	}
	if err := tma.CheckDocumentType(allowed, up.ContentType); err != nil {
		return nil, err
	}
	var first [1]byte
	if _, err := io.ReadFull(up.Body, first[:]); err == io.EOF {
		return nil, tma.Errorf(tma.EINVALID, msgEmptyFile)
	} else if err != nil {
		return nil, tma.Wrap(op, err)
	}
	body := io.MultiReader(bytes.NewReader(first[:]), up.Body)

	ref := tma.AttachmentRef{TenantID: tenantID, SpaceID: sp.ID, AttachmentID: tma.NewID()}
	blobID := tma.NewID()
	var aw tma.AttachmentWriter
	sw, blobSize, err := storeSealed(ctx, s.blobs, blobID, body, op, func(dst io.Writer) (tma.SealWriter, error) {
		w, err := s.cipher.Seal(ctx, ref, dst)
		aw = w
		return w, err
	})
	if err != nil {
		return nil, err
	}
	a := &tma.WikiAttachment{ID: ref.AttachmentID, PageID: p.ID, Name: name, ContentType: storedType(up.ContentType), Size: sw.Size(),
		SealingID: sw.SealingID(), UploadedBy: actor.UserID, UploaderName: actor.Label, UploadedAt: s.db.now()}
	if err := s.register(ctx, tenantID, a, blobID, blobSize, aw); err != nil {
		// GC is the backstop if this fails too: the blob has no row.
		_ = s.blobs.Delete(context.WithoutCancel(ctx), blobID)
		return nil, dbError(op, err)
	}
	s.storeText(ctx, ref, blobID, blobSize, aw, tma.ExtractType(name, up.ContentType))
	return a, nil
}

// register records blob and attachment, retiring a live attachment of the
// same name on the page, and the audit event.
func (s *WikiAttachmentService) register(ctx context.Context, tenantID string, a *tma.WikiAttachment, blobID string, blobSize int64, aw tma.AttachmentWriter) error {
	w := aw.WrappedKey()
	return s.db.inTx(ctx, "WikiAttachmentService.Upload", func(tx pgx.Tx) error {
		// The page row's lock serialises uploads to the page, so two
		// uploads of one name cannot both replace the old file.
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT true FROM wiki_pages WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, tenantID, a.PageID).Scan(&exists); err != nil {
			return notFound(err, msgNoWikiPage)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO blobs (id, tenant_id, case_id, size, sealing_id, created_at) VALUES ($1, $2, NULL, $3, $4, $5)`,
			blobID, tenantID, blobSize, a.SealingID, a.UploadedAt); err != nil {
			return err
		}
		replaced, err := s.retireByName(ctx, tx, tenantID, a.PageID, a.Name, a.UploadedBy, a.UploadedAt)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO wiki_attachments (tenant_id, id, page_id, name, content_type, size, blob_id,
				kek_provider, kek_id, kek_version, wrapped_key, digest_sealed, uploaded_by, uploaded_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
			tenantID, a.ID, a.PageID, a.Name, a.ContentType, a.Size, blobID,
			w.KEK.Provider, w.KEK.KeyID, w.KEK.Version, w.Ciphertext, aw.SealedDigest(), a.UploadedBy, a.UploadedAt); err != nil {
			return err
		}
		detail := attachmentDetail(a.PageID, a.ID) + " blob " + blobID + " " + a.ContentType + " " + strconv.FormatInt(a.Size, 10) + " bytes"
		if replaced != "" {
			detail += " replaces " + replaced
		}
		return s.db.audit(ctx, tx, tenantID, tma.AuditWikiAttachmentAdded, "wiki_page", a.PageID, detail)
	})
}

// retireByName marks the page's live attachment of that name deleted: its
// data key and blob reference go, its blobs row is deleted and blob GC
// removes the stream, and its sealed text goes (unreadable already without
// the key); the trigger on deleted_at takes it out of the search index. It
// returns the attachment's id, "" if there was none.
func (s *WikiAttachmentService) retireByName(ctx context.Context, tx pgx.Tx, tenantID, pageID, name, by string, now time.Time) (string, error) {
	var id, blobID string
	err := tx.QueryRow(ctx, `UPDATE wiki_attachments a SET deleted_at = $4, deleted_by = $5, blob_id = NULL,
			kek_provider = NULL, kek_id = NULL, kek_version = NULL, wrapped_key = NULL, digest_sealed = NULL
		FROM wiki_attachments old
		WHERE a.tenant_id = $1 AND a.page_id = $2 AND lower(a.name) = lower($3) AND a.deleted_at IS NULL
		  AND old.tenant_id = a.tenant_id AND old.id = a.id
		RETURNING a.id::text, old.blob_id::text`, tenantID, pageID, name, now, by).Scan(&id, &blobID)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	} else if err != nil {
		return "", err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM wiki_attachment_texts WHERE tenant_id = $1 AND attachment_id = $2`, tenantID, id); err != nil {
		return "", err
	}
	_, err = tx.Exec(ctx, `DELETE FROM blobs WHERE tenant_id = $1 AND id = $2`, tenantID, blobID)
	return id, err
}

// Open returns a reader of an attachment's plaintext. The read is audited
// once the stream's header has authenticated; an integrity failure is
// audited instead (and once more if a later segment fails).
func (s *WikiAttachmentService) Open(ctx context.Context, tenantID, space, slug, attachmentID string, off, n int64, why tma.DocumentAccess, viewer *tma.User) (io.ReadCloser, error) {
	const op = "WikiAttachmentService.Open"
	if !validAccess(why) {
		return nil, tma.Errorf(tma.EINTERNAL, "reading an attachment needs a reason for the audit log")
	}
	if !tma.ValidID(attachmentID) {
		return nil, tma.Errorf(tma.ENOTFOUND, msgNoAttachment)
	}
	sp, p, err := findPage(ctx, s.db.Pool, tenantID, space, slug, 0, viewer, false)
	if err != nil {
		return nil, dbError(op, err)
	}
	list, err := s.find(ctx, op, tenantID, p.ID, `AND a.id = $3`, attachmentID)
	if err != nil {
		return nil, err
	}
	if len(list) != 1 {
		return nil, tma.Errorf(tma.ENOTFOUND, msgNoAttachment)
	}
	a := list[0]
	corrupt := func(err error) {
		detail := attachmentDetail(p.ID, a.ID) + " blob " + a.blobID + ": " + tma.CleanText(tma.ErrorMessage(err), 300)
		actx := context.WithoutCancel(ctx)
		_ = s.db.inTx(actx, op, func(tx pgx.Tx) error {
			return s.db.audit(actx, tx, tenantID, tma.AuditIntegrityFailure, "wiki_attachment", a.ID, detail)
		})
	}
	ra := tma.NewBlobReaderAt(ctx, s.blobs, a.blobID, a.blobSize)
	ref := tma.AttachmentRef{TenantID: tenantID, SpaceID: sp.ID, AttachmentID: a.ID}
	r, err := s.cipher.Open(ctx, ref, a.wrapped, ra, a.blobSize, a.SealingID, off, n)
	if err != nil {
		ra.Close()
		if tma.ErrorCode(err) == tma.ENOTFOUND {
			err = &tma.Error{Code: tma.ECORRUPT, Op: op, Message: "blob missing from the store", Err: err}
		}
		if tma.ErrorCode(err) == tma.ECORRUPT {
			corrupt(err)
		}
		return nil, err
	}
	err = s.db.inTx(ctx, op, func(tx pgx.Tx) error {
		return s.db.audit(ctx, tx, tenantID, tma.AuditWikiAttachmentRead, "wiki_page", p.ID, attachmentDetail(p.ID, a.ID)+" "+string(why))
	})
	if err != nil {
		ra.Close()
		return nil, err
	}
	return &documentReader{r: r, ra: ra, corrupt: corrupt}, nil
}
