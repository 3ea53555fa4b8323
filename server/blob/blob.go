// Package blob keeps encrypted documents in a filesystem directory (FS, the
// default) or an S3-compatible bucket (S3), both behind tma.BlobStore.
//
// The stores see only ciphertext under random ids; they never learn file
// names. What they must guarantee is that a blob is either complete under
// its id or absent: a failed, cancelled or crashed Put never leaves a
// truncated blob that a later read would take for the real one. Ids must
// pass tma.ValidID, which also rules out any path traversal.
package blob

import (
	"context"
	"fmt"
	"io"

	"github.com/tma-portal/tma/server/tma"
)

// User-safe messages. Blob ids stay out of them: they go to logs only.
const (
	msgInvalidID   = "Invalid blob id."
	msgNotFound    = "Blob not found."
	msgConflict    = "Blob already exists."
	msgRange       = "Invalid blob range."
	msgUnavailable = "Blob storage is unavailable."
)

func checkID(op, id string) error {
	if !tma.ValidID(id) {
		return &tma.Error{Code: tma.EINVALID, Op: op, Message: msgInvalidID}
	}
	return nil
}

func errNotFound(op, id string) error {
	return &tma.Error{Code: tma.ENOTFOUND, Op: op, Message: msgNotFound, Err: fmt.Errorf("blob %s", id)}
}

func errConflict(op, id string) error {
	return &tma.Error{Code: tma.ECONFLICT, Op: op, Message: msgConflict, Err: fmt.Errorf("blob %s", id)}
}

func errRange(op string) error {
	return &tma.Error{Code: tma.EINVALID, Op: op, Message: msgRange}
}

// ctxReader stops a Put between two reads once ctx is done, because the
// source (often a request body) may not watch ctx itself.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
