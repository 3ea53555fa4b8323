package postgres

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/tma-portal/tma/server/tma"
)

// AuditService reads, appends and verifies the hash-chained audit log.
type AuditService struct{ db *DB }

var _ tma.AuditService = (*AuditService)(nil)

// NewAuditService returns an AuditService on db.
func NewAuditService(db *DB) *AuditService { return &AuditService{db: db} }

// Record appends an event of the actor in ctx, in its tenant, in a
// transaction of its own.
func (s *AuditService) Record(ctx context.Context, action, targetType, targetID, detail string) error {
	tenantID := tma.ActorFromContext(ctx).TenantID
	if tenantID == "" {
		return tma.Errorf(tma.EINTERNAL, "audit event %s without a tenant", action)
	}
	return s.db.inTx(ctx, "AuditService.Record", func(tx pgx.Tx) error {
		return s.db.audit(ctx, tx, tenantID, action, targetType, targetID, detail)
	})
}

// audit appends an event for the actor in ctx. It is the one way services
// write audit events, always inside the transaction of their change.
func (db *DB) audit(ctx context.Context, tx pgx.Tx, tenantID, action, targetType, targetID, detail string) error {
	a := tma.ActorFromContext(ctx)
	return db.appendAudit(ctx, tx, &tma.AuditEvent{
		TenantID: tenantID, ActorID: a.UserID, ActorLabel: a.Label, IP: a.IP,
		Action: action, TargetType: targetType, TargetID: targetID, Detail: detail,
	})
}

// appendAudit links e to the tenant's chain head and inserts it. The head
// row is locked until tx ends, which orders the tenant's events.
func (db *DB) appendAudit(ctx context.Context, tx pgx.Tx, e *tma.AuditEvent) error {
	if e.ActorLabel == "" {
		e.ActorLabel = "system"
	}
	e.At = db.now()
	var seq int64
	var prev []byte
	err := tx.QueryRow(ctx, `SELECT seq, hash FROM audit_heads WHERE tenant_id = $1 FOR UPDATE`, e.TenantID).Scan(&seq, &prev)
	if errors.Is(err, pgx.ErrNoRows) {
		seq, prev = 0, make([]byte, sha256.Size)
		if _, err := tx.Exec(ctx, `INSERT INTO audit_heads (tenant_id, seq, hash) VALUES ($1, 0, $2)`, e.TenantID, prev); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	e.Seq, e.PrevHash = seq+1, prev
	e.Hash = chainHash(e)
	err = tx.QueryRow(ctx, `
		INSERT INTO audit_events (tenant_id, seq, at, actor_id, actor_label, action, target_type, target_id, ip, detail, prev_hash, hash)
		VALUES ($1, $2, $3, NULLIF($4, '')::uuid, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id`,
		e.TenantID, e.Seq, e.At, e.ActorID, e.ActorLabel, e.Action, e.TargetType, e.TargetID, e.IP, e.Detail, e.PrevHash, e.Hash,
	).Scan(&e.ID)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `UPDATE audit_heads SET seq = $2, hash = $3 WHERE tenant_id = $1`, e.TenantID, e.Seq, e.Hash)
	return err
}

// chainHash is SHA-256 over the previous hash and a length-prefixed encoding
// of every other field, so no field can be changed or shifted into another.
func chainHash(e *tma.AuditEvent) []byte {
	h := sha256.New()
	h.Write(e.PrevHash)
	var n [8]byte
	num := func(v int64) {
		binary.BigEndian.PutUint64(n[:], uint64(v))
		h.Write(n[:])
	}
	for _, s := range []string{e.TenantID, e.ActorID, e.ActorLabel, e.Action, e.TargetType, e.TargetID, e.IP, e.Detail} {
		num(int64(len(s)))
		h.Write([]byte(s))
	}
	num(e.Seq)
	num(e.At.UnixMicro())
	return h.Sum(nil)
}

const auditColumns = `e.id, e.tenant_id::text, e.seq, e.at, COALESCE(e.actor_id::text, ''), e.actor_label, e.action, e.target_type, e.target_id, e.ip, e.detail, e.prev_hash, e.hash`

func scanAudit(row pgx.CollectableRow) (*tma.AuditEvent, error) {
	var e tma.AuditEvent
	err := row.Scan(&e.ID, &e.TenantID, &e.Seq, &e.At, &e.ActorID, &e.ActorLabel, &e.Action, &e.TargetType, &e.TargetID, &e.IP, &e.Detail, &e.PrevHash, &e.Hash)
	return &e, err
}

