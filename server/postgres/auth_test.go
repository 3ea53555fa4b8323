package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/tma-portal/tma/server/tma"
)

func TestSessionLifecycle(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, users := e.mustTenant(t, "acme", tma.RoleThreatManager, tma.RoleAdmin)
	tm, admin := users[0], users[1]

	t.Run("login gives a fresh token each time", func(t *testing.T) {
		a := e.login(t, "acme", tm.Email, "192.0.2.1")
		b := e.login(t, "acme", tm.Email, "192.0.2.1")
		if a.Token == b.Token || len(a.Token) < 43 {
			t.Fatalf("tokens must be distinct and 256-bit: %q %q", a.Token, b.Token)
		}
		var stored int
		if err := e.db.Pool.QueryRow(ctx, `SELECT count(*) FROM sessions WHERE token_hash = convert_to($1, 'UTF8')`, a.Token).Scan(&stored); err != nil || stored != 0 {
			t.Fatalf("raw token must not be stored (found %d, %v)", stored, err)
		}
		p, err := e.auth.Authenticate(ctx, a.Token)
		if err != nil || p.User.ID != tm.ID || p.Tenant.Slug != "acme" {
			t.Fatalf("authenticate: %+v %v", p, err)
		}
	})

	t.Run("idle timeout", func(t *testing.T) {
		s := e.login(t, "acme", tm.Email, "192.0.2.1")
		e.clock.Add(sessionPolicy.Idle - time.Minute)
		if _, err := e.auth.Authenticate(ctx, s.Token); err != nil {
			t.Fatalf("active within idle timeout: %v", err)
		}
		e.clock.Add(sessionPolicy.Idle - time.Minute) // last use refreshed the idle clock
		if _, err := e.auth.Authenticate(ctx, s.Token); err != nil {
			t.Fatalf("use must refresh the idle timeout: %v", err)
		}
		e.clock.Add(sessionPolicy.Idle + time.Second)
		_, err := e.auth.Authenticate(ctx, s.Token)
		wantCode(t, err, tma.EUNAUTHORIZED)
	})

	t.Run("absolute timeout", func(t *testing.T) {
		s := e.login(t, "acme", tm.Email, "192.0.2.1")
		for elapsed := time.Duration(0); elapsed < sessionPolicy.Absolute-20*time.Minute; elapsed += 20 * time.Minute {
			e.clock.Add(20 * time.Minute)
			if _, err := e.auth.Authenticate(ctx, s.Token); err != nil {
				t.Fatalf("after %v: %v", elapsed, err)
			}
		}
		e.clock.Add(30 * time.Minute)
		_, err := e.auth.Authenticate(ctx, s.Token)
		wantCode(t, err, tma.EUNAUTHORIZED)
	})

	t.Run("rotation on password change", func(t *testing.T) {
		s := e.login(t, "acme", tm.Email, "192.0.2.1")
		other := e.login(t, "acme", tm.Email, "192.0.2.2")
		res, err := e.auth.ChangePassword(ctx, s.Token, password, password+"!")
		if err != nil {
			t.Fatal(err)
		}
		if res.Token == s.Token || res.Session.ID != s.Session.ID {
			t.Fatal("password change must rotate the token of the same session")
		}
		for name, tok := range map[string]string{"old token": s.Token, "other session": other.Token} {
			if _, err := e.auth.Authenticate(ctx, tok); tma.ErrorCode(err) != tma.EUNAUTHORIZED {
				t.Fatalf("%s still works after password change: %v", name, err)
			}
		}
		if _, err := e.auth.Authenticate(ctx, res.Token); err != nil {
			t.Fatal(err)
		}
		if _, err := e.auth.ChangePassword(ctx, res.Token, password+"!", password); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("rotation on second factor", func(t *testing.T) {
		s := e.login(t, "acme", tm.Email, "192.0.2.1")
		enr, err := e.auth.BeginTOTP(ctx, tm.TenantID, tm.ID)
		if err != nil {
			t.Fatal(err)
		}
		code, _ := totp.GenerateCode(enr.Secret, e.clock.Now())
		recovery, res, err := e.auth.ConfirmTOTP(ctx, s.Token, password, code)
		if err != nil || len(recovery) != 10 || res.Token == s.Token {
			t.Fatalf("confirm: %v %d", err, len(recovery))
		}
		if _, err := e.auth.Authenticate(ctx, s.Token); tma.ErrorCode(err) != tma.EUNAUTHORIZED {
			t.Fatal("enrolling MFA is a privilege change: the old token must stop working")
		}
		pending := e.login(t, "acme", tm.Email, "192.0.2.1")
		if !pending.Session.MFAPending {
			t.Fatal("a user with MFA must get a pending session after the password")
		}
		// The code used for enrolment cannot be replayed.
		_, err = e.auth.VerifyMFA(ctx, pending.Token, code, "192.0.2.1")
		wantCode(t, err, tma.EUNAUTHORIZED)
		full, err := e.auth.VerifyMFA(ctx, pending.Token, recovery[0], "192.0.2.1")
		if err != nil || full.Token == pending.Token || full.Session.MFAPending {
			t.Fatalf("recovery code: %v", err)
		}
		if _, err := e.auth.Authenticate(ctx, pending.Token); tma.ErrorCode(err) != tma.EUNAUTHORIZED {
			t.Fatal("the pending token must stop working after the second factor")
		}
		again := e.login(t, "acme", tm.Email, "192.0.2.1")
		_, err = e.auth.VerifyMFA(ctx, again.Token, recovery[0], "192.0.2.1")
		wantCode(t, err, tma.EUNAUTHORIZED) // recovery codes are single use
		if err := e.auth.RemoveTOTP(ctx, full.Token, password); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("logout and logout everywhere", func(t *testing.T) {
		a := e.login(t, "acme", tm.Email, "192.0.2.1")
		b := e.login(t, "acme", tm.Email, "192.0.2.2")
		if err := e.auth.Logout(ctx, a.Token); err != nil {
			t.Fatal(err)
		}
		if _, err := e.auth.Authenticate(ctx, a.Token); tma.ErrorCode(err) != tma.EUNAUTHORIZED {
			t.Fatal("logged-out session still works")
		}
		if _, err := e.auth.Authenticate(ctx, b.Token); err != nil {
			t.Fatal("logout must end only its own session")
		}
		c := e.login(t, "acme", tm.Email, "192.0.2.3")
		if err := e.auth.LogoutEverywhere(ctx, tm.TenantID, tm.ID); err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{b.Token, c.Token} {
			if _, err := e.auth.Authenticate(ctx, s); tma.ErrorCode(err) != tma.EUNAUTHORIZED {
				t.Fatal("session survived logout everywhere")
			}
		}
	})

	t.Run("revoked by an admin", func(t *testing.T) {
		s := e.login(t, "acme", tm.Email, "192.0.2.1")
		actx := tma.NewContextWithActor(ctx, tma.Actor{UserID: admin.ID, TenantID: admin.TenantID, Label: admin.Email})
		if err := e.auth.RevokeSessions(actx, tm.TenantID, tm.ID); err != nil {
			t.Fatal(err)
		}
		_, err := e.auth.Authenticate(ctx, s.Token)
		wantCode(t, err, tma.EUNAUTHORIZED)
		if err := e.users.SetDisabled(actx, tm.TenantID, tm.ID, true); err != nil {
			t.Fatal(err)
		}
		_, err = e.auth.Login(ctx, tma.LoginRequest{Tenant: "acme", Email: tm.Email, Password: password, IP: "192.0.2.9"})
		wantCode(t, err, tma.EUNAUTHORIZED)
		if err := e.users.SetDisabled(actx, tm.TenantID, tm.ID, false); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("forged tokens", func(t *testing.T) {
		for _, tok := range []string{"", "x", strings.Repeat("A", 43), strings.Repeat("A", 5000)} {
			_, err := e.auth.Authenticate(ctx, tok)
			wantCode(t, err, tma.EUNAUTHORIZED)
		}
	})
}

func TestLoginThrottling(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tn, users := e.mustTenant(t, "acme", tma.RoleLegal, tma.RoleHR)
	legal, hr := users[0], users[1]
	bad := func(email, ip string) error {
		_, err := e.auth.Login(ctx, tma.LoginRequest{Tenant: "acme", Email: email, Password: "wrong password!", IP: ip})
		return err
	}

	t.Run("unknown user and wrong password look the same", func(t *testing.T) {
		errUnknown := bad("nobody@acme.example", "198.51.100.7")
		errWrong := bad(hr.Email, "198.51.100.7")
		_, errTenant := e.auth.Login(ctx, tma.LoginRequest{Tenant: "nope", Email: hr.Email, Password: password, IP: "198.51.100.7"})
		for _, err := range []error{errUnknown, errWrong, errTenant} {
			wantCode(t, err, tma.EUNAUTHORIZED)
			if tma.ErrorMessage(err) != tma.ErrorMessage(errUnknown) {
				t.Fatalf("messages differ: %q vs %q", tma.ErrorMessage(err), tma.ErrorMessage(errUnknown))
			}
		}
		e.login(t, "acme", hr.Email, "198.51.100.7") // success clears the account counter
	})

	t.Run("account lockout", func(t *testing.T) {
		for i := 1; i < throttlePolicy.AccountFailures; i++ {
			wantCode(t, bad(legal.Email, "203.0.113.1"), tma.EUNAUTHORIZED)
		}
		err := bad(legal.Email, "203.0.113.1")
		wantCode(t, err, tma.ETHROTTLED)
		if msg := tma.ErrorMessage(err); !strings.Contains(msg, "Too many failed sign-in attempts") || !strings.Contains(msg, "15") {
			t.Fatalf("lockout message is not clear: %q", msg)
		}
		// The correct password is refused too, from any address.
		_, err = e.auth.Login(ctx, tma.LoginRequest{Tenant: "acme", Email: legal.Email, Password: password, IP: "203.0.113.99"})
		wantCode(t, err, tma.ETHROTTLED)
		// Other accounts are not affected.
		e.login(t, "acme", hr.Email, "203.0.113.1")
		e.clock.Add(throttlePolicy.Lockout + time.Second)
		e.login(t, "acme", legal.Email, "203.0.113.1")
	})

	t.Run("address lockout", func(t *testing.T) {
		ip := "203.0.113.50"
		for i := 0; i < throttlePolicy.AddressFailures; i++ {
			err := bad("user"+string(rune('a'+i))+"@acme.example", ip)
			if i < throttlePolicy.AddressFailures-1 {
				wantCode(t, err, tma.EUNAUTHORIZED)
			} else {
				wantCode(t, err, tma.ETHROTTLED)
			}
		}
		_, err := e.auth.Login(ctx, tma.LoginRequest{Tenant: "acme", Email: hr.Email, Password: password, IP: ip})
		wantCode(t, err, tma.ETHROTTLED)
		e.login(t, "acme", hr.Email, "203.0.113.51") // another address may still sign in
	})

	t.Run("failures and lockouts are audited", func(t *testing.T) {
		for _, action := range []string{tma.AuditLoginFailed, tma.AuditLoginThrottled, tma.AuditLoginSucceeded} {
			ev, err := e.audit.FindAuditEvents(ctx, tn.ID, tma.AuditFilter{Action: action})
			if err != nil || len(ev) == 0 {
				t.Fatalf("no %s events (%v)", action, err)
			}
		}
		if _, err := e.audit.VerifyChain(ctx, tn.ID); err != nil {
			t.Fatal(err)
		}
	})
}
