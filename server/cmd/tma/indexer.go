package main

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tma-portal/tma/server/search"
	"github.com/tma-portal/tma/server/tma"
)

// Indexing: each server process keeps its own search index (TMA_SEARCH_DIR)
// and tails the PostgreSQL outbox into it. At start the index is opened,
// or rebuilt from PostgreSQL if it is missing, corrupt or of an old
// mapping; then the loop applies the outbox after the index's last
// sequence in batches, whenever the listener hears tma_search and at
// least every pollEvery. Until it has caught up once, /readyz says not
// ready.

const (
	pollEvery  = 200 * time.Millisecond
	applyBatch = 500 // outbox rows per Apply
	fillBatch  = 500 // documents per Apply of a rebuild
)

// indexer keeps one process's index in step with the outbox.
type indexer struct {
	src tma.SearchSource
	dir string
	log *slog.Logger

	mu    sync.RWMutex
	index *search.Index

	caughtUp atomic.Bool
	wake     chan struct{}

	// erased is set at open and when an applied batch deleted items (a deleted
	// document, a shredded case): their terms stay in the index files
	// until a merge, so the loop compacts, at most every compactEvery.
	erased      bool
	lastCompact time.Time
	// opened is set at open until the first compaction, which does not
	// count towards compactEvery: it only merges what a previous process
	// left, and must not hold back the compaction of this one's deletions.
	opened bool
}

// compactEvery bounds how often deletions make the index compact itself.
const compactEvery = time.Minute

func newIndexer(src tma.SearchSource, dir string, log *slog.Logger) *indexer {
	return &indexer{src: src, dir: dir, log: log, wake: make(chan struct{}, 1)}
}

// Wake asks the loop to look at the outbox now. It never blocks.
func (x *indexer) Wake() {
	select {
	case x.wake <- struct{}{}:
	default:
	}
}

// Index is the current index; nil until open has run.
func (x *indexer) Index() *search.Index {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.index
}

// Ready is nil once the index has caught up with the outbox once.
func (x *indexer) Ready() error {
	if !x.caughtUp.Load() {
		return tma.Errorf(tma.EUNAVAILABLE, "The search index is catching up.")
	}
	return nil
}

// open opens the index, and rebuilds it from PostgreSQL if Open says it
// must.
func (x *indexer) open(ctx context.Context) error {
	ix, err := search.Open(x.dir)
	if errors.Is(err, search.ErrNeedsRebuild) {
		x.log.Info("search index: rebuilding from the database", "reason", err.Error())
		began := time.Now()
		ix, err = rebuildIndex(ctx, x.src, x.dir, nil)
		if err == nil {
			x.log.Info("search index: rebuilt", "took", time.Since(began).Round(time.Millisecond).String())
		}
	}
	if err != nil {
		return err
	}
	x.mu.Lock()
	x.index = ix
	x.mu.Unlock()
	// A previous process may have applied deletions and stopped before
	// compacting: the shards it changed are still marked, and the first
	// round compacts them (Compact passes over unmarked ones).
	x.erased, x.opened = true, true
	return nil
}

// rebuildIndex builds a fresh index of every item in PostgreSQL beside dir
// and swaps it in. progress, if not nil, gets the count of items indexed.
func rebuildIndex(ctx context.Context, src tma.SearchSource, dir string, progress func(n int)) (*search.Index, error) {
	return search.Rebuild(ctx, dir, func(ctx context.Context, ix *search.Index) error {
		var batch []*tma.SearchDoc
		n := 0
		seq, err := src.All(ctx, func(d *tma.SearchDoc) error {
			batch = append(batch, d)
			if len(batch) < fillBatch {
				return nil
			}
			n += len(batch)
			err := ix.Apply(ctx, 0, batch, nil)
			batch = batch[:0]
			if progress != nil {
				progress(n)
			}
			return err
		})
		if err != nil {
			return err
		}
		// The last Apply records the sequence All was current to, also for
		// an empty database.
		if err := ix.Apply(ctx, seq, batch, nil); err != nil {
			return err
		}
		if progress != nil {
			progress(n + len(batch))
		}
		return nil
	})
}

// run applies the outbox until ctx ends. Errors are logged and retried:
// the index only ever lags, and the outbox keeps what it has not applied.
func (x *indexer) run(ctx context.Context) {
	backoff := pollEvery
	for {
		err := x.catchUp(ctx)
		if err == nil && x.erased && time.Since(x.lastCompact) >= compactEvery {
			if ix := x.Index(); ix != nil {
				if err = ix.Compact(ctx); err == nil {
					x.erased = false
					if !x.opened {
						x.lastCompact = time.Now()
					}
					x.opened = false
				}
			}
		}
		wait := pollEvery
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			x.log.Warn("search index: applying the outbox failed; retrying", "err", err, "retry_in", backoff.String())
			wait, backoff = backoff, min(2*backoff, 10*time.Second)
		default:
			backoff = pollEvery
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-x.wake:
			t.Stop()
		case <-t.C:
		}
	}
}

// catchUp applies outbox batches until none is left.
func (x *indexer) catchUp(ctx context.Context) error {
	ix := x.Index()
	if ix == nil {
		return errors.New("search index not open")
	}
	for {
		last, err := ix.LastSeq(ctx)
		if err != nil {
			return err
		}
		changes, err := x.src.Changes(ctx, last, applyBatch)
		if err != nil {
			return err
		}
		if len(changes) == 0 {
			x.caughtUp.Store(true)
			return nil
		}
		deleted, err := applyChanges(ctx, x.src, ix, changes)
		if err != nil {
			return err
		}
		x.erased = x.erased || deleted > 0
	}
}

// applyChanges loads the changed items, tenant by tenant, and applies them
// with the last sequence of changes: what Load returns is upserted, and
// every other key of changes is deleted (the item is gone or shredded).
func applyChanges(ctx context.Context, src tma.SearchSource, ix tma.SearchIndex, changes []tma.SearchChange) (deleted int, err error) {
	type tenantKeys struct {
		keys []string
		seen map[string]bool
	}
	byTenant := map[string]*tenantKeys{}
	var tenants []string
	for _, c := range changes {
		tk := byTenant[c.TenantID]
		if tk == nil {
			tk = &tenantKeys{seen: map[string]bool{}}
			byTenant[c.TenantID] = tk
			tenants = append(tenants, c.TenantID)
		}
		if !tk.seen[c.Key] {
			tk.seen[c.Key] = true
			tk.keys = append(tk.keys, c.Key)
		}
	}
	var docs []*tma.SearchDoc
	var gone []tma.SearchChange
	for _, tenantID := range tenants {
		tk := byTenant[tenantID]
		got, err := src.Load(ctx, tenantID, tk.keys)
		if err != nil {
			return 0, err
		}
		present := map[string]bool{}
		for _, d := range got {
			present[d.Key] = true
		}
		for _, k := range tk.keys {
			if !present[k] {
				gone = append(gone, tma.SearchChange{TenantID: tenantID, Key: k})
			}
		}
		docs = append(docs, got...)
	}
	return len(gone), ix.Apply(ctx, changes[len(changes)-1].Seq, docs, gone)
}

// close closes the index.
func (x *indexer) close() {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.index != nil {
		_ = x.index.Close()
		x.index = nil
	}
}
