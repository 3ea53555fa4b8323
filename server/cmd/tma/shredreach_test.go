package main

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/tma-portal/tma/server/postgres"
	"github.com/tma-portal/tma/server/tma"
)

// TestShredReachesEveryProcess: a server process (this one) holds a case
// key in its cache; another process (the tma command line) shreds the case.
// The server stops serving the key within a second through LISTEN/NOTIFY,
// never hands it out for sealing after the shred, and does not serve it from
// its cache while its listener connection is gone.
func TestShredReachesEveryProcess(t *testing.T) {
	srv := startServer(t, nil)
	bin := buildTMA(t)
	ctx := context.Background()
	tn, _ := srv.mustTenant(t, "acme")
	cases := postgres.NewCaseKeyService(srv.DB, nil)

	// cached creates a case and waits until this process has its key in
	// the cache (the listener must be up for the cache to keep anything).
	cached := func(ref string) *tma.Case {
		t.Helper()
		c, err := cases.CreateCase(ctx, tn.ID, ref)
		if err != nil {
			t.Fatal(err)
		}
		before := srv.CaseKeys.Len()
		for deadline := time.Now().Add(10 * time.Second); srv.CaseKeys.Len() == before; time.Sleep(20 * time.Millisecond) {
			if _, err := srv.CaseKeys.CaseKey(ctx, tn.ID, c.ID); err != nil {
				t.Fatal(err)
			}
			if time.Now().After(deadline) {
				t.Fatal("the key cache never kept the key")
			}
		}
		return c
	}
	// shred runs `tma keys shred` as another process.
	shred := func(c *tma.Case) {
		t.Helper()
		cmd := exec.Command(bin, "keys", "shred", "--tenant", "acme", "--case", c.Reference, "--yes")
		cmd.Env = append(os.Environ(), "TMA_DATABASE_URL="+srv.Config.DatabaseURL, "TMA_DATA_DIR="+srv.Config.DataDir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("tma keys shred: %v\n%s", err, out)
		}
	}
	// refusedWithin checks the cached path first (SealingKey would drop the
	// key from the cache itself), then the key for sealing.
	refusedWithin := func(c *tma.Case, limit time.Duration) {
		t.Helper()
		start := time.Now()
		for {
			_, err := srv.CaseKeys.CaseKey(ctx, tn.ID, c.ID)
			if tma.ErrorCode(err) == tma.EGONE {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if time.Since(start) > limit {
				t.Fatalf("the shredded key was still served %s after the shred", limit)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if _, err := srv.CaseKeys.SealingKey(ctx, tn.ID, c.ID); tma.ErrorCode(err) != tma.EGONE {
			t.Fatalf("a key for sealing after the shred: err %v, want EGONE", err)
		}
	}
	// A key for sealing is checked against the database every time, even
	// while the cached copy still exists.
	sealCheck := cached("TM-2026-0000")
	shred(sealCheck)
	if _, err := srv.CaseKeys.SealingKey(ctx, tn.ID, sealCheck.ID); tma.ErrorCode(err) != tma.EGONE {
		t.Fatalf("a key for sealing right after the shred: err %v, want EGONE", err)
	}

	// The notification reaches this process.
	first := cached("TM-2026-0001")
	shred(first)
	refusedWithin(first, time.Second)

	// With the listener's connection killed, the cache is not used (it is
	// emptied when the loss is noticed, and again when the listener is
	// back): the very first read after the shred is refused. (That the cache
	// is off while the listener is down is TestKeyCacheOffAndSealing's.)
	second := cached("TM-2026-0002")
	var killed bool
	err := srv.DB.Pool.QueryRow(ctx, `SELECT coalesce(bool_or(pg_terminate_backend(pid)), false)
		FROM pg_stat_activity WHERE application_name = $1`, postgres.ListenerName+" "+strconv.Itoa(os.Getpid())).Scan(&killed)
	if err != nil || !killed {
		t.Fatalf("kill the listener: %v (killed %v)", err, killed)
	}
	shred(second)
	refusedWithin(second, 0)

	// Once the listener is back, the cache works again.
	third := cached("TM-2026-0003")
	if _, err := srv.CaseKeys.CaseKey(ctx, tn.ID, third.ID); err != nil {
		t.Fatal(err)
	}
}
