package postgres_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tma-portal/tma/server/tma"
)

func TestAuditVerifyDetectsTampering(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tn, users := e.mustTenant(t, "acme", tma.RoleAdmin, tma.RoleAuditor, tma.RoleLegal)
	other, _ := e.mustTenant(t, "other", tma.RoleAdmin)
	for range 3 {
		e.login(t, "acme", users[2].Email, "192.0.2.1")
	}
	n, err := e.audit.VerifyChain(ctx, tn.ID)
	if err != nil || n < 6 {
		t.Fatalf("intact chain: checked %d, err %v", n, err)
	}

	events, err := e.audit.FindAuditEvents(ctx, tn.ID, tma.AuditFilter{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	// Newest first: pick the 3rd and 5th oldest.
	changed, deleted := events[len(events)-3], events[len(events)-5]

	// The table refuses changes, so the attacker goes around the trigger.
	if _, err := e.db.Pool.Exec(ctx, `UPDATE audit_events SET detail = 'nothing happened' WHERE id = $1`, changed.ID); err == nil {
		t.Fatal("UPDATE on audit_events succeeded; the table must be append-only")
	}
	tamper := func(sql string, args ...any) {
		t.Helper()
		tx, err := e.db.Pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		if _, err := tx.Exec(ctx, `SET LOCAL session_replication_role = replica`); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	tamper(`DELETE FROM audit_events WHERE id = $1`, deleted.ID)
	_, err = e.audit.VerifyChain(ctx, tn.ID)
	var ce *tma.ChainError
	if !errors.As(err, &ce) {
		t.Fatalf("after delete: err = %v, want *tma.ChainError", err)
	}
	if want := events[len(events)-6].Seq; ce.Seq != want {
		t.Fatalf("after delete: first broken event = #%d, want #%d (the event after the deleted one)", ce.Seq, want)
	}

	tamper(`UPDATE audit_events SET detail = 'nothing happened' WHERE id = $1`, changed.ID)
	_, err = e.audit.VerifyChain(ctx, tn.ID)
	if !errors.As(err, &ce) || ce.Seq != changed.Seq {
		t.Fatalf("after change: err = %v, want the changed event #%d", err, changed.Seq)
	}

	// Cutting off the newest row is caught by the chain head.
	if _, err := e.audit.VerifyChain(ctx, other.ID); err != nil {
		t.Fatalf("other tenant's chain must be intact: %v", err)
	}
	last, _ := e.audit.FindAuditEvents(ctx, other.ID, tma.AuditFilter{Limit: 1})
	tamper(`DELETE FROM audit_events WHERE id = $1`, last[0].ID)
	if _, err := e.audit.VerifyChain(ctx, other.ID); !errors.As(err, &ce) {
		t.Fatalf("after cutting the tail: err = %v, want *tma.ChainError", err)
	}
}
