package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tma-portal/tma/server/tma"
)

// BlobRegistry records which blobs in the blob store a database row owns,
// so that blob GC can tell an orphan (a crashed upload) from a document.
type BlobRegistry struct{ db *DB }

// NewBlobRegistry returns a BlobRegistry on db.
func NewBlobRegistry(db *DB) *BlobRegistry { return &BlobRegistry{db: db} }

// sealingIDSize is the size of a stream's sealing id (crypt.SealingIDSize;
// adapters do not import each other).
const sealingIDSize = 32

// BlobInfo is what the registry holds about one blob.
type BlobInfo struct {
	ID, TenantID, CaseID string // CaseID is empty for a tenant's blob
	Size                 int64
	// SealingID names the one stream sealing that readers accept
	// (crypt.Writer.SealingID); pass it to crypt.NewReader and
	// crypt.NewRangeReader. Required for a case's blob.
	SealingID []byte
	// SealedDigest is the plaintext's SHA-256 sealed with the case key
	// (crypt.SealRecord), or nil. Never a clear digest.
	SealedDigest []byte
}

// RegisterBlob records that the tenant owns blob b.ID, of case b.CaseID
// unless it is empty. Register a blob after its Put succeeded and before
// anything refers to it: until then GC sees an orphan, which is why it
// waits for a grace period. A case's blob needs its sealing id; a digest
// of its plaintext may only be stored sealed. ENOTFOUND if the case is not
// the tenant's, ECONFLICT if the blob is registered already.
func (r *BlobRegistry) RegisterBlob(ctx context.Context, b BlobInfo) error {
	if !tma.ValidID(b.TenantID) || (b.CaseID != "" && !tma.ValidID(b.CaseID)) {
		return tma.Errorf(tma.ENOTFOUND, msgNoCase)
	}
	if !tma.ValidID(b.ID) || b.Size < 0 {
		return tma.Errorf(tma.EINVALID, "Invalid blob id or size.")
	}
	if (b.CaseID != "" || b.SealingID != nil) && len(b.SealingID) != sealingIDSize {
		return tma.Errorf(tma.EINTERNAL, "A case's blob needs the id of its sealing.")
	}
	// A sealed digest is longer than a clear one (format, salt, commitment
	// and tag): refuse anything that could be a clear SHA-256.
	if b.SealedDigest != nil && (b.CaseID == "" || len(b.SealedDigest) <= 64) {
		return tma.Errorf(tma.EINTERNAL, "A blob's digest must be sealed with its case key.")
	}
	return r.db.inTx(ctx, "BlobRegistry.RegisterBlob", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			INSERT INTO blobs (id, tenant_id, case_id, size, sealing_id, sealed_digest, created_at)
			SELECT $1, $2, NULLIF($3, '')::uuid, $4, $5, $6, $7
			WHERE $3 = '' OR EXISTS (SELECT 1 FROM cases WHERE tenant_id = $2 AND id = NULLIF($3, '')::uuid)`,
			b.ID, b.TenantID, b.CaseID, b.Size, b.SealingID, b.SealedDigest, r.db.now())
		switch {
		case isUniqueViolation(err):
			return tma.Errorf(tma.ECONFLICT, "The blob is registered already.")
		case isForeignKeyViolation(err):
			return tma.Errorf(tma.ENOTFOUND, "No such tenant.")
		case err != nil:
			return err
		case tag.RowsAffected() == 0:
			return tma.Errorf(tma.ENOTFOUND, msgNoCase)
		}
		return nil
	})
}

// Blob returns what the registry holds about the tenant's blob id.
// ENOTFOUND if the tenant has no such blob.
func (r *BlobRegistry) Blob(ctx context.Context, tenantID, blobID string) (*BlobInfo, error) {
	if !tma.ValidID(tenantID) || !tma.ValidID(blobID) {
		return nil, tma.Errorf(tma.ENOTFOUND, msgNoBlob)
	}
	b := &BlobInfo{ID: blobID, TenantID: tenantID}
	err := r.db.Pool.QueryRow(ctx, `
		SELECT coalesce(case_id::text, ''), size, sealing_id, sealed_digest
		FROM blobs WHERE tenant_id = $1 AND id = $2`, tenantID, blobID).
		Scan(&b.CaseID, &b.Size, &b.SealingID, &b.SealedDigest)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, tma.Errorf(tma.ENOTFOUND, msgNoBlob)
	}
	if err != nil {
		return nil, dbError("BlobRegistry.Blob", err)
	}
	return b, nil
}

const msgNoBlob = "No such document."

// ReferencedBlobs reports which of ids a row owns. It looks across all
// tenants, because the blob store is shared and GC runs for all of them;
// ids that are not valid blob ids are never referenced.
func (r *BlobRegistry) ReferencedBlobs(ctx context.Context, ids []string) (map[string]bool, error) {
	valid := make([]string, 0, len(ids))
	for _, id := range ids {
		if tma.ValidID(id) {
			valid = append(valid, id)
		}
	}
	found := make(map[string]bool, len(valid))
	if len(valid) == 0 {
		return found, nil
	}
	rows, err := r.db.Pool.Query(ctx, `SELECT id::text FROM blobs WHERE id = ANY($1::uuid[])`, valid)
	if err != nil {
		return nil, dbError("BlobRegistry.ReferencedBlobs", err)
	}
	refs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, dbError("BlobRegistry.ReferencedBlobs", err)
	}
	for _, id := range refs {
		found[id] = true
	}
	return found, nil
}

// isForeignKeyViolation reports whether err is a foreign_key_violation.
func isForeignKeyViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23503"
}
