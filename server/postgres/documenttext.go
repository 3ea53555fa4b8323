package postgres

import (
	"context"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/tma-portal/tma/server/tma"
)

// Document text: right after an upload is registered, its plaintext is
// read back from the blob store through the cipher, streaming, and handed
// to the extractor with its size, so that a file beyond
// tma.MaxExtractInput is refused without a byte read (a tee of the upload
// could not know the size in advance and would have to buffer up to the
// limit of every large upload). The text is sealed with the case key and
// stored in document_texts in a transaction of its own, whose trigger
// writes the outbox row again: the index first gets the version with its
// name, then with its text. Search never decrypts and parses the file
// again. Nothing of the bytes or the text goes to disk.

// textRecord is where a version's text is sealed.
func textRecord(documentID string, version int) *tma.Record {
	return &tma.Record{Table: "document_texts", RowID: documentID + "@" + strconv.Itoa(version), Field: "text"}
}

// storeText extracts, seals and stores the text of a registered version.
// It is best effort: the upload stands whatever happens here, and a
// version without a document_texts row is searched by its name only.
func (s *DocumentService) storeText(ctx context.Context, ref tma.DocumentRef, blobID string, blobSize int64, sw tma.SealWriter, contentType string) {
	reason := "none"
	var rec *tma.Record
	if s.extract != nil {
		text, err := s.extractText(ctx, ref, blobID, blobSize, sw, contentType)
		reason = textReason(text, err)
		if reason == "" {
			rec = textRecord(ref.DocumentID, ref.Version)
			rec.Plain = []byte(text)
			err := s.sealer.Seal(ctx, ref.TenantID, ref.CaseID, []*tma.Record{rec})
			clear(rec.Plain)
			if err != nil {
				rec, reason = nil, "failed"
			}
		}
	}
	var sealed []byte
	var why *string
	if rec != nil {
		sealed = rec.Sealed
	} else {
		why = &reason
	}
	_ = s.db.inTx(context.WithoutCancel(ctx), "DocumentService.storeText", func(tx pgx.Tx) error {
		// The version may be gone meanwhile (a deletion): then no text.
		_, err := tx.Exec(context.WithoutCancel(ctx), `INSERT INTO document_texts (tenant_id, document_id, version, text, reason, created_at)
			SELECT $1, $2, $3, $4, $5, $6 FROM document_versions
			WHERE tenant_id = $1 AND document_id = $2 AND version = $3 AND deleted_at IS NULL
			ON CONFLICT DO NOTHING`, ref.TenantID, ref.DocumentID, ref.Version, sealed, why, s.db.now())
		return err
	})
}

// extractText reads the version's plaintext back and extracts its text.
func (s *DocumentService) extractText(ctx context.Context, ref tma.DocumentRef, blobID string, blobSize int64, sw tma.SealWriter, contentType string) (string, error) {
	if sw.Size() > tma.MaxExtractInput {
		return "", &tma.Error{Code: tma.ETOOLARGE, Op: "DocumentService.extractText"} // nothing read
	}
	ra := tma.NewBlobReaderAt(ctx, s.blobs, blobID, blobSize)
	defer ra.Close()
	r, err := s.cipher.Open(ctx, ref, ra, blobSize, sw.SealingID(), 0, -1)
	if err != nil {
		return "", err
	}
	return s.extract.Extract(ctx, contentType, r, sw.Size())
}

// textReason is why there is no text to store, or "" when there is.
func textReason(text string, err error) string {
	switch {
	case err == nil && text == "":
		return "none"
	case err == nil:
		return ""
	}
	switch tma.ErrorCode(err) {
	case tma.EINVALID:
		return "invalid"
	case tma.ETOOLARGE:
		return "too_large"
	case tma.EUNAVAILABLE:
		return "unavailable"
	}
	return "failed"
}
