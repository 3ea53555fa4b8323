package tma

import (
	"context"
	"io"
	"time"
)

// BlobInfo describes a stored blob.
type BlobInfo struct {
	ID      string
	Size    int64
	ModTime time.Time
}

// BlobStore keeps opaque, already encrypted blobs under random ids. It never
// sees plaintext or file names.
type BlobStore interface {
	// Put stores everything read from r under id. Either the whole blob is
	// stored under id or nothing is: a failed or cancelled Put never leaves
	// a partial blob under its final name. ECONFLICT if id exists.
	Put(ctx context.Context, id string, r io.Reader) (int64, error)
	// Open returns the blob. ENOTFOUND if there is no such blob.
	Open(ctx context.Context, id string) (io.ReadCloser, error)
	// OpenRange returns n bytes from offset off (n < 0: to the end).
	OpenRange(ctx context.Context, id string, off, n int64) (io.ReadCloser, error)
	// Stat returns the blob's size and time. ENOTFOUND if missing.
	Stat(ctx context.Context, id string) (BlobInfo, error)
	// Delete removes the blob. Deleting a missing blob is not an error.
	Delete(ctx context.Context, id string) error
	// List calls fn for every blob, in no particular order.
	List(ctx context.Context, fn func(BlobInfo) error) error
}
