package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tma-portal/tma/server/tma"
)

// DefaultRotationBatch is how many case keys RotateTenant rewraps per
// transaction: small enough that an interrupted rotation loses little work
// and no transaction stays open long, large enough to keep the number of
// commits low.
const DefaultRotationBatch = 100

// rotateLockClass is the first key of the two-key advisory lock that
// serialises rotations of one tenant; the second is a hash of the tenant id.
// Two-key advisory locks do not share a key space with the one-key locks
// used for migrations.
const rotateLockClass int32 = 0x746d6172 // "tmar"

// newKEKLockClass is the first key of the advisory lock, over all tenants,
// taken while a new KEK version is made. The keyring or KMS key is shared by
// every tenant, and two processes that rotate it at once (for two tenants)
// could otherwise both write "the next version" to the keyring file, and one
// of the two keys would be lost along with everything rewrapped under it.
const newKEKLockClass int32 = 0x746d616b // "tmak"

// zeroID sorts before every uuid; it starts the keyset walk of a rotation.
const zeroID = "00000000-0000-0000-0000-000000000000"

const msgNoCase = "No such case."

// msgLegalHold is the refusal to shred a case under legal hold, worded for
// the operator who typed the command.
const msgLegalHold = "The case is under legal hold; lift the hold before shredding."

// CaseKeyService keeps per-case keys wrapped under the tenant KEK of kp, and
// runs the key operations on them: creation on first use, KEK rotation and
// crypto-shredding. It also owns the minimal case rows (reference and legal
// hold) that those operations need.
//
// Plaintext case keys are only ever returned to the caller; they are never
// stored, logged or put into an error.
type CaseKeyService struct {
	db      *DB
	kp      tma.KeyProvider
	secrets tma.SecretSealer // rewraps sealed TOTP seeds; nil: none may exist

	// BatchSize is how many case keys RotateTenant rewraps per transaction
	// (DefaultRotationBatch if not positive). Tests lower it to interrupt a
	// rotation half-way.
	BatchSize int
}

var _ tma.CaseKeyService = (*CaseKeyService)(nil)

// NewCaseKeyService returns a CaseKeyService on db that wraps keys with kp.
func NewCaseKeyService(db *DB, kp tma.KeyProvider) *CaseKeyService {
	return &CaseKeyService{db: db, kp: kp, BatchSize: DefaultRotationBatch}
}

// WithSecrets lets rotation and retirement handle the tenant's sealed
// secrets (TOTP seeds), whose data keys are wrapped by the same tenant KEK:
// a rotation rewraps them, and a retirement counts them as users of a
// version. Without it, both refuse a tenant that has sealed secrets. ss
// must use the same key provider.
func (s *CaseKeyService) WithSecrets(ss tma.SecretSealer) *CaseKeyService {
	s.secrets = ss
	return s
}

// caseKeyRow is a case and, if it has one, its key row.
type caseKeyRow struct {
	hasKey   bool
	shredded *time.Time
	wrapped  tma.WrappedKey
}

// findCaseKey reads the case and its key row without locking either.
// ENOTFOUND if the case does not exist in the tenant.
func findCaseKey(ctx context.Context, q querier, tenantID, caseID string) (*caseKeyRow, error) {
	var r caseKeyRow
	err := q.QueryRow(ctx, `
		SELECT k.case_id IS NOT NULL, k.shredded_at,
		       COALESCE(k.kek_provider, ''), COALESCE(k.kek_id, ''), COALESCE(k.kek_version, 0), k.wrapped
		FROM cases c
		LEFT JOIN case_keys k ON k.tenant_id = c.tenant_id AND k.case_id = c.id
		WHERE c.tenant_id = $1 AND c.id = $2`, tenantID, caseID,
	).Scan(&r.hasKey, &r.shredded, &r.wrapped.KEK.Provider, &r.wrapped.KEK.KeyID, &r.wrapped.KEK.Version, &r.wrapped.Ciphertext)
	return &r, notFound(err, msgNoCase)
}

func errShredded(at time.Time) error {
	return tma.Errorf(tma.EGONE,
		"The case was shredded on %s: its key was destroyed, so its documents and encrypted fields can no longer be read.",
		at.UTC().Format("2006-01-02 15:04 MST"))
}

