package postgres

import (
	"context"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/tma-portal/tma/server/tma"
)

// Timeline reads the case's events from the tenant's audit log: every
// change to a case records an event with the case as its target, in the
// changing transaction, so the log is complete by construction and the
// timeline cannot disagree with it. Details name notes and actions by id,
// never by content, so restricted notes show only that they changed.
func (s *CaseService) Timeline(ctx context.Context, tenantID, caseID, kind string) ([]*tma.TimelineEvent, error) {
	if !tma.ValidID(tenantID) || !tma.ValidID(caseID) {
		return nil, tma.Errorf(tma.ENOTFOUND, msgNoCase)
	}
	if kind != "" && !slices.Contains(tma.TimelineKinds, kind) {
		if err := tma.CheckText("kind", kind); err != nil {
			return nil, err
		}
		return nil, tma.Errorf(tma.EINVALID, "Unknown kind of event %q.", tma.CleanText(kind, 40))
	}
	// Only the actions the timeline shows, and the newest of them: events
	// it does not show (every read of a document) must not crowd the
	// others out of the window.
	var actions []string
	for _, a := range tma.AuditActions {
		if k := tma.TimelineKind(a); k != "" && (kind == "" || k == kind) {
			actions = append(actions, a)
		}
	}
	rows, err := s.db.Pool.Query(ctx, `SELECT at, actor_label, action, detail FROM (
			SELECT e.seq, e.at, e.actor_label, e.action, e.detail FROM audit_events e
			WHERE e.tenant_id = $1 AND e.target_type = 'case' AND e.target_id = $2 AND e.action = ANY($3)
			ORDER BY e.seq DESC LIMIT $4) newest
		ORDER BY seq`, tenantID, caseID, actions, maxTimeline)
	if err != nil {
		return nil, dbError("CaseService.Timeline", err)
	}
	events, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*tma.TimelineEvent, error) {
		var e tma.TimelineEvent
		return &e, r.Scan(&e.At, &e.ActorLabel, &e.Action, &e.Detail)
	})
	if err != nil {
		return nil, dbError("CaseService.Timeline", err)
	}
	for _, e := range events {
		e.Kind = tma.TimelineKind(e.Action)
		if rest, ok := strings.CutPrefix(e.Detail, "note "); ok && e.Kind == "notes" {
			e.NoteID, _, _ = strings.Cut(rest, " ")
		}
	}
	return events, nil
}

// maxTimeline is how many of a case's newest events the timeline shows.
const maxTimeline = 2000
