package tma_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/tma-portal/tma/server/tma"
)

func TestErrors(t *testing.T) {
	notFound := tma.Errorf(tma.ENOTFOUND, "No such user.")
	tests := []struct {
		name      string
		err       error
		code, msg string
	}{
		{"nil", nil, "", ""},
		{"coded", notFound, tma.ENOTFOUND, "No such user."},
		{"wrapped coded", tma.Wrap("op", notFound), tma.ENOTFOUND, "No such user."},
		{"fmt-wrapped coded", fmt.Errorf("ctx: %w", notFound), tma.ENOTFOUND, "No such user."},
		{"plain error is internal", errors.New("connection reset by peer at 10.0.0.5"), tma.EINTERNAL, "An internal error occurred."},
		{"wrapped plain error", tma.Wrap("op", errors.New("secret detail")), tma.EINTERNAL, "An internal error occurred."},
		{"internal with message hides it", tma.Errorf(tma.EINTERNAL, "panic in handler"), tma.EINTERNAL, "An internal error occurred."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tma.ErrorCode(tc.err); got != tc.code {
				t.Errorf("ErrorCode = %q, want %q", got, tc.code)
			}
			if got := tma.ErrorMessage(tc.err); got != tc.msg {
				t.Errorf("ErrorMessage = %q, want %q", got, tc.msg)
			}
		})
	}
	if got := tma.Wrap("op", notFound).Error(); got != "op: not_found: No such user." {
		t.Errorf("wrapped error reads %q", got)
	}
	if tma.Wrap("op", nil) != nil {
		t.Error("Wrap(nil) must be nil")
	}
}

func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := tma.NewID()
		if !tma.ValidID(id) || id[14] != '4' {
			t.Fatalf("NewID() = %q is not a version 4 UUID", id)
		}
		if seen[id] {
			t.Fatalf("duplicate id %q", id)
		}
		seen[id] = true
	}
	for _, bad := range []string{"", "../etc/passwd", "0000000000000000000000000000000000000", "ABCDEF00-0000-4000-8000-000000000000", "g0000000-0000-4000-8000-000000000000"} {
		if tma.ValidID(bad) {
			t.Errorf("ValidID(%q) = true", bad)
		}
	}
}

func TestRoles(t *testing.T) {
	for _, r := range tma.Roles {
		if !r.Valid() {
			t.Errorf("%q invalid", r)
		}
	}
	if tma.Role("root").Valid() {
		t.Error("unknown role is valid")
	}
}
