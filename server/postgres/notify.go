package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// cacheChannel is the LISTEN/NOTIFY channel of the triggers in migration
// 0003; their NOTICEs carry the same key after this prefix.
const cacheChannel = "tma_session_cache"

// keyChannel is the channel of the case-key triggers (migration 0007):
// payload "<tenant id>:<case id>", or "*" for all.
const keyChannel = "tma_case_keys"

// searchChannel is the channel of the search outbox (migration 0019): a
// row was added, the indexer should look.
const searchChannel = "tma_search"

// OnSearchChange makes the listener call wake whenever the search outbox
// gets rows, and each time it starts listening (rows may have come while
// it was not). wake must not block.
func (db *DB) OnSearchChange(wake func()) { db.searchWake = wake }

// KeyWatcher is a cache of case keys that the listener keeps in step with
// every process (crypt.KeyCache). Forget drops one case's key, or every key
// for tenantID "*"; SetLive(false) empties the cache and stops its use until
// SetLive(true), which the listener calls once it is listening again.
type KeyWatcher interface {
	Forget(tenantID, caseID string)
	SetLive(live bool)
}

// WatchCaseKeys makes the listener keep w in step with shreds on every
// process. Until the listener is listening, w is not used.
func (db *DB) WatchCaseKeys(w KeyWatcher) {
	w.SetLive(false)
	db.keys = w
}

// forgetKey applies a case-key payload.
func (db *DB) forgetKey(payload string) {
	if db.keys == nil {
		return
	}
	tenantID, caseID, ok := strings.Cut(payload, ":")
	if !ok {
		tenantID, caseID = "*", ""
	}
	db.keys.Forget(tenantID, caseID)
}

// setLive switches both caches on or off with the listener.
func (db *DB) setLive(live bool) {
	db.cache.setLive(live)
	if db.keys != nil {
		db.keys.SetLive(live)
	}
}

// ListenerName is the application_name of the listener connection, followed
// by the process id, so that operators (and tests) can find it in
// pg_stat_activity.
const ListenerName = "tma-listener"

// heartbeat is how long the listener waits for a notification before it
// checks that its connection still answers. A connection that died without
// a word is noticed within two heartbeats.
const heartbeat = time.Second

// EnableSessionCache gives the services of db an in-process cache of up to
// size validated sessions. It is used only while ListenSessionChanges is
// listening.
func (db *DB) EnableSessionCache(size int) {
	if size > 0 {
		db.cache = newSessionCache(size)
	}
}

// CachedSessions is the number of sessions in the cache, for tests.
func (db *DB) CachedSessions() int { return db.cache.len() }

// ListenSessionChanges keeps the session cache of this process in step
// with every other process on the database, on a connection of its own,
// until ctx ends. While the connection is lost the cache is empty and
// unused: every request goes to the database until the listener is back,
// reconnecting with backoff. Without EnableSessionCache it returns at once.
func (db *DB) ListenSessionChanges(ctx context.Context, log *slog.Logger) {
	if db.cache == nil && db.keys == nil && db.searchWake == nil {
		return
	}
	const first, most = 250 * time.Millisecond, 5 * time.Second
	backoff := first
	for {
		began := time.Now()
		err := db.listen(ctx)
		db.setLive(false)
		if ctx.Err() != nil {
			return
		}
		if time.Since(began) > time.Minute {
			backoff = first // it ran well for a while: a new incident
		}
		log.Warn("session and key caches off: listener connection lost; every request goes to the database until it is back",
			"err", err, "retry_in", backoff.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, most)
	}
}

// listen connects, LISTENs, turns the cache on and applies notifications
// until the connection fails or ctx ends.
func (db *DB) listen(ctx context.Context) error {
	cfg := db.Pool.Config().ConnConfig
	cfg.Tracer = nil // the listener's heartbeats are not the requests' queries
	cfg.OnNotice = nil
	cfg.RuntimeParams["application_name"] = fmt.Sprintf("%s %d", ListenerName, os.Getpid())
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	conn, err := pgx.ConnectConfig(cctx, cfg)
	cancel()
	if err != nil {
		return fmt.Errorf("listener: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx)) //nolint:errcheck // the connection is gone either way
	if _, err := conn.Exec(ctx, "LISTEN "+cacheChannel+"; LISTEN "+keyChannel+"; LISTEN "+searchChannel); err != nil {
		return fmt.Errorf("listener: listen: %w", err)
	}
	// From here on every committed change is announced to us; what the
	// caches held before may be stale, and setLive empties them.
	db.setLive(true)
	if db.searchWake != nil {
		db.searchWake()
	}
	for {
		wctx, cancel := context.WithTimeout(ctx, heartbeat)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil && n.Channel == searchChannel:
			if db.searchWake != nil {
				db.searchWake()
			}
		case err == nil && n.Channel == keyChannel:
			db.forgetKey(n.Payload)
			db.cache.renew()
		case err == nil:
			db.cache.invalidate(n.Payload)
			db.cache.renew()
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, context.DeadlineExceeded):
			hctx, cancel := context.WithTimeout(ctx, heartbeat)
			_, err := conn.Exec(hctx, "SELECT 1")
			cancel()
			if err != nil {
				return fmt.Errorf("listener: heartbeat: %w", err)
			}
			db.cache.renew()
		default:
			return fmt.Errorf("listener: %w", err)
		}
	}
}

// raisedChanges collects the cache keys that the triggers raise as NOTICEs
// on a pool connection during a transaction, until the transaction ends.
type raisedChanges struct {
	mu     sync.Mutex
	byConn map[*pgconn.PgConn][]string
}

// onNotice is the pool's notice handler. Inside a transaction the keys wait
// for its end (settle): invalidating before the commit would let a
// concurrent request cache the old state again. A statement outside a
// transaction commits as it ends; its keys are applied at once, and the
// notification after the commit applies them again.
func (db *DB) onNotice(c *pgconn.PgConn, n *pgconn.Notice) {
	if key, ok := strings.CutPrefix(n.Message, keyChannel+" "); ok {
		// A key is dropped at once, even before the commit: a process
		// that fetches it meanwhile keeps it only until the notification
		// that follows the commit.
		db.forgetKey(key)
		return
	}
	key, ok := strings.CutPrefix(n.Message, cacheChannel+" ")
	if !ok || db.cache == nil {
		return
	}
	if c.TxStatus() == 'I' {
		db.cache.invalidate(key)
		return
	}
	db.raised.mu.Lock()
	defer db.raised.mu.Unlock()
	if db.raised.byConn == nil {
		db.raised.byConn = map[*pgconn.PgConn][]string{}
	}
	db.raised.byConn[c] = append(db.raised.byConn[c], key)
}

// settle applies the keys that a transaction on c raised, once it has
// ended. It applies them after a rollback too: dropping a cached session
// is never wrong, and a failed COMMIT may have committed.
func (db *DB) settle(c *pgconn.PgConn) {
	if db.cache == nil {
		return
	}
	db.raised.mu.Lock()
	keys := db.raised.byConn[c]
	delete(db.raised.byConn, c)
	db.raised.mu.Unlock()
	for _, k := range keys {
		db.cache.invalidate(k)
	}
}
