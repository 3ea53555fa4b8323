package search

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/tma-portal/tma/server/tma"
)

// TestIndexConcurrentApplyCompactSearchClose runs Apply, Compact and
// searches of several tenants at once (under -race), then closes the index
// while searches go on: a search after Close fails, never panics, and
// never answers "no hits" as if the tenant had none.
func TestIndexConcurrentApplyCompactSearchClose(t *testing.T) {
	ctx := context.Background()
	ix, err := Create(filepath.Join(t.TempDir(), "index"))
	if err != nil {
		t.Fatal(err)
	}
	tenants := []string{"t1", "t2", "t3"}
	for i, tn := range tenants {
		MustApply(t, ix, int64(i+1), &tma.SearchDoc{Key: "note:0", Type: tma.SearchNote, TenantID: tn, CaseID: "c", Text: "Drohung"})
	}
	var wg, writer sync.WaitGroup
	stop := make(chan struct{})
	var seq int64 = 10
	writer.Add(1)
	go func() {
		defer writer.Done()
		for i := 0; i < 30; i++ {
			tn := tenants[i%len(tenants)]
			seq++
			d := &tma.SearchDoc{Key: fmt.Sprintf("note:%d", i+1), Type: tma.SearchNote, TenantID: tn, CaseID: "c", Text: "Drohung neu"}
			if err := ix.Apply(ctx, seq, []*tma.SearchDoc{d}, []tma.SearchChange{{TenantID: tn, Key: fmt.Sprintf("note:%d", i)}}); err != nil {
				t.Error(err)
				return
			}
			if i%5 == 0 {
				if err := ix.Compact(ctx); err != nil {
					t.Error(err)
					return
				}
			}
		}
	}()
	for _, tn := range tenants {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				r, err := ix.Search(ctx, tma.SearchScope{TenantID: tn, Cases: []string{"c"}}, tma.SearchQuery{Text: "drohung"})
				if err != nil {
					t.Error(err)
					return
				}
				if r.Total == 0 {
					t.Errorf("tenant %s: no hits while its items were being updated", tn)
					return
				}
			}
		}()
	}
	// Let the writer finish, then stop the readers.
	writer.Wait()
	close(stop)
	wg.Wait()

	// Searches racing Close: each fails or answers, none panics.
	var closing sync.WaitGroup
	for _, tn := range tenants {
		closing.Add(1)
		go func() {
			defer closing.Done()
			for i := 0; i < 20; i++ {
				_, _ = ix.Search(ctx, tma.SearchScope{TenantID: tn, Cases: []string{"c"}}, tma.SearchQuery{Text: "drohung"})
			}
		}()
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	closing.Wait()
	if r, err := ix.Search(ctx, tma.SearchScope{TenantID: "t1", Cases: []string{"c"}}, tma.SearchQuery{Text: "drohung"}); err == nil {
		t.Errorf("Search after Close = %d hits, nil error; want an error", r.Total)
	}
}

// TestIndexClosedRefusesApply: an Apply after Close fails, and creates
// no tenant's index that nothing would ever close.
func TestIndexClosedRefusesApply(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "index")
	ix, err := Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	MustApply(t, ix, 1, &tma.SearchDoc{Key: "note:1", Type: tma.SearchNote, TenantID: "t", CaseID: "c", Text: "Drohung"})
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	err = ix.Apply(ctx, 2, []*tma.SearchDoc{{Key: "note:1", Type: tma.SearchNote, TenantID: "new", CaseID: "c", Text: "Drohung"}}, nil)
	if err == nil {
		t.Error("Apply after Close succeeded")
	}
	if _, err := os.Stat(shardDir(dir, "new")); err == nil {
		t.Error("Apply after Close created a tenant's index")
	}
	if err := ix.Compact(ctx); err == nil {
		t.Error("Compact after Close succeeded")
	}
	if n, _ := ix.LastSeq(ctx); n != 1 {
		t.Errorf("LastSeq after a refused Apply = %d, want 1", n)
	}
}

// TestCompactAfterReopenErasesEarlierDeletes: items deleted before a
// restart, with no compaction in between, leave the files at the next
// Compact: which tenants' indexes hold deleted items is not forgotten
// when the process stops.
func TestCompactAfterReopenErasesEarlierDeletes(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "index")
	ix, err := Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	MustApply(t, ix, 1, &tma.SearchDoc{Key: "note:1", Type: tma.SearchNote, TenantID: "a", CaseID: "c", Text: "zqxjtoken"},
		&tma.SearchDoc{Key: "note:2", Type: tma.SearchNote, TenantID: "a", CaseID: "c", Text: "bleibt"})
	if err := ix.Apply(ctx, 2, nil, []tma.SearchChange{{TenantID: "a", Key: "note:1"}}); err != nil {
		t.Fatal(err)
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	ix, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	// Another tenant changes; the compaction it triggers must also erase
	// what a's index still holds.
	MustApply(t, ix, 3, &tma.SearchDoc{Key: "note:1", Type: tma.SearchNote, TenantID: "b", CaseID: "c", Text: "anders"})
	if err := ix.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	if terms, err := ix.TermsWithPrefix("zqxj"); err != nil || len(terms) != 0 {
		t.Errorf("after the restart and a compaction, the dictionaries hold %v (%v)", terms, err)
	}
	r, err := ix.Search(ctx, tma.SearchScope{TenantID: "a", Cases: []string{"c"}}, tma.SearchQuery{Text: "bleibt"})
	if err != nil || r.Total != 1 {
		t.Errorf("the kept item: %v, %v", r, err)
	}
}

// TestApplyAfterFailedShardCreation: a tenant's index whose creation
// failed half-way (its folder made, the index not) does not stop every
// later Apply: the indexer would retry the same batch for ever, and no
// tenant's changes would be applied until a restart.
func TestApplyAfterFailedShardCreation(t *testing.T) {
	ctx := context.Background()
	ix := MustCreateIndex(t)
	// What a creation that failed after making the folder leaves.
	if err := os.MkdirAll(shardDir(ix.Dir(), "new"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(shardDir(ix.Dir(), "new"), "index_meta.json"), []byte(`{"storage":"scorch"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := ix.Apply(ctx, 1, []*tma.SearchDoc{{Key: "note:1", Type: tma.SearchNote, TenantID: "new", CaseID: "c", Text: "Drohung"}}, nil); err != nil {
		t.Fatalf("Apply after a failed creation of the tenant's index: %v", err)
	}
	r, err := ix.Search(ctx, tma.SearchScope{TenantID: "new", Cases: []string{"c"}}, tma.SearchQuery{Text: "drohung"})
	if err != nil || r.Total != 1 {
		t.Errorf("search: %v, %v", r, err)
	}
}