// FindAuditEvents lists the tenant's events, newest first.
func (s *AuditService) FindAuditEvents(ctx context.Context, tenantID string, f tma.AuditFilter) ([]*tma.AuditEvent, error) {
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 100
	}
	// The target's label is looked up now (users only, so far); it is not
	// part of the chain.
	rows, err := s.db.Pool.Query(ctx, `SELECT `+auditColumns+`, COALESCE(u.email, '') FROM audit_events e
		LEFT JOIN users u ON e.target_type = 'user' AND u.tenant_id = e.tenant_id AND u.id::text = e.target_id
		WHERE e.tenant_id = $1 AND ($2 = '' OR e.action = $2) AND ($3 = 0 OR e.seq < $3)
		ORDER BY e.seq DESC LIMIT $4`, tenantID, f.Action, f.Before, f.Limit)
	if err != nil {
		return nil, dbError("AuditService.FindAuditEvents", err)
	}
	events, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*tma.AuditEvent, error) {
		var e tma.AuditEvent
		err := row.Scan(&e.ID, &e.TenantID, &e.Seq, &e.At, &e.ActorID, &e.ActorLabel, &e.Action, &e.TargetType, &e.TargetID,
			&e.IP, &e.Detail, &e.PrevHash, &e.Hash, &e.TargetLabel)
		return &e, err
	})
	return events, dbError("AuditService.FindAuditEvents", err)
}

// VerifyChain recomputes every hash of the tenant's chain in order, without
// holding the rows in memory, and compares the end with the chain head. A
// broken chain is recorded, so the finding cannot go unnoticed.
func (s *AuditService) VerifyChain(ctx context.Context, tenantID string) (int, error) {
	checked, err := s.verifyChain(ctx, tenantID)
	var ce *tma.ChainError
	if errors.As(err, &ce) {
		a := tma.ActorFromContext(ctx)
		a.TenantID = tenantID
		if rerr := s.Record(tma.NewContextWithActor(ctx, a), tma.AuditIntegrityFailure, "audit_event", strconv.FormatInt(ce.Seq, 10), ce.Reason); rerr != nil {
			return checked, rerr
		}
	}
	return checked, err
}

func (s *AuditService) verifyChain(ctx context.Context, tenantID string) (int, error) {
	tx, err := s.db.Pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return 0, dbError("AuditService.VerifyChain", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	rows, err := tx.Query(ctx, `SELECT `+auditColumns+` FROM audit_events e WHERE e.tenant_id = $1 ORDER BY e.seq`, tenantID)
	if err != nil {
		return 0, dbError("AuditService.VerifyChain", err)
	}
	prev := make([]byte, sha256.Size)
	var want int64 = 1
	checked := 0
	var chainErr *tma.ChainError
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			rows.Close()
			return checked, dbError("AuditService.VerifyChain", err)
		}
		switch {
		case e.Seq != want:
			chainErr = &tma.ChainError{Seq: e.Seq, Reason: "sequence gap: a row before it was deleted"}
		case !bytes.Equal(e.PrevHash, prev):
			chainErr = &tma.ChainError{Seq: e.Seq, Reason: "previous hash does not match the row before it"}
		case !bytes.Equal(chainHash(e), e.Hash):
			chainErr = &tma.ChainError{Seq: e.Seq, Reason: "row content does not match its hash"}
		}
		if chainErr != nil {
			rows.Close()
			chainErr.TenantID = tenantID
			return checked, chainErr
		}
		prev, want = e.Hash, want+1
		checked++
	}
	if err := rows.Err(); err != nil {
		return checked, dbError("AuditService.VerifyChain", err)
	}
	var headSeq int64
	var headHash []byte
	err = tx.QueryRow(ctx, `SELECT seq, hash FROM audit_heads WHERE tenant_id = $1`, tenantID).Scan(&headSeq, &headHash)
	if errors.Is(err, pgx.ErrNoRows) {
		headSeq, headHash = 0, make([]byte, sha256.Size)
	} else if err != nil {
		return checked, dbError("AuditService.VerifyChain", err)
	}
	if headSeq != want-1 || !bytes.Equal(headHash, prev) {
		return checked, &tma.ChainError{TenantID: tenantID, Seq: want, Reason: "the newest rows were removed: the chain head is further on"}
	}
	return checked, nil
}
