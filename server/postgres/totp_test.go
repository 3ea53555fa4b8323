package postgres_test

import (
	"context"
	"encoding/base32"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/tma-portal/tma/server/tma"
)

// TestTOTPSeedsAreSealed: TOTP seeds never rest in clear. A stored seed
// opens only for its own user, and seeds stored in clear by an older version
// are sealed at start-up and keep working.
func TestTOTPSeedsAreSealed(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, users := e.mustTenant(t, "acme", tma.RoleLegal, tma.RoleHR)
	alice, bob := users[0], users[1]
	secret := enrolTOTP(t, e, alice)
	enrolTOTP(t, e, bob)

	stored := func(u *tma.User) string {
		t.Helper()
		var s string
		if err := e.db.Pool.QueryRow(ctx, `SELECT totp_secret FROM users WHERE id = $1`, u.ID).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	raw, _ := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	s := stored(alice)
	sealed, err := base64.RawStdEncoding.DecodeString(strings.TrimPrefix(s, "sealed:"))
	if !strings.HasPrefix(s, "sealed:") || err != nil {
		t.Fatalf("stored seed is not sealed: %.40q", s)
	}
	if strings.Contains(s, secret) || strings.Contains(string(sealed), string(raw)) || strings.Contains(string(sealed), secret) {
		t.Fatal("the stored seed contains the secret")
	}

	// The seed works for its owner.
	verify := func(u *tma.User, code string) error {
		t.Helper()
		pending := e.login(t, "acme", u.Email, "192.0.2.10")
		_, err := e.auth.VerifyMFA(ctx, pending.Token, code, "192.0.2.10")
		return err
	}
	e.clock.Add(31 * time.Second)
	if err := verify(alice, totpCode(t, secret, e.clock.Now())); err != nil {
		t.Fatalf("alice's own code: %v", err)
	}

	// Copied to another user, it does not open: no code is accepted, and
	// the failure is an integrity error, not a silent match.
	if _, err := e.db.Pool.Exec(ctx, `UPDATE users SET totp_secret = $2 WHERE id = $1`, bob.ID, s); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(31 * time.Second)
	if err := verify(bob, totpCode(t, secret, e.clock.Now())); tma.ErrorCode(err) != tma.ECORRUPT {
		t.Fatalf("alice's sealed seed in bob's row: err %v, want ECORRUPT", err)
	}

	// A seed from before sealing is sealed by the sweep and still works.
	if _, err := e.db.Pool.Exec(ctx, `UPDATE users SET totp_secret = $2 WHERE id = $1`, bob.ID, secret); err != nil {
		t.Fatal(err)
	}
	n, err := e.auth.SealLegacySecrets(ctx)
	if err != nil || n != 1 {
		t.Fatalf("SealLegacySecrets: %d, %v; want 1", n, err)
	}
	if s := stored(bob); !strings.HasPrefix(s, "sealed:") || strings.Contains(s, secret) {
		t.Fatalf("legacy seed after the sweep: %.40q", s)
	}
	e.clock.Add(31 * time.Second)
	if err := verify(bob, totpCode(t, secret, e.clock.Now())); err != nil {
		t.Fatalf("legacy seed after sealing: %v", err)
	}
	if n, err := e.auth.SealLegacySecrets(ctx); err != nil || n != 0 {
		t.Fatalf("second sweep: %d, %v; want 0", n, err)
	}
}