// CaseKey returns the plaintext key of a case, creating it on first use. The
// caller owns the returned slice and should wipe it.
//
// A new key is generated (which may call KMS) outside any transaction and
// inserted with ON CONFLICT DO NOTHING; whoever loses a race for the first
// key discards its own and unwraps the winner's, so a case never gets two
// keys. A tombstone left by ShredCase wins the same way, so a shredded case
// never gets a fresh key.
func (s *CaseKeyService) CaseKey(ctx context.Context, tenantID, caseID string) ([]byte, error) {
	const op = "CaseKeyService.CaseKey"
	if !tma.ValidID(tenantID) || !tma.ValidID(caseID) {
		return nil, tma.Errorf(tma.ENOTFOUND, msgNoCase)
	}
	scope := tma.KeyScope{TenantID: tenantID, CaseID: caseID}
	for attempt := 0; ; attempt++ {
		r, err := findCaseKey(ctx, s.db.Pool, tenantID, caseID)
		switch {
		case err != nil:
			return nil, dbError(op, err)
		case r.shredded != nil:
			return nil, errShredded(*r.shredded)
		case r.hasKey:
			key, err := s.kp.Unwrap(ctx, scope, r.wrapped)
			return key, dbError(op, err)
		case attempt > 0:
			// The insert conflicted, yet there is no row: only a deleted
			// case_keys row could do this, and nothing deletes them.
			return nil, dbError(op, errors.New("case key vanished after a conflicting insert"))
		}
		key, w, err := s.kp.GenerateKey(ctx, scope)
		if err != nil {
			return nil, dbError(op, err)
		}
		tag, err := s.db.Pool.Exec(ctx, `
			INSERT INTO case_keys (tenant_id, case_id, kek_provider, kek_id, kek_version, wrapped, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (tenant_id, case_id) DO NOTHING`,
			tenantID, caseID, w.KEK.Provider, w.KEK.KeyID, w.KEK.Version, w.Ciphertext, s.db.now())
		if err != nil {
			clear(key)
			if isForeignKeyViolation(err) {
				return nil, tma.Errorf(tma.ENOTFOUND, msgNoCase)
			}
			return nil, dbError(op, err)
		}
		if tag.RowsAffected() == 1 {
			return key, nil
		}
		clear(key) // lost the race: use the key that was stored first
	}
}

// SealingKey implements tma.CaseKeyService: the key is always read from its
// row here.
func (s *CaseKeyService) SealingKey(ctx context.Context, tenantID, caseID string) ([]byte, error) {
	return s.CaseKey(ctx, tenantID, caseID)
}

// RotateTenant makes a new KEK version current and rewraps every case key
// of the tenant under it. Only the wrapped case keys change: documents and
// fields stay encrypted under the same case keys.
//
// The target is recorded in kek_rotations, and committed, before the first
// key is rewrapped. Keys are then rewrapped in batches of BatchSize, each
// batch in a transaction of its own, so an interruption (a crash, or ctx
// being cancelled, which is checked between batches) loses at most the
// batch in flight. A later call finds the recorded target and resumes with
// it instead of making yet another KEK version. The rotation ends, in one
// transaction, by deleting the record and writing the audit event.
//
// KMS or keyring calls are made outside the batch transaction, and each
// update only applies if the wrapped key is still the one that was read, so
// no row lock is held while the key provider works and a case shredded
// meanwhile stays shredded. Rotations of one tenant are serialised by an
// advisory lock: a second one gets ECONFLICT. Making the new KEK version is
// serialised over all tenants, because they share the keyring or KMS key.
//
// If the KEK is rotated but the process dies before the target is recorded,
// the new version stays unused until the next rotation; nothing is lost.
func (s *CaseKeyService) RotateTenant(ctx context.Context, tenantID string, progress func(done, total int)) (tma.KEKRef, error) {
	const op = "CaseKeyService.RotateTenant"
	if !tma.ValidID(tenantID) {
		return tma.KEKRef{}, tma.Errorf(tma.ENOTFOUND, "No such tenant.")
	}
	conn, unlock, err := s.lockRotation(ctx, tenantID)
	if err != nil {
		return tma.KEKRef{}, dbError(op, err)
	}
	defer unlock()

	target, err := s.rotationTarget(ctx, conn, tenantID)
	if err != nil {
		return tma.KEKRef{}, dbError(op, err)
	}
	batch := s.BatchSize
	if batch <= 0 {
		batch = DefaultRotationBatch
	}
	if err := s.recordEpochs(ctx, tenantID, target); err != nil {
		return target, dbError(op, err)
	}
	total, err := s.countStale(ctx, s.db.Pool, tenantID, target)
	if err != nil {
		return target, dbError(op, err)
	}
	done, after, passStart := 0, zeroID, 0
	for {
		if err := ctx.Err(); err != nil {
			return target, dbError(op, err)
		}
		n, last, err := s.rewrapBatch(ctx, tenantID, target, after, batch)
		if err != nil {
			return target, dbError(op, err)
		}
		if n > 0 {
			done, after = done+n, last
			total = max(total, done)
			if progress != nil {
				progress(done, total)
			}
			continue
		}
		// The walk reached the end. The tenant's sealed secrets are wrapped
		// by the same KEK: rewrap them too, so that retiring the old
		// version does not lock users out.
		secrets, err := s.rewrapSecrets(ctx, tenantID, target)
		if err != nil {
			return target, dbError(op, err)
		}
		// So are the data keys of wiki attachments.
		attachments, err := s.rewrapAttachments(ctx, tenantID, target)
		if err != nil {
			return target, dbError(op, err)
		}
		// Keys created under an older KEK while it ran (by a process that
		// had not yet seen the new version) are still stale: walk again
		// until none are left.
		left, err := s.finishRotation(ctx, tenantID, target)
		if err != nil {
			return target, dbError(op, err)
		}
		if left == 0 {
			return target, nil
		}
		if done == passStart && secrets == 0 && attachments == 0 {
			// A whole pass changed nothing, yet something is stale: walking
			// again would change nothing either.
			return target, dbError(op, fmt.Errorf("%d case key(s), sealed secret(s) or attachment key(s) stay under an older KEK after a full pass", left))
		}
		total, after, passStart = done+left, zeroID, done
	}
}

