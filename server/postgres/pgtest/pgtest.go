// Package pgtest gives tests a real, migrated PostgreSQL database of their
// own, cloned from a template that is migrated once per migration set.
//
// The cluster comes from TMA_TEST_DATABASE_URL, which `make test` points at
// a private throw-away cluster.
package pgtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tma-portal/tma/migrations"
	"github.com/tma-portal/tma/server/postgres"
)

// templateLock serialises template creation across test processes.
const templateLock = 0x746d615f746d706c // "tma_tmpl"

// URL returns the URL of a new database cloned from the migrated template.
// The database is dropped when the test ends.
func URL(tb testing.TB) string {
	tb.Helper()
	base := os.Getenv("TMA_TEST_DATABASE_URL")
	if base == "" {
		tb.Fatal("TMA_TEST_DATABASE_URL is not set: run the tests with `make test`, which starts a private PostgreSQL cluster")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		tb.Fatalf("pgtest: connect: %v", err)
	}
	defer admin.Close(ctx)
	tmpl := ensureTemplate(ctx, tb, admin, base)

	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "tma_test_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec(ctx, fmt.Sprintf(`CREATE DATABASE %s TEMPLATE %s`, name, tmpl)); err != nil {
		tb.Fatalf("pgtest: create database: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			tb.Errorf("pgtest: connect for drop: %v", err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, name)); err != nil {
			tb.Errorf("pgtest: drop database: %v", err)
		}
	})
	return withDatabase(tb, base, name)
}

// Open returns a migrated database of the test's own.
func Open(tb testing.TB) *postgres.DB {
	tb.Helper()
	db, err := postgres.Open(context.Background(), URL(tb))
	if err != nil {
		tb.Fatalf("pgtest: open: %v", err)
	}
	tb.Cleanup(db.Close)
	return db
}

func withDatabase(tb testing.TB, base, name string) string {
	tb.Helper()
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("pgtest: TMA_TEST_DATABASE_URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// ensureTemplate creates the template database for the current migrations
// once. Its name carries a hash of the migrations, so a changed migration
// set gets a fresh template.
func ensureTemplate(ctx context.Context, tb testing.TB, admin *pgx.Conn, base string) string {
	tb.Helper()
	h := sha256.New()
	err := fs.WalkDir(migrations.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(migrations.FS, p)
		h.Write([]byte(p))
		h.Write(b)
		return err
	})
	if err != nil {
		tb.Fatalf("pgtest: hash migrations: %v", err)
	}
	name := "tma_tmpl_" + hex.EncodeToString(h.Sum(nil))[:16]
	if _, err := admin.Exec(ctx, `SELECT pg_advisory_lock($1)`, templateLock); err != nil {
		tb.Fatalf("pgtest: lock: %v", err)
	}
	defer admin.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, templateLock) //nolint:errcheck
	var exists bool
	if err := admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	if exists {
		return name
	}
	building := name + "_build"
	if _, err := admin.Exec(ctx, fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, building)); err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	if _, err := admin.Exec(ctx, fmt.Sprintf(`CREATE DATABASE %s`, building)); err != nil {
		tb.Fatalf("pgtest: create template: %v", err)
	}
	db, err := postgres.Open(ctx, withDatabase(tb, base, building))
	if err != nil {
		tb.Fatalf("pgtest: open template: %v", err)
	}
	_, err = db.Migrate(ctx)
	db.Close()
	if err != nil {
		tb.Fatalf("pgtest: migrate template: %v", err)
	}
	// Renamed only when complete, so a crash never leaves a half-migrated
	// template under the final name.
	if _, err := admin.Exec(ctx, fmt.Sprintf(`ALTER DATABASE %s RENAME TO %s`, building, name)); err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	return name
}

// EmptyURL returns the URL of a new, empty database (no migrations), for
// tests of the migration runner. It is dropped when the test ends.
func EmptyURL(tb testing.TB) string {
	tb.Helper()
	base := os.Getenv("TMA_TEST_DATABASE_URL")
	if base == "" {
		tb.Fatal("TMA_TEST_DATABASE_URL is not set: run the tests with `make test`")
	}
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		tb.Fatalf("pgtest: connect: %v", err)
	}
	defer admin.Close(ctx)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "tma_empty_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec(ctx, `CREATE DATABASE `+name); err != nil {
		tb.Fatalf("pgtest: create database: %v", err)
	}
	tb.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), base)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`)
	})
	return withDatabase(tb, base, name)
}
