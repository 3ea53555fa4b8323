package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/tma-portal/tma/server/authz"
	"github.com/tma-portal/tma/server/crypt"
	"github.com/tma-portal/tma/server/postgres"
)

// cmdReindex rebuilds this installation's search index (TMA_SEARCH_DIR)
// from PostgreSQL into a fresh folder and swaps it in by renaming, so the
// folder always holds a whole index. Stop any server running on the same
// folder first: its index writes by path (its meta file, new tenants'
// indexes, new segment files), and after the swap those writes would land
// in the new folder. Or let the server rebuild by itself by deleting the
// folder before it starts.
func cmdReindex(ctx context.Context, c *Config, args []string, w io.Writer) error {
	if err := flag.NewFlagSet("reindex", flag.ContinueOnError).Parse(args); err != nil {
		return err
	}
	db, err := openDB(ctx, c)
	if err != nil {
		return err
	}
	defer db.Close()
	kp, err := keyProvider(ctx, c)
	if err != nil {
		return err
	}
	keys := postgres.NewCaseKeyService(db, kp).WithSecrets(crypt.NewSecretBox(kp))
	enforcer, err := authz.New()
	if err != nil {
		return err
	}
	src := postgres.NewSearchSource(db, crypt.NewCaseRecords(crypt.NewKeyCache(keys, c.KeyCacheTTL, 1000)), crypt.NewAttachments(kp), enforcer)
	total, err := src.Count(ctx)
	if err != nil {
		return err
	}
	p := &progress{w: w, tty: isTerminal(w), desc: "indexing", line: "indexed %d of %d item(s)"}
	p.update(0, total)
	ix, err := rebuildIndex(ctx, src, c.SearchDir, func(n int) { p.update(min(n, total), total) })
	p.stop(err == nil)
	if err != nil {
		return fmt.Errorf("reindex: %w", err)
	}
	seq, err := ix.LastSeq(ctx)
	if cerr := ix.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "search index %s rebuilt: %d item(s), current to outbox sequence %d\n", c.SearchDir, p.done, seq)
	return nil
}
