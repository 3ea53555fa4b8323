package postgres

import (
	"context"
	"errors"
	"io"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tma-portal/tma/server/tma"
)

// Document text: the text of each uploaded version is found while the
// upload streams into the blob store, sealed with the case key and stored
// in document_texts in the upload's transaction, so that search never has
// to decrypt and parse the file again. The upload is teed into a pipe that
// the extractor reads in a goroutine: no copy of the bytes is kept here,
// and nothing goes to disk. The extractor holds at most
// tma.MaxExtractInput bytes, its own bound; beyond it, or for a type it
// does not read, it stops reading and the rest of the upload simply is not
// passed on.

// textRecord is where a version's text is sealed.
func textRecord(documentID string, version int) *tma.Record {
	return &tma.Record{Table: "document_texts", RowID: documentID + "@" + strconv.Itoa(version), Field: "text"}
}

// errTapDone ends the tee once the extractor has stopped reading.
var errTapDone = errors.New("extractor done")

// textTap is the extractor's end of an upload.
type textTap struct {
	pw      *io.PipeWriter
	stopped bool // the extractor stopped reading: drop the rest
	done    chan struct{}
	text    string
	err     error
}

// tapText starts the extractor on a pipe that the upload is teed into;
// nil without an extractor.
func (s *DocumentService) tapText(ctx context.Context, contentType string) *textTap {
	if s.extract == nil {
		return nil
	}
	pr, pw := io.Pipe()
	t := &textTap{pw: pw, done: make(chan struct{})}
	go func() {
		defer close(t.done)
		t.text, t.err = s.extract.Extract(ctx, contentType, pr, -1)
		pr.CloseWithError(errTapDone)
	}()
	return t
}

// Write passes p to the extractor. It never fails: the upload goes on
// whatever the extractor does.
func (t *textTap) Write(p []byte) (int, error) {
	if !t.stopped {
		if _, err := t.pw.Write(p); err != nil {
			t.stopped = true
		}
	}
	return len(p), nil
}

// finish tells the extractor that the upload ended (with uploadErr, nil
// for the end of the file) and waits for its text.
func (t *textTap) finish(uploadErr error) extractedText {
	if t == nil {
		return extractedText{reason: "none"}
	}
	t.pw.CloseWithError(uploadErr)
	<-t.done
	if uploadErr != nil {
		return extractedText{reason: "failed"}
	}
	return newExtractedText(t.text, t.err)
}

// extractedText is what the extractor found: text, or the reason why
// there is none.
type extractedText struct {
	text   string
	reason string // "" when there is text
}

func newExtractedText(text string, err error) extractedText {
	switch {
	case err == nil && text == "":
		return extractedText{reason: "none"}
	case err == nil:
		return extractedText{text: text}
	}
	switch tma.ErrorCode(err) {
	case tma.EINVALID:
		return extractedText{reason: "invalid"}
	case tma.ETOOLARGE:
		return extractedText{reason: "too_large"}
	case tma.EUNAVAILABLE:
		return extractedText{reason: "unavailable"}
	}
	return extractedText{reason: "failed"}
}

// record is the record to seal the text in; nil when there is no text.
func (e extractedText) record(ref tma.DocumentRef) *tma.Record {
	if e.reason != "" {
		return nil
	}
	r := textRecord(ref.DocumentID, ref.Version)
	r.Plain = []byte(e.text)
	return r
}

// store writes the version's row of document_texts: the sealed text of
// rec, or none with the reason.
func (e extractedText) store(ctx context.Context, tx pgx.Tx, ref tma.DocumentRef, rec *tma.Record, now time.Time) error {
	var sealed []byte
	var reason *string
	if rec != nil {
		sealed = rec.Sealed
	} else {
		reason = &e.reason
	}
	_, err := tx.Exec(ctx, `INSERT INTO document_texts (tenant_id, document_id, version, text, reason, created_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, ref.TenantID, ref.DocumentID, ref.Version, sealed, reason, now)
	return err
}
