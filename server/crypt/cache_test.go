package crypt

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/tma-portal/tma/server/tma"
)

// fakeCaseKeys is a tma.CaseKeyService that counts fetches. duringFetch,
// if set, runs inside CaseKey, to interleave other calls with a fetch.
type fakeCaseKeys struct {
	mu          sync.Mutex
	fetches     int
	shredded    []string
	duringFetch func()
}

func (f *fakeCaseKeys) CaseKey(_ context.Context, tenantID, caseID string) ([]byte, error) {
	f.mu.Lock()
	f.fetches++
	hook := f.duringFetch
	f.mu.Unlock()
	if hook != nil {
		hook()
	}
	return testKey(tenantID + "/" + caseID), nil
}

func (f *fakeCaseKeys) SealingKey(ctx context.Context, tenantID, caseID string) ([]byte, error) {
	return f.CaseKey(ctx, tenantID, caseID)
}

func (f *fakeCaseKeys) RotateTenant(context.Context, string, func(int, int)) (tma.KEKRef, error) {
	return tma.KEKRef{Provider: ProviderLocal, Version: 2}, nil
}

func (f *fakeCaseKeys) ShredCase(_ context.Context, _, caseID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.shredded = append(f.shredded, caseID)
	return nil
}

func (f *fakeCaseKeys) fetchCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fetches
}

// cached returns the cache's own copy of a case key, or nil.
func (c *KeyCache) cached(tenantID, caseID string) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[cacheKey{tenantID, caseID}]; ok {
		return el.Value.(*cacheEntry).key
	}
	return nil
}

func mustCaseKey(t *testing.T, c *KeyCache, caseID string) []byte {
	t.Helper()
	k, err := c.CaseKey(t.Context(), "tenant-1", caseID)
	if err != nil || !bytes.Equal(k, testKey("tenant-1/"+caseID)) {
		t.Fatalf("CaseKey(%s) = %x, %v", caseID, k, err)
	}
	return k
}

func checkWiped(t *testing.T, key []byte) {
	t.Helper()
	if !bytes.Equal(key, make([]byte, len(key))) {
		t.Error("dropped key was not zeroed")
	}
}

func TestKeyCache(t *testing.T) {
	t.Run("returns copies", func(t *testing.T) {
		next := &fakeCaseKeys{}
		c := NewKeyCache(next, time.Minute, 10)
		wipe(mustCaseKey(t, c, "case-1"))
		wipe(mustCaseKey(t, c, "case-1"))
		mustCaseKey(t, c, "case-1")
		if n := next.fetchCount(); n != 1 {
			t.Errorf("%d fetches, want 1", n)
		}
	})

	t.Run("expires and wipes after the TTL", func(t *testing.T) {
		next := &fakeCaseKeys{}
		c := NewKeyCache(next, 10*time.Millisecond, 10)
		mustCaseKey(t, c, "case-1")
		own := c.cached("tenant-1", "case-1")
		for deadline := time.Now().Add(5 * time.Second); c.cached("tenant-1", "case-1") != nil; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("key still cached long after its TTL")
			}
		}
		checkWiped(t, own)
		mustCaseKey(t, c, "case-1")
		if n := next.fetchCount(); n != 2 {
			t.Errorf("%d fetches, want 2", n)
		}
	})

	t.Run("size bound evicts the least recently used", func(t *testing.T) {
		next := &fakeCaseKeys{}
		c := NewKeyCache(next, time.Minute, 2)
		mustCaseKey(t, c, "a")
		mustCaseKey(t, c, "b")
		mustCaseKey(t, c, "a")
		evicted := c.cached("tenant-1", "b")
		mustCaseKey(t, c, "c")
		if c.lru.Len() != 2 || c.cached("tenant-1", "b") != nil || c.cached("tenant-1", "a") == nil {
			t.Fatalf("after a, b, a, c: %d entries, b cached %v", c.lru.Len(), c.cached("tenant-1", "b") != nil)
		}
		checkWiped(t, evicted)
		mustCaseKey(t, c, "b")
		if n := next.fetchCount(); n != 4 {
			t.Errorf("%d fetches, want 4", n)
		}
	})

	t.Run("Forget", func(t *testing.T) {
		next := &fakeCaseKeys{}
		c := NewKeyCache(next, time.Minute, 10)
		mustCaseKey(t, c, "case-1")
		own := c.cached("tenant-1", "case-1")
		c.Forget("tenant-1", "case-1")
		checkWiped(t, own)
		mustCaseKey(t, c, "case-1")
		if n := next.fetchCount(); n != 2 {
			t.Errorf("%d fetches, want 2", n)
		}
	})

	t.Run("ShredCase forgets", func(t *testing.T) {
		next := &fakeCaseKeys{}
		c := NewKeyCache(next, time.Minute, 10)
		mustCaseKey(t, c, "case-1")
		if err := c.ShredCase(t.Context(), "tenant-1", "case-1"); err != nil {
			t.Fatal(err)
		}
		if c.cached("tenant-1", "case-1") != nil || len(next.shredded) != 1 {
			t.Errorf("after ShredCase: cached %v, shredded %v", c.cached("tenant-1", "case-1") != nil, next.shredded)
		}
		if ref, err := c.RotateTenant(t.Context(), "tenant-1", nil); err != nil || ref.Version != 2 {
			t.Errorf("RotateTenant = %+v, %v", ref, err)
		}
	})

	t.Run("a fetch racing a shred is not cached", func(t *testing.T) {
		next := &fakeCaseKeys{}
		c := NewKeyCache(next, time.Minute, 10)
		next.duringFetch = func() { c.Forget("tenant-1", "case-1") }
		mustCaseKey(t, c, "case-1")
		if c.cached("tenant-1", "case-1") != nil {
			t.Error("a key fetched across a Forget was cached")
		}
	})
}

// TestKeyCacheOffAndSealing: while the listener is not listening the cache
// keeps nothing and every key comes from the service; keys for sealing never
// come from the cache.
func TestKeyCacheOffAndSealing(t *testing.T) {
	ctx := context.Background()
	next := &fakeCaseKeys{}
	c := NewKeyCache(next, time.Minute, 10)
	c.SetLive(false)
	for range 3 {
		if _, err := c.CaseKey(ctx, "t", "c"); err != nil {
			t.Fatal(err)
		}
	}
	if got := next.fetchCount(); got != 3 {
		t.Fatalf("off: %d fetches for 3 calls, want 3", got)
	}
	if c.cached("t", "c") != nil {
		t.Fatal("off: a key was kept")
	}
	c.SetLive(true)
	for range 3 {
		if _, err := c.CaseKey(ctx, "t", "c"); err != nil {
			t.Fatal(err)
		}
	}
	if got := next.fetchCount(); got != 4 {
		t.Fatalf("on: %d fetches in all, want 4", got)
	}
	for range 2 {
		if _, err := c.SealingKey(ctx, "t", "c"); err != nil {
			t.Fatal(err)
		}
	}
	if got := next.fetchCount(); got != 6 {
		t.Fatalf("sealing keys came from the cache: %d fetches in all, want 6", got)
	}
	c.Forget("*", "")
	if c.cached("t", "c") != nil {
		t.Fatal("Forget(*) kept a key")
	}
}
