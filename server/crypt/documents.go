package crypt

import (
	"context"
	"io"

	"github.com/tma-portal/tma/server/tma"
)

// Documents seals and opens the byte streams of document versions under
// the case key, in the streaming format of doc.go, bound to tenant, case,
// document and version. As with CaseRecords, new streams are sealed only
// under the checked key (SealingKey), never a cached one that a shred may
// have destroyed; reading may use the cache.
type Documents struct {
	keys tma.CaseKeyService
}

var _ tma.DocumentCipher = (*Documents)(nil)

// NewDocuments returns a DocumentCipher that takes case keys from keys.
func NewDocuments(keys tma.CaseKeyService) *Documents { return &Documents{keys: keys} }

func docBinding(ref tma.DocumentRef) DocBinding {
	return DocBinding{TenantID: ref.TenantID, CaseID: ref.CaseID, DocumentID: ref.DocumentID, Version: ref.Version}
}

// Seal returns a writer that encrypts into dst. The case key is wiped
// before Seal returns: the writer holds only the stream's own data key.
func (d *Documents) Seal(ctx context.Context, ref tma.DocumentRef, dst io.Writer) (tma.SealWriter, error) {
	key, err := d.keys.SealingKey(ctx, ref.TenantID, ref.CaseID)
	if err != nil {
		return nil, err
	}
	defer wipe(key)
	w, err := NewWriter(dst, key, docBinding(ref))
	if err != nil {
		return nil, err
	}
	return w, nil
}

// Open returns a reader of the plaintext bytes [off, off+n) of the stream
// in src, which must be the sealing sealingID names.
func (d *Documents) Open(ctx context.Context, ref tma.DocumentRef, src io.ReaderAt, size int64, sealingID []byte, off, n int64) (io.Reader, error) {
	key, err := d.keys.CaseKey(ctx, ref.TenantID, ref.CaseID)
	if err != nil {
		return nil, err
	}
	defer wipe(key)
	r, err := NewRangeReader(src, size, key, docBinding(ref), sealingID, off, n)
	if err != nil {
		return nil, err
	}
	return r, nil
}
