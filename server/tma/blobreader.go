package tma

import (
	"context"
	"io"
	"sync"
)

// BlobReaderAt reads a stored blob of size bytes as an io.ReaderAt, for
// DocumentCipher.Open. Readers of a sealed stream read the header and then
// the segments in order, so it serves consecutive ReadAt calls from one
// open range stream and opens a new one only when a read does not continue
// where the last one stopped: one request per seek, not one per segment.
// Close closes the open stream.
type BlobReaderAt struct {
	ctx   context.Context
	store BlobStore
	id    string
	size  int64

	mu  sync.Mutex
	rc  io.ReadCloser // open from pos to the end, or nil
	pos int64
}

// NewBlobReaderAt returns a reader of the blob id of size bytes in store.
func NewBlobReaderAt(ctx context.Context, store BlobStore, id string, size int64) *BlobReaderAt {
	return &BlobReaderAt{ctx: ctx, store: store, id: id, size: size}
}

// ReadAt implements io.ReaderAt. A blob shorter than its size ends in
// io.EOF early, which a stream reader reports as truncation.
func (b *BlobReaderAt) ReadAt(p []byte, off int64) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if off < 0 {
		return 0, Errorf(EINVALID, "Invalid blob range.")
	}
	if off >= b.size {
		return 0, io.EOF
	}
	if b.rc == nil || b.pos != off {
		b.closeLocked()
		rc, err := b.store.OpenRange(b.ctx, b.id, off, b.size-off)
		if err != nil {
			return 0, err
		}
		b.rc, b.pos = rc, off
	}
	want := p
	short := false
	if rest := b.size - off; int64(len(want)) > rest {
		want, short = want[:rest], true
	}
	n, err := io.ReadFull(b.rc, want)
	b.pos += int64(n)
	switch {
	case err == io.ErrUnexpectedEOF || err == io.EOF:
		b.closeLocked()
		return n, io.EOF
	case err != nil:
		b.closeLocked()
		return n, err
	case short:
		return n, io.EOF
	}
	return n, nil
}

func (b *BlobReaderAt) closeLocked() {
	if b.rc != nil {
		_ = b.rc.Close()
		b.rc = nil
	}
}

// Close closes the open range stream, if any. The reader may be used again
// afterwards; it then opens a new stream.
func (b *BlobReaderAt) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	var err error
	if b.rc != nil {
		err = b.rc.Close()
		b.rc = nil
	}
	return err
}
