package main

import (
	"context"

	"github.com/tma-portal/tma/server/tma"
)

// liveIndex is the index the web handlers search: whichever index the
// indexer holds at the moment (a rebuild swaps it), or none yet, which
// the search page shows as "search is unavailable".
type liveIndex struct{ x *indexer }

var _ tma.SearchIndex = liveIndex{}

func (l liveIndex) current() (tma.SearchIndex, error) {
	ix := l.x.Index()
	if ix == nil {
		return nil, tma.Errorf(tma.EUNAVAILABLE, "The search index is catching up.")
	}
	return ix, nil
}

func (l liveIndex) Apply(ctx context.Context, seq int64, docs []*tma.SearchDoc, deleted []tma.SearchChange) error {
	ix, err := l.current()
	if err != nil {
		return err
	}
	return ix.Apply(ctx, seq, docs, deleted)
}

func (l liveIndex) LastSeq(ctx context.Context) (int64, error) {
	ix, err := l.current()
	if err != nil {
		return 0, err
	}
	return ix.LastSeq(ctx)
}

func (l liveIndex) Search(ctx context.Context, scope tma.SearchScope, q tma.SearchQuery) (*tma.SearchResult, error) {
	ix, err := l.current()
	if err != nil {
		return nil, err
	}
	return ix.Search(ctx, scope, q)
}

func (l liveIndex) Snippet(text string, q tma.SearchQuery) []tma.SnippetPart {
	ix, err := l.current()
	if err != nil {
		return nil
	}
	return ix.Snippet(text, q)
}