// lockRotation takes the tenant's rotation lock on a connection of its
// own, held until the returned function runs. Other session locks of the
// rotation are taken on the same connection, so that closing it releases
// them all.
func (s *CaseKeyService) lockRotation(ctx context.Context, tenantID string) (*pgxpool.Conn, func(), error) {
	conn, err := s.db.Pool.Acquire(ctx)
	if err != nil {
		return nil, nil, dbError("CaseKeyService.lockRotation", err)
	}
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, hashtext($2))`, rotateLockClass, tenantID).Scan(&ok); err != nil {
		conn.Release()
		return nil, nil, err
	}
	if !ok {
		conn.Release()
		return nil, nil, tma.Errorf(tma.ECONFLICT, "A key rotation for this tenant is already running.")
	}
	return conn, func() {
		ctx := context.WithoutCancel(ctx)
		// All of the session's locks: the connection came from the pool
		// holding none.
		if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock_all()`); err != nil {
			// A session that may still hold a lock must not go back to
			// the pool; closing it releases the locks.
			_ = conn.Conn().Close(ctx)
		}
		conn.Release()
	}, nil
}

// rotationTarget returns the target of the tenant's interrupted rotation or,
// if there is none, makes a new KEK version and records it as the target.
// conn holds the tenant's rotation lock.
func (s *CaseKeyService) rotationTarget(ctx context.Context, conn *pgxpool.Conn, tenantID string) (tma.KEKRef, error) {
	target, err := s.PendingRotation(ctx, tenantID)
	if err != nil {
		return tma.KEKRef{}, err
	}
	if target != nil {
		// Rewrapping would fail key by key if the configuration no longer
		// names the target's key; say so once, clearly.
		cur, err := s.kp.Current(ctx, tenantID)
		if err != nil {
			return tma.KEKRef{}, err
		}
		if cur.Provider != target.Provider || cur.KeyID != target.KeyID {
			return tma.KEKRef{}, tma.Errorf(tma.ECONFLICT,
				"An interrupted rotation to %s %s version %d must finish first, but the configured key is %s %s.",
				target.Provider, target.KeyID, target.Version, cur.Provider, cur.KeyID)
		}
		return *target, nil
	}
	var exists bool
	if err := s.db.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM tenants WHERE id = $1)`, tenantID).Scan(&exists); err != nil {
		return tma.KEKRef{}, err
	}
	if !exists {
		return tma.KEKRef{}, tma.Errorf(tma.ENOTFOUND, "No such tenant.")
	}
	// Waits for a rotation of another tenant that is making its version:
	// they may share a keyring file.
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1, 0)`, newKEKLockClass); err != nil {
		return tma.KEKRef{}, err
	}
	ref, err := s.kp.Rotate(ctx, tenantID)
	if _, uerr := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1, 0)`, newKEKLockClass); uerr != nil {
		// The caller's unlock releases it, or closes the connection.
		return tma.KEKRef{}, errors.Join(err, uerr)
	}
	if err != nil {
		return tma.KEKRef{}, err
	}
	_, err = s.db.Pool.Exec(ctx, `
		INSERT INTO kek_rotations (tenant_id, kek_provider, kek_id, kek_version, started_at)
		VALUES ($1, $2, $3, $4, $5)`, tenantID, ref.Provider, ref.KeyID, ref.Version, s.db.now())
	return ref, err
}

// PendingRotation returns the target of the tenant's interrupted rotation,
// or nil if none is pending.
func (s *CaseKeyService) PendingRotation(ctx context.Context, tenantID string) (*tma.KEKRef, error) {
	var ref tma.KEKRef
	err := s.db.Pool.QueryRow(ctx, `SELECT kek_provider, kek_id, kek_version FROM kek_rotations WHERE tenant_id = $1`,
		tenantID).Scan(&ref.Provider, &ref.KeyID, &ref.Version)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, dbError("CaseKeyService.PendingRotation", err)
	}
	return &ref, nil
}

// staleKeys selects the tenant's live case keys that a rotation to the
// target ($2, $3, $4) must rewrap: those under another key, or under an
// OLDER version of the target's key. A key already under a newer version
// (a shared KMS key that another tenant's rotation moved on while this
// rotation was pending) stays where it is: moving it down would bring back
// a version that may be retired.
const staleKeys = `tenant_id = $1 AND shredded_at IS NULL AND (kek_provider <> $2 OR kek_id <> $3 OR kek_version < $4)`

// isStale is staleKeys for one KEK reference.
func isStale(ref, target tma.KEKRef) bool {
	return ref.Provider != target.Provider || ref.KeyID != target.KeyID || ref.Version < target.Version
}

func (s *CaseKeyService) countStale(ctx context.Context, q querier, tenantID string, target tma.KEKRef) (int, error) {
	var n int
	err := q.QueryRow(ctx, `SELECT count(*) FROM case_keys WHERE `+staleKeys,
		tenantID, target.Provider, target.KeyID, target.Version).Scan(&n)
	return n, err
}

// rewrapBatch rewraps up to limit stale keys with case ids after the given
// one, and commits them. It returns how many keys it looked at (0 at the
// end of the walk) and the last case id.
func (s *CaseKeyService) rewrapBatch(ctx context.Context, tenantID string, target tma.KEKRef, after string, limit int) (int, string, error) {
	rows, err := s.db.Pool.Query(ctx, `
		SELECT case_id::text, kek_provider, kek_id, kek_version, wrapped FROM case_keys
		WHERE `+staleKeys+` AND case_id > $5 ORDER BY case_id LIMIT $6`,
		tenantID, target.Provider, target.KeyID, target.Version, after, limit)
	if err != nil {
		return 0, "", err
	}
	type stale struct {
		caseID string
		old    tma.WrappedKey
	}
	keys, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (stale, error) {
		var k stale
		err := row.Scan(&k.caseID, &k.old.KEK.Provider, &k.old.KEK.KeyID, &k.old.KEK.Version, &k.old.Ciphertext)
		return k, err
	})
	if err != nil || len(keys) == 0 {
		return 0, "", err
	}

	type rewrapped struct {
		caseID   string
		old, new tma.WrappedKey
	}
	var out []rewrapped
	var rewrapErr error
	for _, k := range keys {
		w, err := s.kp.Rewrap(ctx, tma.KeyScope{TenantID: tenantID, CaseID: k.caseID}, k.old, target)
		if err != nil {
			// Keep what this batch has done; the caller stops here.
			rewrapErr = fmt.Errorf("rewrap key of case %s: %w", k.caseID, err)
			break
		}
		out = append(out, rewrapped{k.caseID, k.old, w})
	}
	// Keys that the provider rewrapped are committed even if ctx ended
	// meanwhile: that work is done, and the batch is small.
	ctx = context.WithoutCancel(ctx)
	err = s.db.inTx(ctx, "CaseKeyService.rewrapBatch", func(tx pgx.Tx) error {
		now := s.db.now()
		for _, r := range out {
			// Applies only if the row still holds what was read: a case
			// shredded meanwhile is not brought back.
			tag, err := tx.Exec(ctx, `
				UPDATE case_keys SET kek_provider = $3, kek_id = $4, kek_version = $5, wrapped = $6, rotated_at = $7
				WHERE tenant_id = $1 AND case_id = $2 AND shredded_at IS NULL
				  AND kek_provider = $8 AND kek_id = $9 AND kek_version = $10 AND wrapped = $11`,
				tenantID, r.caseID, r.new.KEK.Provider, r.new.KEK.KeyID, r.new.KEK.Version, r.new.Ciphertext, now,
				r.old.KEK.Provider, r.old.KEK.KeyID, r.old.KEK.Version, r.old.Ciphertext)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 1 {
				if err := reopenEpoch(ctx, tx, tenantID, r.old.KEK); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err := errors.Join(rewrapErr, err); err != nil {
		return 0, "", err
	}
	return len(keys), keys[len(keys)-1].caseID, nil
}

// finishRotation ends the rotation if no stale key is left: it deletes the
// rotation record and writes the audit event in one transaction. It returns
// the number of stale keys left, and changes nothing if that is not 0.
func (s *CaseKeyService) finishRotation(ctx context.Context, tenantID string, target tma.KEKRef) (left int, err error) {
	err = s.db.inTx(ctx, "CaseKeyService.finishRotation", func(tx pgx.Tx) error {
		var started time.Time
		err := tx.QueryRow(ctx, `
			SELECT started_at FROM kek_rotations
			WHERE tenant_id = $1 AND kek_provider = $2 AND kek_id = $3 AND kek_version = $4 FOR UPDATE`,
			tenantID, target.Provider, target.KeyID, target.Version).Scan(&started)
		if errors.Is(err, pgx.ErrNoRows) {
			return tma.Errorf(tma.ECONFLICT, "The key rotation record of this tenant changed while the rotation ran.")
		} else if err != nil {
			return err
		}
		if left, err = s.countStale(ctx, tx, tenantID, target); err != nil || left > 0 {
			return err
		}
		// Secrets sealed or attachments stored under an older KEK
		// meanwhile: another walk.
		secrets, err := s.wrappedRefs(ctx, tx, tenantID)
		if err != nil {
			return err
		}
		for ref, n := range secrets {
			if isStale(ref, target) {
				left += n
			}
		}
		if left > 0 {
			return nil
		}
		if err := s.markReplaced(ctx, tx, tenantID, target, secrets); err != nil {
			return err
		}
		// Counted across resumed runs: every key this rotation rewrapped.
		var rewrapped int
		err = tx.QueryRow(ctx, `
			SELECT count(*) FROM case_keys
			WHERE tenant_id = $1 AND shredded_at IS NULL AND rotated_at >= $5
			  AND kek_provider = $2 AND kek_id = $3 AND kek_version = $4`,
			tenantID, target.Provider, target.KeyID, target.Version, started).Scan(&rewrapped)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM kek_rotations WHERE tenant_id = $1`, tenantID); err != nil {
			return err
		}
		return s.db.audit(ctx, tx, tenantID, tma.AuditKeyRotated, "tenant", tenantID,
			fmt.Sprintf("provider=%s key=%s version=%d rewrapped=%d", target.Provider, target.KeyID, target.Version, rewrapped))
	})
	return left, err
}

