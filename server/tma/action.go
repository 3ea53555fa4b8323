package tma

import (
	"context"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Action is a countermeasure of a case's action plan. Its title and outcome
// are free text and sealed with the case key; owner, due date and status
// stay in clear for "my tasks" and overdue marks.
type Action struct {
	ID        string
	CaseID    string
	Reference string // the case's, for "my tasks"
	Title     string
	OwnerID   string
	OwnerName string
	Due       time.Time // a day, UTC midnight; zero: none
	Status    ActionStatus
	Outcome   string
	CreatedAt time.Time
	UpdatedAt time.Time
	// WikiPageID and WikiRevision name the process page revision whose
	// checklist the action came from; "" and 0 otherwise.
	WikiPageID   string
	WikiRevision int
}

// ActionStatus is where a countermeasure stands.
type ActionStatus string

// The statuses of an action.
const (
	ActionOpen       ActionStatus = "open"
	ActionInProgress ActionStatus = "in_progress"
	ActionDone       ActionStatus = "done"
	ActionCancelled  ActionStatus = "cancelled"
)

// ActionStatuses lists every action status in display order.
var ActionStatuses = []ActionStatus{ActionOpen, ActionInProgress, ActionDone, ActionCancelled}

// Valid reports whether s is one of ActionStatuses.
func (s ActionStatus) Valid() bool { return slices.Contains(ActionStatuses, s) }

// Overdue reports whether the action is still to do after its due day.
func (a *Action) Overdue(now time.Time) bool {
	return !a.Due.IsZero() && (a.Status == ActionOpen || a.Status == ActionInProgress) && !now.Before(a.Due.AddDate(0, 0, 1))
}

// ActionInput is a new action or a change to one.
type ActionInput struct {
	Title   string
	OwnerID string // a current member of the case
	Due     time.Time
	Status  ActionStatus // "" means ActionOpen
	Outcome string
}

// Limits of an action.
const (
	MaxActionTitle = 300   // characters
	MaxOutcome     = 10000 // characters
)

// Validate normalises in in place and checks it.
func (in *ActionInput) Validate() error {
	for f, s := range map[string]string{"title": in.Title, "owner": in.OwnerID, "status": string(in.Status), "outcome": in.Outcome} {
		if err := CheckText(f, s); err != nil {
			return err
		}
	}
	in.Title, in.Outcome = strings.TrimSpace(in.Title), strings.TrimSpace(in.Outcome)
	if in.Title == "" || utf8.RuneCountInString(in.Title) > MaxActionTitle || strings.IndexFunc(in.Title, unicode.IsControl) >= 0 {
		return Errorf(EINVALID, "The countermeasure must have 1 to %d characters and no line breaks.", MaxActionTitle)
	}
	if utf8.RuneCountInString(in.Outcome) > MaxOutcome {
		return Errorf(EINVALID, "The outcome must have at most %d characters.", MaxOutcome)
	}
	if in.Status == "" {
		in.Status = ActionOpen
	}
	if !in.Status.Valid() {
		return Errorf(EINVALID, "Unknown action status %q.", CleanText(string(in.Status), 40))
	}
	if !ValidID(in.OwnerID) {
		return Errorf(EINVALID, "Choose an owner among the members of the case.")
	}
	return nil
}

// ParseDay reads a date as a date input sends it (2026-12-31), as UTC
// midnight. "" is the zero time.
func ParseDay(field, s string) (time.Time, error) {
	if err := CheckText(field, s); err != nil {
		return time.Time{}, err
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, Errorf(EINVALID, "Enter the due date as YYYY-MM-DD.")
	}
	return d, nil
}

// ActionService keeps the action plans of cases. Changes run in one
// transaction with an audit event that names the action, its status and
// due date, never its text.
type ActionService interface {
	// Actions lists the case's actions, by due date, undated last.
	Actions(ctx context.Context, tenantID, caseID string) ([]*Action, error)
	// AddAction adds a countermeasure. EINVALID if the owner is not a
	// current member; ECONFLICT on a closed case.
	AddAction(ctx context.Context, tenantID, caseID string, in ActionInput) (*Action, error)
	// ChangeAction changes owner, due date, status and outcome (the title
	// stays). ENOTFOUND for an action not on the case.
	ChangeAction(ctx context.Context, tenantID, caseID, actionID string, in ActionInput) error
	// MyTasks lists the actions the user owns on cases of which they are a
	// current member, not excluded: overdue first, then by due date.
	MyTasks(ctx context.Context, tenantID, userID string) ([]*Action, error)
}
