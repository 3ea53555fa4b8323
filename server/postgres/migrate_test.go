package postgres_test

import (
	"context"
	"sync"
	"testing"

	"github.com/tma-portal/tma/server/postgres"
	"github.com/tma-portal/tma/server/postgres/pgtest"
)

// TestMigrateConcurrently runs the migrations from several processes' worth
// of connections at once: each migration must be applied exactly once.
func TestMigrateConcurrently(t *testing.T) {
	url := pgtest.EmptyURL(t)
	ctx := context.Background()
	const workers = 6
	var wg sync.WaitGroup
	applied := make([][]string, workers)
	errs := make([]error, workers)
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db, err := postgres.Open(ctx, url)
			if err != nil {
				errs[i] = err
				return
			}
			defer db.Close()
			applied[i], errs[i] = db.Migrate(ctx)
		}()
	}
	wg.Wait()
	total := 0
	for i := range workers {
		if errs[i] != nil {
			t.Fatalf("worker %d: %v", i, errs[i])
		}
		total += len(applied[i])
	}
	db, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if total != n || n < 2 {
		t.Fatalf("applied %d migrations in total across workers, %d recorded; want each once", total, n)
	}
	pending, err := db.Pending(ctx)
	if err != nil || len(pending) != 0 {
		t.Fatalf("pending after migrate: %v %v", pending, err)
	}
}

func TestPendingOnEmptyDatabase(t *testing.T) {
	db, err := postgres.Open(context.Background(), pgtest.EmptyURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	pending, err := db.Pending(context.Background())
	if err != nil || len(pending) < 2 {
		t.Fatalf("an empty database must report every migration pending: %v %v", pending, err)
	}
}
