package postgres_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tma-portal/tma/server/crypt"
	"github.com/tma-portal/tma/server/postgres"
	"github.com/tma-portal/tma/server/postgres/pgtest"
	"github.com/tma-portal/tma/server/tma"
)

// clock is a settable time source for the services.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

var (
	sessionPolicy  = tma.SessionPolicy{Idle: 30 * time.Minute, Absolute: 12 * time.Hour, PendingMFA: 5 * time.Minute}
	throttlePolicy = tma.ThrottlePolicy{AccountFailures: 5, AddressFailures: 20, Window: 15 * time.Minute, Lockout: 15 * time.Minute}
)

type env struct {
	db      *postgres.DB
	clock   *clock
	tenants *postgres.TenantService
	users   *postgres.UserService
	auth    *postgres.AuthService
	audit   *postgres.AuditService
}

func newEnv(t *testing.T) *env {
	t.Helper()
	db := pgtest.Open(t)
	c := &clock{now: time.Now()}
	db.Now = c.Now
	return &env{
		db: db, clock: c,
		tenants: postgres.NewTenantService(db),
		users:   postgres.NewUserService(db),
		auth:    postgres.NewAuthService(db, sessionPolicy, throttlePolicy, "TMA test", newSecretBox(t)),
		audit:   postgres.NewAuditService(db),
	}
}

// operator is the context of the `tma` command line, which may create
// auditors.
func operator(ctx context.Context, tenantID string) context.Context {
	return tma.NewContextWithActor(ctx, tma.Actor{TenantID: tenantID, Label: "test operator", Operator: true})
}

// newSecretBox seals TOTP seeds under a fresh local keyring.
func newSecretBox(t *testing.T) *crypt.SecretBox {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kek")
	if err := crypt.GenerateKeyringFile(path); err != nil {
		t.Fatal(err)
	}
	keys, err := crypt.LoadKeyring(path)
	if err != nil {
		t.Fatal(err)
	}
	return crypt.NewSecretBox(keys)
}

const password = "correct horse battery"

// mustTenant creates a tenant with one user per role given.
func (e *env) mustTenant(t *testing.T, slug string, roles ...tma.Role) (*tma.Tenant, []*tma.User) {
	t.Helper()
	ctx := context.Background()
	tn := &tma.Tenant{Slug: slug, Name: "Tenant " + slug}
	if err := e.tenants.CreateTenant(ctx, tn); err != nil {
		t.Fatalf("create tenant: %v", err)
	}
	var users []*tma.User
	for i, r := range roles {
		u, err := e.users.CreateUser(operator(ctx, tn.ID), tn.ID, tma.NewUser{
			Email: string(r) + "@" + slug + ".example", DisplayName: string(r), Password: password, Roles: []tma.Role{r},
		})
		if err != nil {
			t.Fatalf("create user %d: %v", i, err)
		}
		users = append(users, u)
	}
	return tn, users
}

func (e *env) login(t *testing.T, tenant, email, ip string) *tma.LoginResult {
	t.Helper()
	res, err := e.auth.Login(context.Background(), tma.LoginRequest{Tenant: tenant, Email: email, Password: password, IP: ip})
	if err != nil {
		t.Fatalf("login %s: %v", email, err)
	}
	return res
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := tma.ErrorCode(err); got != code {
		t.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}
