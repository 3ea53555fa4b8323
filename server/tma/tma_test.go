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

func TestErrorFormat(t *testing.T) {
	locked := tma.Errorf(tma.ETHROTTLED, "Sign-in is locked for %d more minute(s).", 7)
	tests := []struct {
		name   string
		err    error
		format string
		args   []any
	}{
		{"nil", nil, "", nil},
		{"with args", locked, "Sign-in is locked for %d more minute(s).", []any{7}},
		{"wrapped", tma.Wrap("op", fmt.Errorf("ctx: %w", locked)), "Sign-in is locked for %d more minute(s).", []any{7}},
		{"plain message", &tma.Error{Code: tma.ENOTFOUND, Message: "100% gone"}, "100%% gone", nil},
		{"internal", tma.Errorf(tma.EINTERNAL, "pool %s exhausted", "db1"), "An internal error occurred.", nil},
		{"foreign", errors.New("boom"), "An internal error occurred.", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			format, args := tma.ErrorFormat(tc.err)
			if format != tc.format || fmt.Sprint(args) != fmt.Sprint(tc.args) {
				t.Fatalf("ErrorFormat = %q %v, want %q %v", format, args, tc.format, tc.args)
			}
			if tc.err != nil && fmt.Sprintf(format, args...) != tma.ErrorMessage(tc.err) {
				t.Fatalf("format and args give %q, the message is %q", fmt.Sprintf(format, args...), tma.ErrorMessage(tc.err))
			}
		})
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
