package crypt

import (
	"context"
	"io"

	"github.com/tma-portal/tma/server/tma"
)

// Attachments seals and opens the byte streams of wiki attachments. A wiki
// page belongs to no case, so there is no case key: each attachment gets a
// fresh random data key, wrapped by the tenant KEK of the key provider for
// the scope tma.AttachmentKeyScope (as SecretBox does for TOTP seeds), and
// that key takes the case key's place in the streaming format of doc.go,
// with the binding (tenant, "wiki:<space id>", attachment id, version 1).
// The plaintext's SHA-256 is sealed under the same key as a record (table
// "wiki_attachments", the attachment id, field "sha256"), and so is the
// text extracted for search (table "wiki_attachment_texts", field "text").
type Attachments struct{ keys tma.KeyProvider }

var _ tma.AttachmentCipher = (*Attachments)(nil)

// NewAttachments returns an AttachmentCipher whose data keys the key
// provider wraps.
func NewAttachments(keys tma.KeyProvider) *Attachments { return &Attachments{keys: keys} }

func attachmentBinding(ref tma.AttachmentRef) DocBinding {
	return DocBinding{TenantID: ref.TenantID, CaseID: "wiki:" + ref.SpaceID, DocumentID: ref.AttachmentID, Version: 1}
}

func attachmentDigestBinding(ref tma.AttachmentRef) RecordBinding {
	return RecordBinding{TenantID: ref.TenantID, CaseID: "wiki:" + ref.SpaceID, Table: "wiki_attachments", RowID: ref.AttachmentID, Field: "sha256"}
}

func attachmentTextBinding(ref tma.AttachmentRef) RecordBinding {
	return RecordBinding{TenantID: ref.TenantID, CaseID: "wiki:" + ref.SpaceID, Table: "wiki_attachment_texts", RowID: ref.AttachmentID, Field: "text"}
}

func validAttachmentRef(ref tma.AttachmentRef) error {
	if ref.TenantID == "" || ref.SpaceID == "" || ref.AttachmentID == "" {
		return tma.Errorf(tma.EINTERNAL, "an attachment needs a tenant, a space and an id")
	}
	return nil
}

// attachmentWriter is a Writer that also seals the plaintext's digest
// under the attachment's data key once it is closed; it holds that key
// until then and wipes it in Close.
type attachmentWriter struct {
	*Writer
	key     []byte
	wrapped tma.WrappedKey
	bind    RecordBinding
	digest  []byte
}

func (w *attachmentWriter) Close() error {
	if w.digest != nil {
		return nil
	}
	defer wipe(w.key)
	if err := w.Writer.Close(); err != nil {
		return err
	}
	d, err := SealRecord(w.key, w.bind, w.Sum())
	if err != nil {
		return err
	}
	w.digest = d
	return nil
}

func (w *attachmentWriter) WrappedKey() tma.WrappedKey { return w.wrapped }

func (w *attachmentWriter) SealedDigest() []byte { return w.digest }

// Seal implements tma.AttachmentCipher. The caller must Close the writer,
// which wipes the data key.
func (a *Attachments) Seal(ctx context.Context, ref tma.AttachmentRef, dst io.Writer) (tma.AttachmentWriter, error) {
	if err := validAttachmentRef(ref); err != nil {
		return nil, err
	}
	key, wrapped, err := a.keys.GenerateKey(ctx, tma.AttachmentKeyScope(ref.TenantID, ref.AttachmentID))
	if err != nil {
		return nil, tma.Wrap("crypt.Attachments.Seal", err)
	}
	w, err := NewWriter(dst, key, attachmentBinding(ref))
	if err != nil {
		wipe(key)
		return nil, err
	}
	return &attachmentWriter{Writer: w, key: key, wrapped: wrapped, bind: attachmentDigestBinding(ref)}, nil
}

// Open implements tma.AttachmentCipher.
func (a *Attachments) Open(ctx context.Context, ref tma.AttachmentRef, wrapped tma.WrappedKey, src io.ReaderAt, size int64, sealingID []byte, off, n int64) (io.Reader, error) {
	if err := validAttachmentRef(ref); err != nil {
		return nil, err
	}
	key, err := a.keys.Unwrap(ctx, tma.AttachmentKeyScope(ref.TenantID, ref.AttachmentID), wrapped)
	if err != nil {
		return nil, tma.Wrap("crypt.Attachments.Open", err)
	}
	defer wipe(key)
	r, err := NewRangeReader(src, size, key, attachmentBinding(ref), sealingID, off, n)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// SealText implements tma.AttachmentCipher: the text is a record under the
// attachment's own data key, which is unwrapped for it and wiped after.
func (a *Attachments) SealText(ctx context.Context, ref tma.AttachmentRef, wrapped tma.WrappedKey, text []byte) ([]byte, error) {
	if err := validAttachmentRef(ref); err != nil {
		return nil, err
	}
	key, err := a.keys.Unwrap(ctx, tma.AttachmentKeyScope(ref.TenantID, ref.AttachmentID), wrapped)
	if err != nil {
		return nil, tma.Wrap("crypt.Attachments.SealText", err)
	}
	defer wipe(key)
	return SealRecord(key, attachmentTextBinding(ref), text)
}

// OpenText implements tma.AttachmentCipher.
func (a *Attachments) OpenText(ctx context.Context, ref tma.AttachmentRef, wrapped tma.WrappedKey, sealed []byte) ([]byte, error) {
	if err := validAttachmentRef(ref); err != nil {
		return nil, err
	}
	key, err := a.keys.Unwrap(ctx, tma.AttachmentKeyScope(ref.TenantID, ref.AttachmentID), wrapped)
	if err != nil {
		return nil, tma.Wrap("crypt.Attachments.OpenText", err)
	}
	defer wipe(key)
	return OpenRecord(key, attachmentTextBinding(ref), sealed)
}
