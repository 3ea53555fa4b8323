package crypt

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// TestKeyringAcrossProcesses: several providers on one file (as several
// processes would be) never lose a version, and a provider that did not
// rotate picks up the new current version.
func TestKeyringAcrossProcesses(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "kek")
	if err := GenerateKeyringFile(path); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := GenerateKeyringFile(path); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Fatal("GenerateKeyringFile replaced an existing keyring")
	}

	const n = 8
	providers := make([]*LocalProvider, n)
	for i := range providers {
		providers[i] = mustLoadKeyring(t, path)
	}
	var wg sync.WaitGroup
	versions := make([]int, n)
	for i, p := range providers {
		wg.Go(func() {
			ref, err := p.Rotate(ctx, "t")
			if err != nil {
				t.Error(err)
				return
			}
			versions[i] = ref.Version
		})
	}
	wg.Wait()
	seen := map[int]bool{}
	for _, v := range versions {
		if seen[v] {
			t.Fatalf("two rotations made version %d: %v", v, versions)
		}
		seen[v] = true
	}
	final := mustLoadKeyring(t, path)
	if got := final.Info().Tenants["t"]; len(got) != n {
		t.Fatalf("keyring has versions %v, want %d", got, n)
	}

	idle := mustLoadKeyring(t, path)
	other := mustLoadKeyring(t, path)
	rotated, err := other.Rotate(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	if cur, err := idle.Current(ctx, "t"); err != nil || cur != rotated {
		t.Fatalf("a running provider still wraps under %+v after rotation to %+v (%v)", cur, rotated, err)
	}
}
