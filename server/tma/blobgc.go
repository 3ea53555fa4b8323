package tma

import (
	"context"
	"time"
)

// BlobRegistry knows which blobs the database refers to.
type BlobRegistry interface {
	// ReferencedBlobs returns the ids among ids that some row refers to.
	ReferencedBlobs(ctx context.Context, ids []string) (map[string]bool, error)
}

// TempCleaner is a blob store that keeps temporary files of writes in
// progress (the filesystem store); stores without any (S3, whose aborted
// multipart uploads a bucket lifecycle rule removes) do not implement it.
type TempCleaner interface {
	// CleanTemp removes temporary files older than olderThan.
	CleanTemp(olderThan time.Duration) (removed int, err error)
}

// MinBlobGrace keeps blob collection away from uploads in progress, whose
// blobs exist before the row that refers to them is committed.
const MinBlobGrace = time.Minute

// BlobGC deletes blobs that no row refers to and that are older than Grace.
type BlobGC struct {
	Store    BlobStore
	Registry BlobRegistry
	Grace    time.Duration
	DryRun   bool // report, delete nothing
	// Batch is how many ids are checked against the registry at once.
	Batch int
	// Now is the current time (time.Now if nil).
	Now func() time.Time
	// Deleted, if not nil, is told of every blob deleted (or, in a dry run,
	// that would be).
	Deleted func(BlobInfo)
}

// BlobGCReport counts what a collection did.
type BlobGCReport struct {
	Deleted, Kept, TempRemoved int
}

// Run collects once. EINVALID for a grace shorter than MinBlobGrace.
func (g *BlobGC) Run(ctx context.Context) (BlobGCReport, error) {
	var rep BlobGCReport
	if g.Grace < MinBlobGrace {
		return rep, Errorf(EINVALID, "The grace period must be at least %s: a shorter one could delete uploads in progress.", MinBlobGrace)
	}
	now, batch := time.Now, g.Batch
	if g.Now != nil {
		now = g.Now
	}
	if batch <= 0 {
		batch = 500
	}
	cutoff := now().Add(-g.Grace)
	var candidates []BlobInfo
	sweep := func() error {
		if len(candidates) == 0 {
			return nil
		}
		ids := make([]string, len(candidates))
		for i, b := range candidates {
			ids[i] = b.ID
		}
		refs, err := g.Registry.ReferencedBlobs(ctx, ids)
		if err != nil {
			return err
		}
		for _, b := range candidates {
			if refs[b.ID] {
				rep.Kept++
				continue
			}
			if !g.DryRun {
				if err := g.Store.Delete(ctx, b.ID); err != nil {
					return err
				}
			}
			rep.Deleted++
			if g.Deleted != nil {
				g.Deleted(b)
			}
		}
		candidates = candidates[:0]
		return nil
	}
	err := g.Store.List(ctx, func(b BlobInfo) error {
		if b.ModTime.After(cutoff) {
			rep.Kept++
			return nil
		}
		candidates = append(candidates, b)
		if len(candidates) < batch {
			return nil
		}
		return sweep()
	})
	if err == nil {
		err = sweep()
	}
	if err != nil {
		return rep, Wrap("BlobGC.Run", err)
	}
	if tc, ok := g.Store.(TempCleaner); ok && !g.DryRun {
		if rep.TempRemoved, err = tc.CleanTemp(g.Grace); err != nil {
			return rep, Wrap("BlobGC.Run", err)
		}
	}
	return rep, nil
}
