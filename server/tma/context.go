package tma

import "context"

// Actor is who performs an action: a signed-in user, or the system (CLI,
// background jobs). Services record it in audit events.
type Actor struct {
	UserID   string // empty for the system
	TenantID string
	Label    string // e-mail, or "system"
	IP       string
	// Operator is set only by the `tma` command line, which holds the
	// database credentials: the one actor that may manage auditors. An
	// anonymous or default actor is never the operator.
	Operator bool
}

type actorKey struct{}

// NewContextWithActor returns a context that carries a.
func NewContextWithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFromContext returns the actor of ctx, or the system actor.
func ActorFromContext(ctx context.Context) Actor {
	if a, ok := ctx.Value(actorKey{}).(Actor); ok {
		return a
	}
	return Actor{Label: "system"}
}
