package postgres

import (
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tma-portal/tma/server/tma"
)

// sessionCache keeps validated sessions, with their user, roles and tenant,
// so that most signed-in requests need no database round trip.
//
// Keys are the SHA-256 of the session token, never the token. Entries are
// immutable: every hit hands out a fresh copy, because handlers change the
// principal of their own request (a rotated token, a new language).
//
// An entry is used only while all of these hold:
//   - the listener (notify.go) is connected and LISTENing, and has proved
//     it within the last lease (a dead connection is noticed by a heartbeat);
//   - no invalidation has touched it: the triggers of migration 0003 announce
//     every change to a session, a user, their roles or their tenant, and
//     the writing process also invalidates its own cache when its
//     transaction ends;
//   - last_seen_at, as last loaded, is at most touchInterval old. After that
//     the request reloads the session, which refreshes last_seen_at: the
//     interval is also the entries' time to live;
//   - the absolute and pending-MFA timeouts have not passed.
//
// A load that races with an invalidation must not store what it read
// before the change: put stores only if no invalidation happened since the
// load began (the generation is unchanged).
type sessionCache struct {
	max   int
	start time.Time // base of the monotonic lease clock

	mu      sync.Mutex
	entries map[[32]byte]*cachedSession
	// access holds users' case access (CaseService.Access) under the same
	// rules: the triggers of migration 0009 announce every membership and
	// exclusion change as "u:<user>", a deleted case as "c:<case>".
	access map[accessKey]*cachedAccess
	gen    uint64        // bumped by every invalidation
	live   bool          // the listener is listening
	alive  time.Duration // lease: the listener is trusted until start+alive
}

type accessKey struct{ tenantID, userID, caseID string }

type cachedAccess struct {
	access tma.CaseAccess
	loaded time.Time
}

type cachedSession struct {
	session tma.Session
	user    tma.User
	tenant  tma.Tenant
}

// listenerLease is how long the cache trusts the listener after it last
// proved alive (a notification or a heartbeat).
const listenerLease = 3 * time.Second

func newSessionCache(size int) *sessionCache {
	return &sessionCache{max: size, start: time.Now(), entries: make(map[[32]byte]*cachedSession, min(size, 1024)),
		access: make(map[accessKey]*cachedAccess, min(size, 1024))}
}

// touchInterval is how often a session's last_seen_at is written: at most
// once a minute, and often enough for short idle timeouts.
func touchInterval(p tma.SessionPolicy) time.Duration {
	return min(time.Minute, p.Idle/2)
}

// get returns a copy of the cached principal of key, or nil.
func (c *sessionCache) get(key [32]byte, now time.Time, p tma.SessionPolicy) *tma.Principal {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	e := c.entries[key]
	usable := c.live && time.Since(c.start) < c.alive
	if e != nil && (!usable || !e.fresh(now, p)) {
		delete(c.entries, key)
		e = nil
	}
	c.mu.Unlock()
	if e == nil {
		return nil
	}
	return e.principal()
}

func (e *cachedSession) fresh(now time.Time, p tma.SessionPolicy) bool {
	s := &e.session
	return now.Sub(s.LastSeenAt) <= touchInterval(p) &&
		now.Sub(s.CreatedAt) <= p.Absolute &&
		!(s.MFAPending && now.Sub(s.CreatedAt) > p.PendingMFA)
}

// principal returns a copy that the caller may change.
func (e *cachedSession) principal() *tma.Principal {
	s, u, t := e.session, e.user, e.tenant
	u.Roles = slices.Clone(u.Roles)
	return &tma.Principal{Session: &s, User: &u, Tenant: &t}
}

// generation is read before a load; put compares it.
func (c *sessionCache) generation() uint64 {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// put stores a copy of p (without its token) if nothing was invalidated
// since gen was read and the listener is live.
func (c *sessionCache) put(key [32]byte, gen uint64, p *tma.Principal) {
	if c == nil {
		return
	}
	e := &cachedSession{session: *p.Session, user: *p.User, tenant: *p.Tenant}
	e.user.Roles = slices.Clone(e.user.Roles)
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.live || c.gen != gen {
		return
	}
	if _, ok := c.entries[key]; !ok && len(c.entries) >= c.max {
		for k := range c.entries { // map order is random enough for eviction
			delete(c.entries, k)
			break
		}
	}
	c.entries[key] = e
}

// invalidate drops what a change announced by a trigger affects; see
// migrations 0003 and 0009 for the keys. An unknown key drops everything.
func (c *sessionCache) invalidate(key string) {
	if c == nil {
		return
	}
	kind, id, _ := strings.Cut(key, ":")
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for k, e := range c.entries {
		var hit bool
		switch kind {
		case "s":
			hit = e.session.ID == id
		case "u":
			hit = e.user.ID == id
		case "t":
			hit = e.tenant.ID == id
		case "c":
		default:
			hit = true
		}
		if hit {
			delete(c.entries, k)
		}
	}
	for k := range c.access {
		var hit bool
		switch kind {
		case "s":
		case "u":
			hit = k.userID == id
		case "t":
			hit = k.tenantID == id
		case "c":
			hit = k.caseID == id
		default:
			hit = true
		}
		if hit {
			delete(c.access, k)
		}
	}
}

// getAccess returns the cached case access of a user, if the cache may be
// used and the entry is younger than the touch interval's upper bound.
func (c *sessionCache) getAccess(tenantID, userID, caseID string, now time.Time) (tma.CaseAccess, bool) {
	if c == nil {
		return tma.CaseAccess{}, false
	}
	k := accessKey{tenantID, userID, caseID}
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.access[k]
	if e == nil {
		return tma.CaseAccess{}, false
	}
	if !c.live || time.Since(c.start) >= c.alive || now.Sub(e.loaded) > time.Minute {
		delete(c.access, k)
		return tma.CaseAccess{}, false
	}
	return e.access, true
}

// putAccess stores a case access loaded since gen, unless something was
// invalidated meanwhile. Expiry is judged on every use (CaseAccess.Roles),
// so a membership that ends while cached ends on time.
func (c *sessionCache) putAccess(tenantID, userID, caseID string, gen uint64, a tma.CaseAccess, now time.Time) {
	if c == nil {
		return
	}
	// Keys outlive the request: own copies, whatever the caller's strings
	// point into.
	k := accessKey{strings.Clone(tenantID), strings.Clone(userID), strings.Clone(caseID)}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.live || c.gen != gen {
		return
	}
	if _, ok := c.access[k]; !ok && len(c.access) >= c.max {
		for k := range c.access {
			delete(c.access, k)
			break
		}
	}
	c.access[k] = &cachedAccess{access: a, loaded: now}
}

// setLive empties the cache and turns it on (the listener has just started
// listening) or off (the listener connection is lost or stopped).
func (c *sessionCache) setLive(live bool) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.entries)
	clear(c.access)
	c.live = live
	if live {
		c.renewLocked()
	}
}

// renew extends the listener's lease: it has just proved alive.
func (c *sessionCache) renew() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.renewLocked()
}

func (c *sessionCache) renewLocked() {
	c.alive = time.Since(c.start) + listenerLease
}

// len is the number of cached sessions, for tests.
func (c *sessionCache) len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
