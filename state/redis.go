package state

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis keeps the shared state in Redis, so that every replica pointed at the same database
// agrees: a nonce is used once across all of them, and the delete window is one window.
type Redis struct {
	rdb    *redis.Client
	prefix string
	// timeout bounds each operation: an unreachable store must fail fast (and closed), not
	// hold a tool call until its own deadline.
	timeout time.Duration
}

// keyPrefix namespaces every key, so one Redis can serve other applications too.
const keyPrefix = "tallyfy-mcp:"

// NewRedis connects lazily to the Redis a redis:// or rediss:// URL names
// (redis://[user:password@]host:port/db). It does not fail when Redis is down: the store
// reports that on each call and through Health.
func NewRedis(rawURL string) (*Redis, error) {
	opt, err := redis.ParseURL(rawURL)
	if err != nil {
		// go-redis's messages do not echo the URL, so no password reaches the log.
		return nil, fmt.Errorf("--state: %v (want redis://host:port/db)", err)
	}
	opt.DialTimeout = 2 * time.Second
	opt.ReadTimeout = time.Second
	opt.WriteTimeout = time.Second
	opt.MaxRetries = 1
	opt.DisableIdentity = true // CLIENT SETINFO is noise on older servers
	quietOnce.Do(func() { redis.SetLogger(quietLogger{}) })
	return &Redis{rdb: redis.NewClient(opt), prefix: keyPrefix, timeout: 2 * time.Second}, nil
}

// quietLogger drops go-redis's own log lines (it writes them to stderr, one per failed dial):
// every failure already reaches the caller as an error, and /healthz reports the store.
type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

var quietOnce sync.Once

// Kind implements Store.
func (r *Redis) Kind() string { return "redis" }

// Shared implements Store: every replica pointed at the same Redis shares it.
func (r *Redis) Shared() bool { return true }

// Close implements Store: it closes the connection pool.
func (r *Redis) Close() error { return r.rdb.Close() }

// Health implements Store: a write with a short expiry, since a Redis that answers PING may
// still refuse writes (out of memory, a read-only replica, a full disk with
// stop-writes-on-bgsave-error), and then no confirmation could be marked used.
func (r *Redis) Health(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	return unreachable(r.rdb.Set(ctx, r.prefix+"health", time.Now().UnixMilli(), 10*time.Second).Err())
}

// Used implements Store.
func (r *Redis) Used(ctx context.Context, key string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	n, err := r.rdb.Exists(ctx, r.prefix+"once:"+key).Result()
	if err != nil {
		return false, unreachable(err)
	}
	return n == 1, nil
}

// unreachable wraps a Redis failure so callers can say what is wrong without the details of
// go-redis's errors.
func unreachable(err error) error {
	if err == nil {
		return nil
	}
	return &UnavailableError{Err: err}
}

// UnavailableError is a failure to reach the shared store.
type UnavailableError struct{ Err error }

func (e *UnavailableError) Error() string {
	return "the shared state store (Redis) did not answer: " + e.Err.Error()
}
func (e *UnavailableError) Unwrap() error { return e.Err }

// IsUnavailable reports whether err is a failure to reach the store.
func IsUnavailable(err error) bool {
	var u *UnavailableError
	return errors.As(err, &u)
}

// UseOnce is SET key 1 NX PX ttl: Redis answers OK to exactly one of any number of callers.
func (r *Redis) UseOnce(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if ttl <= 0 {
		return false, ErrNoTTL
	}
	ttl = max(ttl, time.Millisecond) // PX counts whole milliseconds
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	err := r.rdb.SetArgs(ctx, r.prefix+"once:"+key, 1, redis.SetArgs{Mode: "NX", TTL: ttl}).Err()
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, redis.Nil): // NX and the key exists
		return false, nil
	}
	return false, unreachable(err)
}

// The window is a sorted set of units scored by their time in milliseconds. Both scripts run
// atomically in Redis, so concurrent replicas cannot overspend it.
//
// KEYS[1] the set; ARGV now_ms, window_ms, limit, then the members to spend (takeN only).
// takeNScript spends ARGV[4..] (one member per unit) all together, or none (Take spends one):
// {1, 0} when spent, {0, oldest_ms} when full. roomScript answers {units left, oldest_ms or 0}.
var (
	takeNScript = redis.NewScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[2]))
local n = #ARGV - 3
if redis.call('ZCARD', KEYS[1]) + n <= tonumber(ARGV[3]) then
  for i = 4, #ARGV do redis.call('ZADD', KEYS[1], ARGV[1], ARGV[i]) end
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {1, 0}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if oldest[2] == nil then return {0, 0} end
return {0, tonumber(oldest[2])}`)
	roomScript = redis.NewScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[2]))
local left = tonumber(ARGV[3]) - redis.call('ZCARD', KEYS[1])
if left < 0 then left = 0 end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if oldest[2] == nil then return {left, 0} end
return {left, tonumber(oldest[2])}`)
)

// window runs a window script and reads its answer: a number (1 for spent, or the units left)
// and, when the window holds any unit, when the oldest leaves it.
func (r *Redis) window(ctx context.Context, script *redis.Script, key string, now time.Time, limit int, window time.Duration, members ...string) (int, time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	args := []any{now.UnixMilli(), window.Milliseconds(), limit}
	for _, m := range members {
		args = append(args, m)
	}
	v, err := script.Run(ctx, r.rdb, []string{r.prefix + "window:" + key}, args...).Result()
	if err != nil {
		return 0, time.Time{}, unreachable(err)
	}
	a, isList := v.([]any)
	if !isList || len(a) != 2 {
		return 0, time.Time{}, fmt.Errorf("state: unexpected answer %v from the window script", v)
	}
	n, _ := a[0].(int64)
	var freeAt time.Time
	if oldest, _ := a[1].(int64); oldest != 0 {
		freeAt = time.UnixMilli(oldest).Add(window)
	}
	return int(n), freeAt, nil
}

// Take implements Store: TakeN of one unit.
func (r *Redis) Take(ctx context.Context, key string, now time.Time, limit int, window time.Duration) (func(), time.Time, error) {
	releases, freeAt, err := r.TakeN(ctx, key, now, limit, window, 1)
	if err != nil || releases == nil {
		return nil, freeAt, err
	}
	return releases[0], time.Time{}, nil
}

// TakeN implements Store.
func (r *Redis) TakeN(ctx context.Context, key string, now time.Time, limit int, window time.Duration, n int) ([]func(), time.Time, error) {
	members := make([]string, n)
	for i := range members {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		// Unique per unit, so that a release removes exactly that unit.
		members[i] = strconv.FormatInt(now.UnixMilli(), 10) + "-" + hex.EncodeToString(b)
	}
	spent, freeAt, err := r.window(ctx, takeNScript, key, now, limit, window, members...)
	if err != nil || spent != 1 {
		return nil, freeAt, err
	}
	zkey := r.prefix + "window:" + key
	releases := make([]func(), n)
	for i, member := range members {
		var once sync.Once
		releases[i] = func() {
			once.Do(func() {
				// Best effort: if Redis is gone, the unit simply stays spent until it leaves the
				// window, which errs on the side of fewer deletes.
				ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
				defer cancel()
				_ = r.rdb.ZRem(ctx, zkey, member).Err()
			})
		}
	}
	return releases, time.Time{}, nil
}

// Room implements Store.
func (r *Redis) Room(ctx context.Context, key string, now time.Time, limit int, window time.Duration) (int, time.Time, error) {
	return r.window(ctx, roomScript, key, now, limit, window)
}
