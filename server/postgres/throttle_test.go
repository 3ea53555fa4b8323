package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/tma-portal/tma/server/postgres"
	"github.com/tma-portal/tma/server/postgres/pgtest"
	"github.com/tma-portal/tma/server/tma"
)

// TestParallelGuessesStayWithinTheLimit: a burst of parallel wrong
// passwords gets no more checks than the limit, and afterwards even the
// correct password is refused until the lockout ends.
func TestParallelGuessesStayWithinTheLimit(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tn, users := e.mustTenant(t, "acme", tma.RoleLegal)
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Go(func() {
			_, _ = e.auth.Login(ctx, tma.LoginRequest{Tenant: "acme", Email: users[0].Email, Password: "wrong password!",
				IP: fmt.Sprintf("198.51.100.%d", i)})
		})
	}
	wg.Wait()
	failed, err := e.audit.FindAuditEvents(ctx, tn.ID, tma.AuditFilter{Action: tma.AuditLoginFailed, Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	if len(failed) != throttlePolicy.AccountFailures {
		t.Fatalf("%d passwords were checked in a burst of 30; the limit is %d", len(failed), throttlePolicy.AccountFailures)
	}
	_, err = e.auth.Login(ctx, tma.LoginRequest{Tenant: "acme", Email: users[0].Email, Password: password, IP: "198.51.100.200"})
	wantCode(t, err, tma.ETHROTTLED)
}

// TestSecondFactorCannotBeGuessedBySigningInAgain: wrong codes are counted
// per user across sessions; a correct password does not reset the count.
func TestSecondFactorCannotBeGuessedBySigningInAgain(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, users := e.mustTenant(t, "acme", tma.RoleLegal)
	u := users[0]
	enrolTOTP(t, e, u)
	var err error
	for round := 0; round < throttlePolicy.AccountFailures+2; round++ {
		pending, lerr := e.auth.Login(ctx, tma.LoginRequest{Tenant: "acme", Email: u.Email, Password: password, IP: "192.0.2." + string(rune('1'+round))})
		if lerr != nil {
			t.Fatalf("round %d: login: %v", round, lerr)
		}
		_, err = e.auth.VerifyMFA(ctx, pending.Token, "000000", "192.0.2.200")
		if tma.ErrorCode(err) == tma.ETHROTTLED {
			break
		}
	}
	wantCode(t, err, tma.ETHROTTLED)
}

// enrolTOTP gives u an authenticator, confirmed with a code of the previous
// time step so that the current one is still unused.
func enrolTOTP(t *testing.T, e *env, u *tma.User) string {
	t.Helper()
	ctx := context.Background()
	s := e.login(t, "acme", u.Email, "192.0.2.250")
	enr, err := e.auth.BeginTOTP(ctx, u.TenantID, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	code := totpCode(t, enr.Secret, e.clock.Now().Add(-30*time.Second))
	if _, _, err := e.auth.ConfirmTOTP(ctx, s.Token, password, code); err != nil {
		t.Fatal(err)
	}
	return enr.Secret
}

// TestSecondFactorUnderLoad: many parallel second-factor attempts on a
// small pool finish instead of waiting for each other's connections.
func TestSecondFactorUnderLoad(t *testing.T) {
	ctx := context.Background()
	db, err := postgres.Open(ctx, pgtest.URL(t)+"&pool_max_conns=4")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	e := &env{db: db, clock: &clock{now: time.Now()}, tenants: postgres.NewTenantService(db), users: postgres.NewUserService(db),
		audit: postgres.NewAuditService(db)}
	db.Now = e.clock.Now
	e.auth = postgres.NewAuthService(db, sessionPolicy, tma.ThrottlePolicy{AccountFailures: 100, AddressFailures: 100, Window: time.Minute, Lockout: time.Minute}, "t", newSecretBox(t))
	_, users := e.mustTenant(t, "acme", tma.RoleLegal)
	enrolTOTP(t, e, users[0])
	pending := e.login(t, "acme", users[0].Email, "192.0.2.1")
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			_, err := e.auth.VerifyMFA(ctx, pending.Token, "000000", "192.0.2.1")
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if tma.ErrorCode(err) != tma.EUNAUTHORIZED {
			t.Fatalf("parallel wrong codes: %v, want EUNAUTHORIZED for each", err)
		}
	}
}

// TestExpiredSessionInAChange: a change on a session that has just expired
// fails at once instead of waiting on its own row lock.
func TestExpiredSessionInAChange(t *testing.T) {
	e := newEnv(t)
	_, users := e.mustTenant(t, "acme", tma.RoleLegal)
	s := e.login(t, "acme", users[0].Email, "192.0.2.1")
	e.clock.Add(sessionPolicy.Idle + time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := e.auth.ChangePassword(ctx, s.Token, password, password+"!")
	wantCode(t, err, tma.EUNAUTHORIZED)
}

// TestUnknownAccountsAreNotRecordedInClear: what was typed as an e-mail
// address that matches no account may be a password; the permanent audit
// log keeps only a short hash of it.
func TestUnknownAccountsAreNotRecordedInClear(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tn, _ := e.mustTenant(t, "acme", tma.RoleLegal)
	_, _ = e.auth.Login(ctx, tma.LoginRequest{Tenant: "acme", Email: "Tr0ub4dor&3 oops", Password: "whatever!!", IP: "192.0.2.1"})
	events, err := e.audit.FindAuditEvents(ctx, tn.ID, tma.AuditFilter{Action: tma.AuditLoginFailed})
	if err != nil || len(events) != 1 {
		t.Fatalf("events: %v %v", events, err)
	}
	if strings.Contains(strings.ToLower(events[0].ActorLabel), "tr0ub4dor") || !strings.HasPrefix(events[0].ActorLabel, "unknown account (sha256:") {
		t.Fatalf("audit label = %q", events[0].ActorLabel)
	}
}

func totpCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	code, err := totp.GenerateCode(secret, at)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// TestRetryingALockedAccountSparesTheAddress: someone who keeps retrying a
// locked account must not lock out colleagues behind the same address.
func TestRetryingALockedAccountSparesTheAddress(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, users := e.mustTenant(t, "acme", tma.RoleLegal, tma.RoleHR)
	const office = "203.0.113.77"
	for range throttlePolicy.AccountFailures {
		_, _ = e.auth.Login(ctx, tma.LoginRequest{Tenant: "acme", Email: users[0].Email, Password: "wrong password!", IP: office})
	}
	for range throttlePolicy.AddressFailures + 5 {
		_, err := e.auth.Login(ctx, tma.LoginRequest{Tenant: "acme", Email: users[0].Email, Password: password, IP: office})
		wantCode(t, err, tma.ETHROTTLED)
	}
	e.login(t, "acme", users[1].Email, office)
}

// TestKnownDeviceOutlastsLockout: a stranger's wrong passwords lock the
// account, but not the browser its owner signed in with before; that
// browser is limited on its own, and a forged or foreign device token
// counts like none.
func TestKnownDeviceOutlastsLockout(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, users := e.mustTenant(t, "acme", tma.RoleLegal, tma.RoleHR)
	owner, other := users[0], users[1]
	first := e.login(t, "acme", owner.Email, "192.0.2.1")
	if first.Device == "" {
		t.Fatal("a correct password gives no known-device token")
	}
	otherDevice := e.login(t, "acme", other.Email, "192.0.2.1").Device

	login := func(pw, device, ip string) (*tma.LoginResult, error) {
		return e.auth.Login(ctx, tma.LoginRequest{Tenant: "acme", Email: owner.Email, Password: pw, IP: ip, Device: device})
	}
	for i := range throttlePolicy.AccountFailures {
		_, _ = login("a stranger's guess", "", fmt.Sprintf("203.0.113.%d", i))
	}
	tests := []struct {
		name   string
		device string
		want   string
	}{
		{"no device", "", tma.ETHROTTLED},
		{"forged device", "forged-token-forged-token-forged-token-0123", tma.ETHROTTLED},
		{"another user's device", otherDevice, tma.ETHROTTLED},
		{"the owner's device", first.Device, ""},
	}
	for _, tc := range tests {
		res, err := login(password, tc.device, "198.51.100.7")
		if got := tma.ErrorCode(err); got != tc.want {
			t.Errorf("%s: error %q (%v), want %q", tc.name, got, err, tc.want)
		}
		if err == nil && res.Device != "" {
			t.Errorf("%s: a known device got a new token", tc.name)
		}
	}
	// The known device has its own limit: someone who stole it gets no more
	// guesses than anyone else.
	for range throttlePolicy.AccountFailures {
		_, _ = login("guess from the device", first.Device, "198.51.100.8")
	}
	_, err := login(password, first.Device, "198.51.100.9")
	wantCode(t, err, tma.ETHROTTLED)
}

// TestOwnerChangesPasswordDuringLockout: a stranger's wrong passwords lock
// the account for sign-ins, but its owner, already signed in, can still
// change the password; wrong current passwords are limited on their own.
func TestOwnerChangesPasswordDuringLockout(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, users := e.mustTenant(t, "acme", tma.RoleLegal)
	owner := users[0]
	s := e.login(t, "acme", owner.Email, "192.0.2.1")
	for i := range throttlePolicy.AccountFailures {
		_, _ = e.auth.Login(ctx, tma.LoginRequest{Tenant: "acme", Email: owner.Email, Password: "a stranger's guess", IP: fmt.Sprintf("203.0.113.%d", i)})
	}
	_, err := e.auth.Login(ctx, tma.LoginRequest{Tenant: "acme", Email: owner.Email, Password: password, IP: "192.0.2.2"})
	wantCode(t, err, tma.ETHROTTLED)
	res, err := e.auth.ChangePassword(ctx, s.Token, password, "a new password for me")
	if err != nil {
		t.Fatalf("the signed-in owner cannot change the password during a lockout: %v", err)
	}
	for i := range throttlePolicy.AccountFailures {
		_, err = e.auth.ChangePassword(ctx, res.Token, "not my password", "another new password")
		if i < throttlePolicy.AccountFailures-1 {
			wantCode(t, err, tma.EINVALID)
		} else {
			wantCode(t, err, tma.ETHROTTLED) // the last try locks
		}
	}
	_, err = e.auth.ChangePassword(ctx, res.Token, "a new password for me", "another new password")
	wantCode(t, err, tma.ETHROTTLED)
}
