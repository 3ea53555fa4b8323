package main

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/tma-portal/tma/server/search"
	"github.com/tma-portal/tma/server/tma"
)

// emptyOutbox is a SearchSource whose outbox holds nothing new.
type emptyOutbox struct{}

var _ tma.SearchSource = emptyOutbox{}

func (emptyOutbox) Changes(context.Context, int64, int) ([]tma.SearchChange, error) { return nil, nil }
func (emptyOutbox) Load(context.Context, string, []string) ([]*tma.SearchDoc, error) {
	return nil, nil
}
func (emptyOutbox) All(context.Context, func(*tma.SearchDoc) error) (int64, error) { return 0, nil }
func (emptyOutbox) Count(context.Context) (int, error)                             { return 0, nil }
func (emptyOutbox) Scope(context.Context, *tma.User) (tma.SearchScope, error) {
	return tma.SearchScope{}, nil
}

// TestIndexerCompactsDeletesFromBeforeRestart: the server stopped after
// applying a deletion but before compacting; the next start compacts by
// itself, without waiting for another deletion, so the erased text leaves
// the files.
func TestIndexerCompactsDeletesFromBeforeRestart(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "search")
	ix, err := search.Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	d := &tma.SearchDoc{Key: "note:1", Type: tma.SearchNote, TenantID: "t", CaseID: "c", Text: "zqxjvortex"}
	kept := &tma.SearchDoc{Key: "note:2", Type: tma.SearchNote, TenantID: "t", CaseID: "c", Text: "bleibt"}
	if err := ix.Apply(ctx, 1, []*tma.SearchDoc{d, kept}, nil); err != nil {
		t.Fatal(err)
	}
	if err := ix.Apply(ctx, 2, nil, []tma.SearchChange{{Seq: 2, TenantID: "t", Key: "note:1"}}); err != nil {
		t.Fatal(err)
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}

	x := newIndexer(emptyOutbox{}, dir, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := x.open(ctx); err != nil {
		t.Fatal(err)
	}
	defer x.close()
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); x.run(rctx) }()
	defer func() { cancel(); <-done }()
	var terms []string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if terms, err = x.Index().TermsWithPrefix("zqxj"); err != nil {
			t.Fatal(err)
		}
		if len(terms) == 0 {
			return
		}
	}
	t.Errorf("after the restart, the dictionaries still hold %v", terms)
}
