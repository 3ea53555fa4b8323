package crypt

import (
	"bytes"
	"container/list"
	"context"
	"strings"
	"sync"
	"time"

	"github.com/tma-portal/tma/server/tma"
)

// KeyCache keeps recently used case keys in memory for a short time, so
// that a page with many encrypted fields does not call KMS for each one.
// The TTL bounds how long a key lives in memory unused, and how long another
// server process may still hold a key after a case was shredded here.
// Evicted and expired keys are zeroed.
type KeyCache struct {
	next tma.CaseKeyService
	ttl  time.Duration
	max  int

	mu      sync.Mutex
	entries map[cacheKey]*list.Element // of *cacheEntry
	lru     list.List                  // front: most recently used
	epoch   uint64                     // bumped by Forget, see CaseKey
	off     bool                       // SetLive(false): every call goes to next
}

type cacheKey struct{ tenantID, caseID string }

type cacheEntry struct {
	id      cacheKey
	key     []byte
	expires time.Time
	timer   *time.Timer
}

var _ tma.CaseKeyService = (*KeyCache)(nil)

// NewKeyCache returns a cache in front of next that holds at most size keys,
// each for at most ttl after it was fetched.
func NewKeyCache(next tma.CaseKeyService, ttl time.Duration, size int) *KeyCache {
	return &KeyCache{next: next, ttl: ttl, max: max(size, 1), entries: make(map[cacheKey]*list.Element)}
}

// CaseKey implements tma.CaseKeyService. It returns a copy that the caller
// owns and should wipe.
func (c *KeyCache) CaseKey(ctx context.Context, tenantID, caseID string) ([]byte, error) {
	id := cacheKey{tenantID, caseID}
	c.mu.Lock()
	if c.off {
		c.mu.Unlock()
		return c.next.CaseKey(ctx, tenantID, caseID)
	}
	if el, ok := c.entries[id]; ok {
		e := el.Value.(*cacheEntry)
		if time.Now().Before(e.expires) {
			c.lru.MoveToFront(el)
			key := bytes.Clone(e.key)
			c.mu.Unlock()
			return key, nil
		}
		c.remove(el)
	}
	epoch := c.epoch
	c.mu.Unlock()

	key, err := c.next.CaseKey(ctx, tenantID, caseID)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// A Forget while we fetched may be a shred that our fetch raced with:
	// the key is then returned once but not kept.
	if _, ok := c.entries[id]; !ok && epoch == c.epoch && !c.off {
		// The key outlives the request: own copies of its strings.
		id = cacheKey{strings.Clone(tenantID), strings.Clone(caseID)}
		c.add(id, bytes.Clone(key))
	}
	return key, nil
}

func (c *KeyCache) add(id cacheKey, key []byte) {
	e := &cacheEntry{id: id, key: key, expires: time.Now().Add(c.ttl)}
	el := c.lru.PushFront(e)
	c.entries[id] = el
	// Expired keys are wiped on time, not when next looked at.
	e.timer = time.AfterFunc(c.ttl, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if cur, ok := c.entries[id]; ok && cur == el {
			c.remove(el)
		}
	})
	for c.lru.Len() > c.max {
		c.remove(c.lru.Back())
	}
}

// remove drops an entry and zeroes its key. c.mu must be held.
func (c *KeyCache) remove(el *list.Element) {
	e := c.lru.Remove(el).(*cacheEntry)
	delete(c.entries, e.id)
	e.timer.Stop()
	wipe(e.key)
}

// Forget drops and zeroes the cached key of a case, for example after the
// case was shredded on this or another process; tenantID "*" drops all.
func (c *KeyCache) Forget(tenantID, caseID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	if tenantID == "*" {
		c.clear()
		return
	}
	if el, ok := c.entries[cacheKey{tenantID, caseID}]; ok {
		c.remove(el)
	}
}

// SetLive switches the cache on and off. Off, it is empty and every call
// goes to the key service: the listener that reports shreds on other
// processes is not listening, so a kept key could be a destroyed one.
func (c *KeyCache) SetLive(live bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	c.clear()
	c.off = !live
}

// Len is the number of keys held, for tests and metrics.
func (c *KeyCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// clear drops and zeroes every key. c.mu must be held.
func (c *KeyCache) clear() {
	for c.lru.Len() > 0 {
		c.remove(c.lru.Back())
	}
}

// SealingKey implements tma.CaseKeyService. A key for sealing new content
// never comes from the cache: sealing under a key that another process has
// just destroyed would lose the content for good, so the key service checks
// the key's row every time. A shredded case is also forgotten here.
func (c *KeyCache) SealingKey(ctx context.Context, tenantID, caseID string) ([]byte, error) {
	key, err := c.next.SealingKey(ctx, tenantID, caseID)
	if tma.ErrorCode(err) == tma.EGONE {
		c.Forget(tenantID, caseID)
	}
	return key, err
}

// RotateTenant implements tma.CaseKeyService. Case keys do not change when
// their KEK rotates, so cached keys stay valid.
func (c *KeyCache) RotateTenant(ctx context.Context, tenantID string, progress func(done, total int)) (tma.KEKRef, error) {
	return c.next.RotateTenant(ctx, tenantID, progress)
}

// ShredCase implements tma.CaseKeyService and forgets the key, whether or
// not the shred succeeded.
func (c *KeyCache) ShredCase(ctx context.Context, tenantID, caseID string) error {
	defer c.Forget(tenantID, caseID)
	return c.next.ShredCase(ctx, tenantID, caseID)
}
