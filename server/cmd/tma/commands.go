package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"os"
	"slices"
	"strings"

	"github.com/tma-portal/tma/server/postgres"
	"github.com/tma-portal/tma/server/tma"
)

// openDB opens the database for a command.
func openDB(ctx context.Context, c *Config) (*postgres.DB, error) {
	return postgres.Open(ctx, c.DatabaseURL)
}

// systemCtx marks CLI actions in the audit log.
func systemCtx(ctx context.Context, tenantID string) context.Context {
	return tma.NewContextWithActor(ctx, tma.Actor{TenantID: tenantID, Label: "system (cli)", Operator: true})
}

func cmdMigrate(ctx context.Context, c *Config, args []string, w io.Writer) error {
	if err := flag.NewFlagSet("migrate", flag.ContinueOnError).Parse(args); err != nil {
		return err
	}
	db, err := openDB(ctx, c)
	if err != nil {
		return err
	}
	defer db.Close()
	applied, err := db.Migrate(ctx)
	for _, name := range applied {
		fmt.Fprintln(w, "applied", name)
	}
	if err == nil && len(applied) == 0 {
		fmt.Fprintln(w, "database is up to date")
	}
	return err
}

// generatePassword returns a random 20-character password without look-alike
// characters, about 115 bits of entropy.
func generatePassword() string {
	const alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, 20)
	for i := range b {
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		b[i] = alphabet[n.Int64()]
	}
	return string(b)
}

// createTenant creates a tenant with a first admin, in one transaction, and
// returns the admin's generated password. The tenant then gets the shipped
// instruments; if that fails, the tenant stands (its admin's password must
// still be shown) and the next server start imports them.
func createTenant(ctx context.Context, db *postgres.DB, slug, name, email string) (*tma.Tenant, string, error) {
	t := &tma.Tenant{Slug: slug, Name: name}
	pw := generatePassword()
	_, err := postgres.NewTenantService(db).CreateTenantWithAdmin(systemCtx(ctx, ""), t, tma.NewUser{
		Email: email, DisplayName: "Administrator", Password: pw,
	})
	if err != nil {
		return t, "", err
	}
	// Commands print their results; only a problem is logged.
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := seedInstruments(ctx, db, logger, t); err != nil {
		logger.Error("shipped instruments not imported into the new tenant", "tenant", t.Slug, "err", err)
	}
	return t, pw, nil
}

func cmdTenantCreate(ctx context.Context, c *Config, args []string, w io.Writer) error {
	fs := flag.NewFlagSet("tenant create", flag.ContinueOnError)
	slug := fs.String("slug", "", "short name typed at login, e.g. acme")
	name := fs.String("name", "", "display name")
	admin := fs.String("admin-email", "", "e-mail of the first admin")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *slug == "" || *name == "" || *admin == "" {
		return errors.New("tenant create needs --slug, --name and --admin-email")
	}
	db, err := openDB(ctx, c)
	if err != nil {
		return err
	}
	defer db.Close()
	t, pw, err := createTenant(ctx, db, *slug, *name, *admin)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "tenant %s created (id %s)\nadmin %s, password (shown once): %s\n", t.Slug, t.ID, *admin, pw)
	return nil
}

func cmdUserCreate(ctx context.Context, c *Config, args []string, w io.Writer) error {
	fs := flag.NewFlagSet("user create", flag.ContinueOnError)
	tenant := fs.String("tenant", "", "tenant slug")
	email := fs.String("email", "", "e-mail address")
	name := fs.String("name", "", "display name")
	roles := fs.String("roles", "", "comma-separated roles: "+rolesList())
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *tenant == "" || *email == "" || *name == "" || *roles == "" {
		return errors.New("user create needs --tenant, --email, --name and --roles")
	}
	db, t, err := openTenant(ctx, c, *tenant)
	if err != nil {
		return err
	}
	defer db.Close()
	pw := generatePassword()
	u, err := postgres.NewUserService(db).CreateUser(systemCtx(ctx, t.ID), t.ID, tma.NewUser{Email: *email, DisplayName: *name, Password: pw, Roles: parseRoles(*roles)})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "user %s created (id %s), password (shown once): %s\n", u.Email, u.ID, pw)
	return nil
}

func parseRoles(s string) []tma.Role {
	var rs []tma.Role
	for _, r := range strings.Split(s, ",") {
		if r = strings.TrimSpace(r); r != "" {
			rs = append(rs, tma.Role(r))
		}
	}
	return rs
}

// userCommand parses --tenant and --email (plus what flags adds), finds the
// user and runs fn as the operator.
func userCommand(ctx context.Context, c *Config, name string, args []string, flags func(*flag.FlagSet),
	fn func(ctx context.Context, us *postgres.UserService, u *tma.User) error) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	tenant := fs.String("tenant", "", "tenant slug")
	email := fs.String("email", "", "e-mail address of the user")
	if flags != nil {
		flags(fs)
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *tenant == "" || *email == "" {
		return fmt.Errorf("%s needs --tenant and --email", name)
	}
	db, t, err := openTenant(ctx, c, *tenant)
	if err != nil {
		return err
	}
	defer db.Close()
	us := postgres.NewUserService(db)
	u, err := us.FindUserByEmail(ctx, t.ID, *email)
	if err != nil {
		return err
	}
	return fn(systemCtx(ctx, t.ID), us, u)
}

