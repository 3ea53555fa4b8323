package main

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/tma-portal/tma/server/postgres"
	"github.com/tma-portal/tma/server/tma"
)

// TestCLIBlobsGCOnS3 runs `tma blobs gc` configured for S3, against an
// in-process server that speaks the S3 protocol.
func TestCLIBlobsGCOnS3(t *testing.T) {
	ctx := context.Background()
	clock := gofakes3.FixedTimeSource(time.Now().Add(-48 * time.Hour))
	backend := s3mem.New(s3mem.WithTimeSource(clock))
	if err := backend.CreateBucket("tma-blobs"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(backend, gofakes3.WithTimeSource(clock), gofakes3.WithTimeSkewLimit(0), gofakes3.WithLogger(gofakes3.DiscardLog())).Server())
	defer srv.Close()

	e := newCLIEnv(t)
	for k, v := range map[string]string{
		"TMA_BLOB_STORE": "s3", "TMA_S3_ENDPOINT": srv.URL, "TMA_S3_BUCKET": "tma-blobs", "TMA_S3_PREFIX": "blobs/",
		"TMA_S3_PATH_STYLE": "true", "TMA_S3_ACCESS_KEY": "test", "TMA_S3_SECRET_KEY": "test",
	} {
		e.env[k] = v
	}
	e.mustRun(t, "init")
	cfg, err := LoadConfig(ctx, func(k string) string { return e.env[k] })
	if err != nil {
		t.Fatal(err)
	}
	store, err := blobStore(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	put := func() string {
		t.Helper()
		id := tma.NewID()
		if _, err := store.Put(ctx, id, strings.NewReader("ciphertext")); err != nil {
			t.Fatal(err)
		}
		return id
	}
	oldOrphan, oldOwned := put(), put()
	clock.Advance(47 * time.Hour)
	youngOrphan := put()
	tenant, err := postgres.NewTenantService(e.db).FindTenantBySlug(ctx, "demo")
	if err != nil {
		t.Fatal(err)
	}
	if err := postgres.NewBlobRegistry(e.db).RegisterBlob(ctx, postgres.BlobInfo{TenantID: tenant.ID, ID: oldOwned, Size: 10}); err != nil {
		t.Fatal(err)
	}

	out := e.mustRun(t, "blobs", "gc", "--grace", "24h")
	if !strings.Contains(out, "deleted "+oldOrphan) || !strings.Contains(out, "deleted 1 orphaned blob(s), kept 2") {
		t.Fatalf("gc output:\n%s", out)
	}
	for id, want := range map[string]bool{oldOrphan: false, oldOwned: true, youngOrphan: true} {
		_, err := store.Stat(ctx, id)
		if got := err == nil; got != want {
			t.Errorf("blob %s exists = %v, want %v (%v)", id, got, want, err)
		}
	}
}
