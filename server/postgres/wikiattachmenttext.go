package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/tma-portal/tma/server/tma"
)

// Attachment text: as for case documents (documenttext.go), right after an
// upload is registered its plaintext is read back from the blob store
// through the cipher, streaming, and handed to the extractor with its size
// (nothing read beyond tma.MaxExtractInput). A wiki attachment has no case
// key: the text is sealed under the attachment's own data key
// (AttachmentCipher.SealText), so it is rewrapped with the key on a KEK
// rotation and becomes unreadable when a replacement drops the key. It is
// stored in wiki_attachment_texts (migration 0022) in a transaction of its
// own, whose trigger writes the outbox row "wikifile:<id>" again: the index
// first gets the attachment by name, then with its text. Nothing of the
// bytes or the text goes to disk.

// storeText extracts, seals and stores the text of a registered
// attachment. It is best effort: the upload stands whatever happens here,
// and an attachment without a text row is searched by its name only.
func (s *WikiAttachmentService) storeText(ctx context.Context, ref tma.AttachmentRef, blobID string, blobSize int64, aw tma.AttachmentWriter, contentType string) {
	reason := "none"
	var sealed []byte
	if s.extract != nil {
		text, err := s.extractText(ctx, ref, blobID, blobSize, aw, contentType)
		reason = textReason(text, err)
		if reason == "" {
			plain := []byte(text)
			sealed, err = s.cipher.SealText(ctx, ref, aw.WrappedKey(), plain)
			clear(plain)
			if err != nil {
				sealed, reason = nil, "failed"
			}
		}
	}
	var why *string
	if sealed == nil {
		why = &reason
	}
	actx := context.WithoutCancel(ctx)
	_ = s.db.inTx(actx, "WikiAttachmentService.storeText", func(tx pgx.Tx) error {
		// The attachment may be replaced meanwhile: then no text. The row
		// lock keeps a replacement from retiring it between the check and
		// the commit (it would then delete this text in its own
		// transaction).
		_, err := tx.Exec(actx, `INSERT INTO wiki_attachment_texts (tenant_id, attachment_id, text, reason, created_at)
			SELECT $1, $2, $3, $4, $5 FROM wiki_attachments
			WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL FOR SHARE
			ON CONFLICT DO NOTHING`, ref.TenantID, ref.AttachmentID, sealed, why, s.db.now())
		return err
	})
}

// extractText reads the attachment's plaintext back and extracts its text.
func (s *WikiAttachmentService) extractText(ctx context.Context, ref tma.AttachmentRef, blobID string, blobSize int64, aw tma.AttachmentWriter, contentType string) (string, error) {
	if aw.Size() > tma.MaxExtractInput {
		return "", &tma.Error{Code: tma.ETOOLARGE, Op: "WikiAttachmentService.extractText"} // nothing read
	}
	ra := tma.NewBlobReaderAt(ctx, s.blobs, blobID, blobSize)
	defer ra.Close()
	r, err := s.cipher.Open(ctx, ref, aw.WrappedKey(), ra, blobSize, aw.SealingID(), 0, -1)
	if err != nil {
		return "", err
	}
	return s.extract.Extract(ctx, contentType, r, aw.Size())
}
