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

// RegisterBlob records that the tenant owns blob id, of a case unless
// caseID is empty. Register a blob after its Put succeeded and before
// anything refers to it: until then GC sees an orphan, which is why it
// waits for a grace period. ENOTFOUND if the case is not the tenant's,
// ECONFLICT if the blob is registered already.
func (r *BlobRegistry) RegisterBlob(ctx context.Context, tenantID, caseID, blobID string, size int64, sha256 []byte) error {
	if !tma.ValidID(tenantID) || (caseID != "" && !tma.ValidID(caseID)) {
		return tma.Errorf(tma.ENOTFOUND, msgNoCase)
	}
	if !tma.ValidID(blobID) || size < 0 {
		return tma.Errorf(tma.EINVALID, "Invalid blob id or size.")
	}
	return r.db.inTx(ctx, "BlobRegistry.RegisterBlob", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			INSERT INTO blobs (id, tenant_id, case_id, size, sha256, created_at)
			SELECT $1, $2, NULLIF($3, '')::uuid, $4, $5, $6
			WHERE $3 = '' OR EXISTS (SELECT 1 FROM cases WHERE tenant_id = $2 AND id = NULLIF($3, '')::uuid)`,
			blobID, tenantID, caseID, size, sha256, r.db.now())
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
