package postgres

import "time"

// SetSessionCacheLive turns the session cache on (with a lease that does not
// run out) or off without a listener, so that a test sees what only the
// writing process's own invalidation does.
func (db *DB) SetSessionCacheLive(live bool) {
	db.cache.setLive(live)
	db.cache.mu.Lock()
	db.cache.alive = time.Duration(1 << 62)
	db.cache.mu.Unlock()
}

// CachedCaseAccesses is the number of case accesses in the cache.
func (db *DB) CachedCaseAccesses() int {
	if db.cache == nil {
		return 0
	}
	db.cache.mu.Lock()
	defer db.cache.mu.Unlock()
	return len(db.cache.access)
}