func cmdUserRoles(ctx context.Context, c *Config, args []string, w io.Writer) error {
	var roles *string
	return userCommand(ctx, c, "user roles", args, func(fs *flag.FlagSet) {
		roles = fs.String("roles", "", "comma-separated roles: "+rolesList())
	}, func(ctx context.Context, us *postgres.UserService, u *tma.User) error {
		rs := parseRoles(*roles)
		if err := us.SetRoles(ctx, u.TenantID, u.ID, rs); err != nil {
			return err
		}
		fmt.Fprintf(w, "roles of %s set to %s\n", u.Email, *roles)
		if slices.Contains(rs, tma.RoleAuditor) && !u.HasRole(tma.RoleAuditor) {
			// The grant reset the credentials, which an admin may know.
			pw := generatePassword()
			if err := us.ResetPassword(ctx, u.TenantID, u.ID, pw); err != nil {
				return err
			}
			fmt.Fprintf(w, "a new auditor's credentials were reset (sessions, devices, second factor);\nnew password (shown once): %s\n", pw)
		}
		return nil
	})
}

func cmdUserPassword(ctx context.Context, c *Config, args []string, w io.Writer) error {
	return userCommand(ctx, c, "user password", args, nil, func(ctx context.Context, us *postgres.UserService, u *tma.User) error {
		pw := generatePassword()
		if err := us.ResetPassword(ctx, u.TenantID, u.ID, pw); err != nil {
			return err
		}
		fmt.Fprintf(w, "new password of %s (shown once; sessions ended, lockout lifted): %s\n", u.Email, pw)
		return nil
	})
}

func cmdUserUnlock(ctx context.Context, c *Config, args []string, w io.Writer) error {
	return userCommand(ctx, c, "user unlock", args, nil, func(ctx context.Context, us *postgres.UserService, u *tma.User) error {
		if err := us.LiftLockout(ctx, u.TenantID, u.ID); err != nil {
			return err
		}
		fmt.Fprintf(w, "sign-in lockout of %s lifted\n", u.Email)
		return nil
	})
}

func rolesList() string {
	s := make([]string, len(tma.Roles))
	for i, r := range tma.Roles {
		s[i] = string(r)
	}
	return strings.Join(s, ",")
}

// cmdAuditVerify checks one tenant's chain, or every tenant's.
func cmdAuditVerify(ctx context.Context, c *Config, args []string, w io.Writer) error {
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	tenant := fs.String("tenant", "", "tenant slug (default: all tenants)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	db, err := openDB(ctx, c)
	if err != nil {
		return err
	}
	defer db.Close()
	tenants := postgres.NewTenantService(db)
	var list []*tma.Tenant
	if *tenant == "" {
		list, err = tenants.FindTenants(ctx)
	} else {
		var t *tma.Tenant
		if t, err = tenants.FindTenantBySlug(ctx, *tenant); err == nil {
			list = []*tma.Tenant{t}
		}
	}
	if err != nil {
		return err
	}
	audit := postgres.NewAuditService(db)
	broken := 0
	for _, t := range list {
		id := t.ID
		n, err := audit.VerifyChain(systemCtx(ctx, id), id)
		var ce *tma.ChainError
		switch {
		case errors.As(err, &ce):
			broken++
			fmt.Fprintf(w, "tenant %s: BROKEN at #%d: %s\n", t.Slug, ce.Seq, ce.Reason)
		case err != nil:
			return err
		default:
			// The head can be recorded outside the database (a ticket, a
			// signed log); a later rewrite of the whole chain then shows.
			head, err := audit.FindAuditEvents(ctx, id, tma.AuditFilter{Limit: 1})
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "tenant %s: ok, %d events", t.Slug, n)
			if len(head) == 1 {
				fmt.Fprintf(w, ", head #%d sha256 %x", head[0].Seq, head[0].Hash)
			}
			fmt.Fprintln(w)
		}
	}
	if broken > 0 {
		return fmt.Errorf("%d audit chain(s) broken", broken)
	}
	return nil
}

// cmdInit prepares a fresh installation for `make run`: data directories,
// the local key file, migrations, and a demo tenant with a first admin whose
// password is printed once. Running it again changes nothing.
func cmdInit(ctx context.Context, c *Config, args []string, w io.Writer) error {
	if err := flag.NewFlagSet("init", flag.ContinueOnError).Parse(args); err != nil {
		return err
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return err
	}
	if err := initKeysAndBlobs(ctx, c, w); err != nil {
		return err
	}
	db, err := openDB(ctx, c)
	if err != nil {
		return err
	}
	defer db.Close()
	applied, err := db.Migrate(ctx)
	if err != nil {
		return err
	}
	if len(applied) > 0 {
		fmt.Fprintf(w, "applied %d migration(s)\n", len(applied))
	}
	list, err := postgres.NewTenantService(db).FindTenants(ctx)
	if err != nil || len(list) > 0 {
		return err
	}
	_, pw, err := createTenant(ctx, db, "demo", "Demo Organisation", "admin@demo.example")
	if tma.ErrorCode(err) == tma.ECONFLICT {
		return nil // another `tma init` created it a moment ago
	} else if err != nil {
		return err
	}
	fmt.Fprintf(w, `
  First start: a demo tenant and its admin were created.
    URL:           http://%s
    Organisation:  demo
    E-mail:        admin@demo.example
    Password:      %s   (shown once: store it now)

`, c.Listen, pw)
	return nil
}