// ShredCase destroys the case key, which makes every document and encrypted
// field of the case unreadable for good. ECONFLICT while the case is under
// legal hold; EGONE if it was shredded already, so that a repeated command
// says what happened rather than recording a second shred.
//
// A case that never had a key gets a tombstone row (no KEK, no wrapped key),
// which stops CaseKey from creating one later. The wrapped key disappears
// from the live row at once; PostgreSQL drops the old row version at the
// next vacuum, and backups age out by their retention. Those copies are
// still wrapped under the KEK. Processes that cached the plaintext key (see
// crypt.KeyCache) drop it within their cache TTL.
func (s *CaseKeyService) ShredCase(ctx context.Context, tenantID, caseID string) error {
	if !tma.ValidID(tenantID) || !tma.ValidID(caseID) {
		return tma.Errorf(tma.ENOTFOUND, msgNoCase)
	}
	return s.db.inTx(ctx, "CaseKeyService.ShredCase", func(tx pgx.Tx) error {
		c, err := findCase(ctx, tx, `id = $2`, tenantID, caseID, true)
		if err != nil {
			return err
		}
		if c.LegalHold {
			return tma.Errorf(tma.ECONFLICT, msgLegalHold)
		}
		var shredded *time.Time
		err = tx.QueryRow(ctx, `SELECT shredded_at FROM case_keys WHERE tenant_id = $1 AND case_id = $2 FOR UPDATE`,
			tenantID, caseID).Scan(&shredded)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if shredded != nil {
			return errShredded(*shredded)
		}
		// The upsert also covers a first key inserted by CaseKey after the
		// SELECT above found no row.
		_, err = tx.Exec(ctx, `
			INSERT INTO case_keys (tenant_id, case_id, kek_provider, kek_id, kek_version, wrapped, created_at, shredded_at)
			VALUES ($1, $2, '', '', 0, NULL, $3, $3)
			ON CONFLICT (tenant_id, case_id) DO UPDATE SET wrapped = NULL, shredded_at = EXCLUDED.shredded_at`,
			tenantID, caseID, s.db.now())
		if err != nil {
			return err
		}
		return s.db.audit(ctx, tx, tenantID, tma.AuditCaseShredded, "case", caseID, c.Reference)
	})
}
