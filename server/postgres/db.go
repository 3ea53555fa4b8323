// Package postgres implements the tma services on PostgreSQL with pgx and
// hand-written SQL. Every public method runs in its own transaction; audit
// events are written in the same transaction as the change they record.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tma-portal/tma/migrations"
	"github.com/tma-portal/tma/server/tma"
)

// migrateLock is the advisory lock key that serialises migration runs of all
// processes on one database.
const migrateLock = 0x746d615f6d6967 // "tma_mig"

// DB is a connection pool plus the clock the services use, and the
// session cache when it is enabled (sessioncache.go).
type DB struct {
	Pool *pgxpool.Pool
	// Now returns the current time; tests replace it to move time forward.
	Now func() time.Time

	cache  *sessionCache // nil: no cache
	raised raisedChanges
	keys   KeyWatcher // nil: no case-key cache to keep in step

	searchWake func() // nil: nobody tails the search outbox here
}

// Option changes how Open connects.
type Option func(*pgxpool.Config)

// WithQueryTracer traces every query of the pool; tests count queries with
// it.
func WithQueryTracer(t pgx.QueryTracer) Option {
	return func(c *pgxpool.Config) { c.ConnConfig.Tracer = t }
}

// Open connects to the database at url and checks that it answers.
func Open(ctx context.Context, url string, opts ...Option) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// The parse error may quote the URL, password included.
		return nil, tma.Errorf(tma.EINVALID, "The database URL cannot be parsed.")
	}
	for _, o := range opts {
		o(cfg)
	}
	db := &DB{Now: time.Now}
	cfg.ConnConfig.OnNotice = db.onNotice
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, tma.Wrap("postgres.Open", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, &tma.Error{Code: tma.EUNAVAILABLE, Message: "The database is not reachable.", Op: "postgres.Open", Err: err}
	}
	db.Pool = pool
	return db, nil
}

// Close closes the pool.
func (db *DB) Close() { db.Pool.Close() }

func (db *DB) now() time.Time { return db.Now().UTC().Truncate(time.Microsecond) }

// querier is what pgxpool.Pool and pgx.Tx have in common.
type querier interface {
	QueryRow(context.Context, string, ...any) pgx.Row
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
}

// inTx runs fn in a transaction and commits if fn returns nil. When the
// transaction has ended, the session cache drops what it changed.
func (db *DB) inTx(ctx context.Context, op string, fn func(tx pgx.Tx) error) error {
	tx, err := db.Pool.Begin(ctx)
	if err != nil {
		return dbError(op, err)
	}
	defer db.settle(tx.Conn().PgConn())
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	if err := fn(tx); err != nil {
		return dbError(op, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return dbError(op, err)
	}
	return nil
}

// dbError classifies a database error once, where it arises: errors that
// already carry a code keep it; a lost or refused connection, a timeout or
// a server shutting down is EUNAVAILABLE (503, try again); text the
// database cannot store is EINVALID; anything else, an SQL bug included,
// is EINTERNAL (500).
func dbError(op string, err error) error {
	if err == nil {
		return nil
	}
	var te *tma.Error
	if errors.As(err, &te) {
		return tma.Wrap(op, err)
	}
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr):
		switch {
		case strings.HasPrefix(pgErr.Code, "08"), strings.HasPrefix(pgErr.Code, "57P"), pgErr.Code == "53300",
			pgErr.Code == "57014",                        // statement timeout or cancelled
			pgErr.Code == "40001", pgErr.Code == "40P01": // serialization failure, deadlock: try again
			return unavailable(op, err)
		case pgErr.Code == "22021" || pgErr.Code == "22P05":
			return &tma.Error{Code: tma.EINVALID, Message: "The input contains characters that cannot be stored.", Op: op, Err: err}
		}
		return tma.Wrap(op, err)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled), pgconn.Timeout(err):
		return unavailable(op, err)
	}
	var connErr *pgconn.ConnectError
	var netErr net.Error
	if errors.As(err, &connErr) || errors.As(err, &netErr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return unavailable(op, err)
	}
	return tma.Wrap(op, err)
}

func unavailable(op string, err error) error {
	return &tma.Error{Code: tma.EUNAVAILABLE, Message: "The database is not reachable.", Op: op, Err: err}
}

// Migrate applies the embedded migrations that have not run yet, each in its
// own transaction, under an advisory lock so that concurrent runs from
// several processes apply each migration exactly once.
func (db *DB) Migrate(ctx context.Context) (applied []string, err error) {
	conn, err := db.Pool.Acquire(ctx)
	if err != nil {
		return nil, unavailable("postgres.Migrate", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrateLock); err != nil {
		return nil, tma.Wrap("postgres.Migrate: lock", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrateLock) //nolint:errcheck
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return nil, tma.Wrap("postgres.Migrate: bookkeeping", err)
	}
	names, err := migrationNames()
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		var done bool
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE name = $1)`, name).Scan(&done); err != nil {
			return applied, tma.Wrap("postgres.Migrate", err)
		}
		if done {
			continue
		}
		sql, err := fs.ReadFile(migrations.FS, name)
		if err != nil {
			return applied, tma.Wrap("postgres.Migrate", err)
		}
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, string(sql)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (name) VALUES ($1)`, name)
			return err
		})
		if err != nil {
			return applied, tma.Wrap("postgres.Migrate: "+name, err)
		}
		applied = append(applied, name)
	}
	return applied, nil
}

// Pending returns the migrations that have not been applied. Readiness
// checks use it: a process must not serve on a schema older than its code.
func (db *DB) Pending(ctx context.Context) ([]string, error) {
	names, err := migrationNames()
	if err != nil {
		return nil, err
	}
	var done []string
	rows, err := db.Pool.Query(ctx, `SELECT name FROM schema_migrations`)
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42P01" { // undefined_table
			return names, nil
		}
		return nil, unavailable("postgres.Pending", err)
	}
	done, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, unavailable("postgres.Pending", err)
	}
	var pending []string
	for _, n := range names {
		if !slices.Contains(done, n) {
			pending = append(pending, n)
		}
	}
	return pending, nil
}

func migrationNames() ([]string, error) {
	names, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	slices.Sort(names)
	return names, nil
}

// isUniqueViolation reports whether err is a unique_violation.
func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

// notFound turns pgx.ErrNoRows into ENOTFOUND with msg.
func notFound(err error, msg string) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return &tma.Error{Code: tma.ENOTFOUND, Message: msg} // msg is a catalog key as it stands
	}
	return err
}
