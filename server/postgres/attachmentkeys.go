package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/tma-portal/tma/server/tma"
)

// The data keys of wiki attachments (migration 0017) are wrapped by the
// tenant KEK directly, like the data keys of sealed TOTP seeds: a rotation
// rewraps them, and a retirement counts them as users of a version, so that
// retiring an old version never makes an attachment unreadable.

// attachmentKeyRefs counts the tenant's live attachment data keys by the
// KEK that wraps them. q may be the pool or a transaction.
func attachmentKeyRefs(ctx context.Context, q querierRows, tenantID string) (map[tma.KEKRef]int, error) {
	return countKEKRefs(ctx, q, `SELECT kek_provider, kek_id, kek_version, count(*) FROM wiki_attachments
		WHERE tenant_id = $1 AND deleted_at IS NULL GROUP BY 1, 2, 3`, tenantID)
}

// wrappedRefs counts, by KEK, everything of the tenant besides case keys
// that the KEK wraps directly: sealed secrets and attachment data keys.
func (s *CaseKeyService) wrappedRefs(ctx context.Context, q querierRows, tenantID string) (map[tma.KEKRef]int, error) {
	refs, err := s.secretRefs(ctx, q, tenantID)
	if err != nil {
		return nil, err
	}
	att, err := attachmentKeyRefs(ctx, q, tenantID)
	if err != nil {
		return nil, err
	}
	for ref, n := range att {
		refs[ref] += n
	}
	return refs, nil
}

// rewrapAttachments rewraps the data keys of the tenant's live attachments
// that are stale for the target, with the provider's Rewrap (KMS does it
// without revealing the key). Each update applies only if the row still
// holds what was read, so an attachment replaced meanwhile is not brought
// back. It returns how many it rewrapped.
func (s *CaseKeyService) rewrapAttachments(ctx context.Context, tenantID string, target tma.KEKRef) (int, error) {
	rows, err := s.db.Pool.Query(ctx, `SELECT id::text, kek_provider, kek_id, kek_version, wrapped_key FROM wiki_attachments
		WHERE tenant_id = $1 AND deleted_at IS NULL AND (kek_provider <> $2 OR kek_id <> $3 OR kek_version < $4)
		ORDER BY id`, tenantID, target.Provider, target.KeyID, target.Version)
	if err != nil {
		return 0, err
	}
	type stale struct {
		id  string
		old tma.WrappedKey
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (stale, error) {
		var k stale
		return k, r.Scan(&k.id, &k.old.KEK.Provider, &k.old.KEK.KeyID, &k.old.KEK.Version, &k.old.Ciphertext)
	})
	if err != nil || len(list) == 0 {
		return 0, err
	}
	if s.kp == nil {
		return 0, tma.Errorf(tma.EINTERNAL, "the tenant has wiki attachments, and this service was made without a key provider")
	}
	n := 0
	for _, k := range list {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		w, err := s.kp.Rewrap(ctx, tma.AttachmentKeyScope(tenantID, k.id), k.old, target)
		if err != nil {
			return n, fmt.Errorf("rewrap data key of wiki attachment %s: %w", k.id, err)
		}
		tag, err := s.db.Pool.Exec(ctx, `UPDATE wiki_attachments SET kek_provider = $3, kek_id = $4, kek_version = $5, wrapped_key = $6, rotated_at = $7
			WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL
			  AND kek_provider = $8 AND kek_id = $9 AND kek_version = $10 AND wrapped_key = $11`,
			tenantID, k.id, w.KEK.Provider, w.KEK.KeyID, w.KEK.Version, w.Ciphertext, s.db.now(),
			k.old.KEK.Provider, k.old.KEK.KeyID, k.old.KEK.Version, k.old.Ciphertext)
		if err != nil {
			return n, err
		}
		if tag.RowsAffected() == 1 {
			if err := reopenEpoch(ctx, s.db.Pool, tenantID, k.old.KEK); err != nil {
				return n, err
			}
		}
		n += int(tag.RowsAffected())
	}
	return n, nil
}
