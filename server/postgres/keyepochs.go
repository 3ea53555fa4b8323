package postgres

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tma-portal/tma/server/tma"
)

// Shred epochs (migration 0005, table key_epochs). A shred removes a case
// key from the live database, but backups taken before it still hold the
// key wrapped under the KEK version of the time. The shred reaches those
// backups when that KEK version is destroyed, which is safe once (1) no live
// case key or sealed secret is wrapped under it, which a finished rotation
// ensures, and (2) every backup taken before that rotation finished has
// expired, which the backup retention bounds. key_epochs records, per
// tenant and KEK version, when a finished rotation replaced it and when it
// was retired.

// recordEpochs records the rotation's target and every KEK version that the
// tenant's case key rows (live, or tombstones of shredded keys) and sealed
// secrets name, so that a later retirement knows which versions exist.
func (s *CaseKeyService) recordEpochs(ctx context.Context, tenantID string, target tma.KEKRef) error {
	refs, err := s.wrappedRefs(ctx, s.db.Pool, tenantID)
	if err != nil {
		return err
	}
	refs[target]++
	now := s.db.now()
	return s.db.inTx(ctx, "CaseKeyService.recordEpochs", func(tx pgx.Tx) error {
		for ref := range refs {
			if _, err := tx.Exec(ctx, `
				INSERT INTO key_epochs (tenant_id, kek_provider, kek_id, kek_version, started_at)
				VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
				tenantID, ref.Provider, ref.KeyID, ref.Version, now); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `
			INSERT INTO key_epochs (tenant_id, kek_provider, kek_id, kek_version, started_at)
			SELECT tenant_id, kek_provider, kek_id, kek_version, min(created_at) FROM case_keys
			WHERE tenant_id = $1 AND kek_provider <> ''
			GROUP BY tenant_id, kek_provider, kek_id, kek_version
			ON CONFLICT DO NOTHING`, tenantID)
		return err
	})
}

// sealedSecret is one sealed TOTP seed column of a user.
type sealedSecret struct {
	userID, column, stored string
	sealed                 []byte
}

// sealedSecrets lists the tenant's sealed secrets.
func sealedSecrets(ctx context.Context, q querierRows, tenantID string) ([]sealedSecret, error) {
	rows, err := q.Query(ctx, `SELECT id::text, totp_secret, totp_pending FROM users
		WHERE tenant_id = $1 AND (totp_secret LIKE 'sealed:%' OR totp_pending LIKE 'sealed:%')`, tenantID)
	if err != nil {
		return nil, err
	}
	var out []sealedSecret
	for rows.Next() {
		var id string
		var secret, pending *string
		if err := rows.Scan(&id, &secret, &pending); err != nil {
			rows.Close()
			return nil, err
		}
		for col, v := range map[string]*string{"totp_secret": secret, "totp_pending": pending} {
			if v == nil {
				continue
			}
			enc, ok := strings.CutPrefix(*v, sealedPrefix)
			if !ok {
				continue
			}
			raw, err := base64.RawStdEncoding.DecodeString(enc)
			if err != nil {
				rows.Close()
				return nil, &tma.Error{Code: tma.ECORRUPT, Op: "sealedSecrets", Message: "A sealed TOTP seed is damaged.", Err: err}
			}
			out = append(out, sealedSecret{userID: id, column: col, stored: *v, sealed: raw})
		}
	}
	return out, rows.Err()
}

// querierRows is what sealedSecrets needs of a pool.
type querierRows interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}

// secretRefs counts the tenant's sealed secrets by the KEK that wraps their
// data keys. q may be the pool or a transaction.
func (s *CaseKeyService) secretRefs(ctx context.Context, q querierRows, tenantID string) (map[tma.KEKRef]int, error) {
	list, err := sealedSecrets(ctx, q, tenantID)
	if err != nil {
		return nil, err
	}
	refs := map[tma.KEKRef]int{}
	if len(list) > 0 && s.secrets == nil {
		return nil, tma.Errorf(tma.EINTERNAL, "the tenant has sealed secrets, and this service was made without a sealer")
	}
	for _, sc := range list {
		ref, err := s.secrets.SecretKEK(sc.sealed)
		if err != nil {
			return nil, err
		}
		refs[ref]++
	}
	return refs, nil
}

// rewrapSecrets rewraps the data keys of the tenant's sealed secrets that
// are stale for the target. Each update applies only if the column still
// holds what was read, so a seed changed meanwhile is left to the next walk.
// It returns how many it rewrapped.
func (s *CaseKeyService) rewrapSecrets(ctx context.Context, tenantID string, target tma.KEKRef) (int, error) {
	list, err := sealedSecrets(ctx, s.db.Pool, tenantID)
	if err != nil || len(list) == 0 {
		return 0, err
	}
	if s.secrets == nil {
		return 0, tma.Errorf(tma.EINTERNAL, "the tenant has sealed secrets, and this service was made without a sealer")
	}
	n := 0
	for _, sc := range list {
		ref, err := s.secrets.SecretKEK(sc.sealed)
		if err != nil {
			return n, err
		}
		if !isStale(ref, target) {
			continue
		}
		scope := tma.SecretScope{TenantID: tenantID, UserID: sc.userID, Purpose: "totp"}
		out, err := s.secrets.RewrapSecret(ctx, scope, sc.sealed, target)
		if err != nil {
			return n, fmt.Errorf("rewrap sealed secret: %w", err)
		}
		stored := sealedPrefix + base64.RawStdEncoding.EncodeToString(out)
		// The column name comes from the fixed list in sealedSecrets.
		tag, err := s.db.Pool.Exec(ctx, `UPDATE users SET `+sc.column+` = $4
			WHERE tenant_id = $1 AND id = $2 AND `+sc.column+` = $3`, tenantID, sc.userID, sc.stored, stored)
		if err != nil {
			return n, err
		}
		if tag.RowsAffected() == 1 {
			if err := reopenEpoch(ctx, s.db.Pool, tenantID, ref); err != nil {
				return n, err
			}
		}
		n += int(tag.RowsAffected())
	}
	return n, nil
}

// reopenEpoch records that a live key or secret was still under ref until
// now (a rotation just moved it off): the version's epoch is open again, and
// the end of this rotation, not an earlier one, starts its retention. A key
// made under a version just before an earlier rotation finished would
// otherwise let retire count from that earlier rotation and destroy the
// version while backups taken since still need it.
func reopenEpoch(ctx context.Context, q querier, tenantID string, ref tma.KEKRef) error {
	_, err := q.Exec(ctx, `UPDATE key_epochs SET replaced_at = NULL
		WHERE tenant_id = $1 AND kek_provider = $2 AND kek_id = $3 AND kek_version = $4 AND retired_at IS NULL`,
		tenantID, ref.Provider, ref.KeyID, ref.Version)
	return err
}

// markReplaced ends, at the end of a rotation to target, the epochs of the
// versions that nothing live of the tenant uses any more. secrets are the
// tenant's sealed secrets by KEK.
func (s *CaseKeyService) markReplaced(ctx context.Context, tx pgx.Tx, tenantID string, target tma.KEKRef, secrets map[tma.KEKRef]int) error {
	live, err := liveCaseKeyRefs(ctx, tx, tenantID)
	if err != nil {
		return err
	}
	rows, err := tx.Query(ctx, `SELECT kek_provider, kek_id, kek_version FROM key_epochs
		WHERE tenant_id = $1 AND replaced_at IS NULL FOR UPDATE`, tenantID)
	if err != nil {
		return err
	}
	open, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (tma.KEKRef, error) {
		var ref tma.KEKRef
		return ref, r.Scan(&ref.Provider, &ref.KeyID, &ref.Version)
	})
	if err != nil {
		return err
	}
	now := s.db.now()
	for _, ref := range open {
		if ref == target || live[ref] > 0 || secrets[ref] > 0 {
			continue
		}
		if _, err := tx.Exec(ctx, `UPDATE key_epochs SET replaced_at = $5
			WHERE tenant_id = $1 AND kek_provider = $2 AND kek_id = $3 AND kek_version = $4`,
			tenantID, ref.Provider, ref.KeyID, ref.Version, now); err != nil {
			return err
		}
	}
	return nil
}

// liveCaseKeyRefs counts the tenant's live case keys by KEK.
func liveCaseKeyRefs(ctx context.Context, q querierRows, tenantID string) (map[tma.KEKRef]int, error) {
	return countKEKRefs(ctx, q, `SELECT kek_provider, kek_id, kek_version, count(*) FROM case_keys
		WHERE tenant_id = $1 AND shredded_at IS NULL GROUP BY 1, 2, 3`, tenantID)
}

// countKEKRefs runs sql, which selects (kek_provider, kek_id, kek_version,
// count) rows, and returns the counts by KEK.
func countKEKRefs(ctx context.Context, q querierRows, sql string, args ...any) (map[tma.KEKRef]int, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[tma.KEKRef]int{}
	for rows.Next() {
		var ref tma.KEKRef
		var n int
		if err := rows.Scan(&ref.Provider, &ref.KeyID, &ref.Version, &n); err != nil {
			return nil, err
		}
		out[ref] = n
	}
	return out, rows.Err()
}

// RetireReport is what RetireTenant did and what it left.
type RetireReport struct {
	Retired []tma.RetiredKEK
	// Waiting are replaced versions that backups may still need, with the
	// time from which they can be retired.
	Waiting []RetireWaiting
	// InUse are old versions that live keys or secrets still use: a
	// rotation must finish first.
	InUse []tma.KEKRef
	// Kept are versions the key provider does not destroy for one tenant
	// (a shared KMS key), with its reason.
	Kept []RetireKept
}

// RetireWaiting is a version that may be retired from Possible on.
type RetireWaiting struct {
	KEK      tma.KEKRef
	Possible time.Time
}

// RetireKept is a version that the key provider keeps, and why.
type RetireKept struct {
	KEK    tma.KEKRef
	Reason string
}

// RetireTenant destroys every old KEK version of the tenant that no live
// case key or sealed secret uses and that a rotation replaced more than
// retention ago: from then on no backup can hold a case key wrapped under
// it, so the copies of shredded keys in backups become unreadable for good.
//
// It refuses (ECONFLICT, naming the date when it becomes possible) when no
// version can be retired yet but some will be, and while a rotation of the
// tenant is pending or running. Each retirement and each refusal is
// audited.
func (s *CaseKeyService) RetireTenant(ctx context.Context, tenantID string, retention time.Duration) (*RetireReport, error) {
	const op = "CaseKeyService.RetireTenant"
	if !tma.ValidID(tenantID) {
		return nil, tma.Errorf(tma.ENOTFOUND, "No such tenant.")
	}
	if retention < 0 {
		return nil, tma.Errorf(tma.EINVALID, "The backup retention must not be negative.")
	}
	// No rotation may run meanwhile: it could be about to use a version.
	_, unlock, err := s.lockRotation(ctx, tenantID)
	if err != nil {
		return nil, dbError(op, err)
	}
	defer unlock()
	if p, err := s.PendingRotation(ctx, tenantID); err != nil {
		return nil, err
	} else if p != nil {
		return nil, tma.Errorf(tma.ECONFLICT, "A key rotation of this tenant is unfinished; run `tma keys rotate` to finish it first.")
	}
	cur, err := s.kp.Current(ctx, tenantID)
	if err != nil {
		return nil, dbError(op, err)
	}
	live, err := liveCaseKeyRefs(ctx, s.db.Pool, tenantID)
	if err != nil {
		return nil, dbError(op, err)
	}
	secrets, err := s.wrappedRefs(ctx, s.db.Pool, tenantID)
	if err != nil {
		return nil, dbError(op, err)
	}
	rows, err := s.db.Pool.Query(ctx, `SELECT kek_provider, kek_id, kek_version, replaced_at FROM key_epochs
		WHERE tenant_id = $1 AND retired_at IS NULL AND kek_provider = $2
		ORDER BY kek_id, kek_version`, tenantID, cur.Provider)
	if err != nil {
		return nil, dbError(op, err)
	}
	type epoch struct {
		ref      tma.KEKRef
		replaced *time.Time
	}
	epochs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (epoch, error) {
		var e epoch
		return e, r.Scan(&e.ref.Provider, &e.ref.KeyID, &e.ref.Version, &e.replaced)
	})
	if err != nil {
		return nil, dbError(op, err)
	}
	now := s.db.now()
	rep := &RetireReport{}
	for _, e := range epochs {
		switch {
		case e.ref == cur:
			continue
		case live[e.ref] > 0 || secrets[e.ref] > 0 || e.replaced == nil:
			if isStale(e.ref, cur) {
				rep.InUse = append(rep.InUse, e.ref)
			}
			continue
		case e.replaced.Add(retention).After(now):
			rep.Waiting = append(rep.Waiting, RetireWaiting{KEK: e.ref, Possible: e.replaced.Add(retention)})
			continue
		}
		if err := s.kp.Retire(ctx, tenantID, e.ref); err != nil {
			if tma.ErrorCode(err) == tma.ECONFLICT {
				rep.Kept = append(rep.Kept, RetireKept{KEK: e.ref, Reason: tma.ErrorMessage(err)})
				continue
			}
			return rep, dbError(op, err)
		}
		err := s.db.inTx(ctx, op, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `UPDATE key_epochs SET retired_at = $5
				WHERE tenant_id = $1 AND kek_provider = $2 AND kek_id = $3 AND kek_version = $4`,
				tenantID, e.ref.Provider, e.ref.KeyID, e.ref.Version, now); err != nil {
				return err
			}
			return s.db.audit(ctx, tx, tenantID, tma.AuditKeyRetired, "tenant", tenantID,
				fmt.Sprintf("provider=%s key=%s version=%d replaced=%s retention=%s",
					e.ref.Provider, e.ref.KeyID, e.ref.Version, e.replaced.UTC().Format(time.RFC3339), retention))
		})
		if err != nil {
			return rep, dbError(op, err)
		}
		rep.Retired = append(rep.Retired, tma.RetiredKEK{KEK: e.ref, ReplacedAt: *e.replaced})
	}
	if len(rep.Retired) == 0 && len(rep.Waiting) > 0 {
		first := slices.MinFunc(rep.Waiting, func(a, b RetireWaiting) int { return a.Possible.Compare(b.Possible) })
		err := s.db.inTx(ctx, op, func(tx pgx.Tx) error {
			return s.db.audit(ctx, tx, tenantID, tma.AuditKeyRetireRefused, "tenant", tenantID,
				fmt.Sprintf("provider=%s key=%s version=%d possible=%s retention=%s",
					first.KEK.Provider, first.KEK.KeyID, first.KEK.Version, first.Possible.UTC().Format(time.RFC3339), retention))
		})
		if err != nil {
			return rep, dbError(op, err)
		}
		return rep, tma.Errorf(tma.ECONFLICT,
			"Backups taken before the last key rotation may still need the old key version; it can be retired from %s (backup retention %s).",
			first.Possible.UTC().Format("2006-01-02 15:04 MST"), retention)
	}
	return rep, nil
}

// RetireShared destroys the keys shared by all tenants (the masters of a
// local keyring from before per-tenant keys, a KMS key of all tenants) once
// no tenant needs them: no live case key or sealed secret of any tenant is
// wrapped under the key, every tenant's epoch of it was replaced, and the
// latest of those replacements is older than retention. Until then a backup
// keeps a shredded case of any tenant readable, which is why an upgraded
// installation must rotate every tenant and then run this.
//
// It refuses while any tenant's rotation is unfinished. Each retirement is audited in the chain of
// every tenant that used the key. Waiting lists every version, shared or a
// tenant's own, whose retention has not passed yet.
func (s *CaseKeyService) RetireShared(ctx context.Context, retention time.Duration) (*RetireReport, error) {
	const op = "CaseKeyService.RetireShared"
	if retention < 0 {
		return nil, tma.Errorf(tma.EINVALID, "The backup retention must not be negative.")
	}
	var pending int
	if err := s.db.Pool.QueryRow(ctx, `SELECT count(*) FROM kek_rotations`).Scan(&pending); err != nil {
		return nil, dbError(op, err)
	}
	if pending > 0 {
		return nil, tma.Errorf(tma.ECONFLICT, "Key rotations are unfinished; run `tma keys rotate` for every tenant first.")
	}
	rows, err := s.db.Pool.Query(ctx, `SELECT kek_provider, kek_id, kek_version,
			array_agg(tenant_id::text ORDER BY tenant_id), bool_and(replaced_at IS NOT NULL), max(replaced_at)
		FROM key_epochs WHERE retired_at IS NULL GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`)
	if err != nil {
		return nil, dbError(op, err)
	}
	type shared struct {
		ref      tma.KEKRef
		tenants  []string
		replaced bool
		latest   *time.Time
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (shared, error) {
		var x shared
		return x, r.Scan(&x.ref.Provider, &x.ref.KeyID, &x.ref.Version, &x.tenants, &x.replaced, &x.latest)
	})
	if err != nil {
		return nil, dbError(op, err)
	}
	// Live use across every tenant: case keys, and sealed secrets.
	live := map[tma.KEKRef]int{}
	tenants, err := NewTenantService(s.db).FindTenants(ctx)
	if err != nil {
		return nil, err
	}
	for _, t := range tenants {
		for _, refs := range []func() (map[tma.KEKRef]int, error){
			func() (map[tma.KEKRef]int, error) { return liveCaseKeyRefs(ctx, s.db.Pool, t.ID) },
			func() (map[tma.KEKRef]int, error) { return s.wrappedRefs(ctx, s.db.Pool, t.ID) },
		} {
			m, err := refs()
			if err != nil {
				return nil, dbError(op, err)
			}
			for ref, n := range m {
				live[ref] += n
			}
		}
	}
	now := s.db.now()
	rep := &RetireReport{}
	for _, x := range list {
		switch {
		case live[x.ref] > 0 || !x.replaced:
			continue // in use, or a tenant's current version
		case x.latest.Add(retention).After(now):
			rep.Waiting = append(rep.Waiting, RetireWaiting{KEK: x.ref, Possible: x.latest.Add(retention)})
			continue
		}
		err := s.kp.Retire(ctx, "", x.ref)
		switch tma.ErrorCode(err) {
		case "":
		case tma.ENOTFOUND:
			continue // a tenant's own version: RetireTenant's
		case tma.ECONFLICT:
			rep.Kept = append(rep.Kept, RetireKept{KEK: x.ref, Reason: tma.ErrorMessage(err)})
			continue
		default:
			return rep, dbError(op, err)
		}
		err = s.db.inTx(ctx, op, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `UPDATE key_epochs SET retired_at = $4
				WHERE kek_provider = $1 AND kek_id = $2 AND kek_version = $3`, x.ref.Provider, x.ref.KeyID, x.ref.Version, now); err != nil {
				return err
			}
			for _, t := range x.tenants {
				if err := s.db.audit(ctx, tx, t, tma.AuditKeyRetired, "tenant", t,
					fmt.Sprintf("shared provider=%s key=%s version=%d replaced=%s retention=%s",
						x.ref.Provider, x.ref.KeyID, x.ref.Version, x.latest.UTC().Format(time.RFC3339), retention)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return rep, dbError(op, err)
		}
		rep.Retired = append(rep.Retired, tma.RetiredKEK{KEK: x.ref, ReplacedAt: *x.latest})
	}
	return rep, nil
}
