// Package state holds what several replicas of the server must agree on: which confirmation
// nonces were already used, and the sliding window of permanent deletes. Memory keeps both in
// this process (one server); Redis keeps them where every replica sees the same answer.
package state

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"
)

// Store is the shared state. Every method is atomic with respect to every replica using the
// same store: two replicas can never both use a nonce or both take the last unit of a window.
type Store interface {
	// UseOnce records key as used for ttl. It reports false when the key was already used
	// (a replay), true when this call is the first.
	// ttl must be positive (ErrNoTTL otherwise): a mark that is already forgotten would let
	// the key be used again at once.
	UseOnce(ctx context.Context, key string, ttl time.Duration) (bool, error)
	// Used reports whether key was used (UseOnce) and is still remembered, without using it.
	Used(ctx context.Context, key string) (bool, error)
	// Take spends one unit of the sliding window named key, which allows at most limit units
	// within window. When the window is full, release is nil and freeAt says when its oldest
	// unit leaves it. release gives the unit back (the action did not happen); calling it more
	// than once is harmless.
	Take(ctx context.Context, key string, now time.Time, limit int, window time.Duration) (release func(), freeAt time.Time, err error)
	// TakeN spends n units of the window at once, or none: when fewer than n are left,
	// releases is nil and freeAt says when its oldest unit leaves it. releases holds one
	// function per unit, each giving that unit back (a bulk action that skipped an item).
	TakeN(ctx context.Context, key string, now time.Time, limit int, window time.Duration, n int) (releases []func(), freeAt time.Time, err error)
	// Room reports how many units are left in the window now (never below 0) and, when the
	// window holds any, when its oldest unit leaves it.
	Room(ctx context.Context, key string, now time.Time, limit int, window time.Duration) (left int, freeAt time.Time, err error)
	// Put stores value under key for ttl, replacing what was there (records.go).
	Put(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Get returns what Put stored under key, or nil when there is nothing (or it expired).
	Get(ctx context.Context, key string) ([]byte, error)
	// Health is nil while the store answers and takes writes (Redis: a write is probed, since
	// a Redis that answers PING may still refuse writes, and every use of the store writes).
	Health(ctx context.Context) error
	// Kind names the backend ("memory" or "redis") for /healthz and logs.
	Kind() string
	// Shared reports whether other replicas may use the same store. When they may, nothing
	// that lives in one process (a legacy session, a client name seen at initialize) can bind
	// a confirmation, the delete budget is kept here for every replica, and session ids are
	// signed for all of them.
	Shared() bool
	Close() error
}

// ErrNoTTL is UseOnce's answer to a TTL that is not positive.
var ErrNoTTL = errors.New("state: UseOnce needs a positive TTL")

// Open returns the store a --state URL names: "" or "memory" for this process only,
// redis://host:port/db (or rediss:// for TLS) for Redis.
func Open(raw string) (Store, error) {
	if raw == "" || raw == "memory" {
		return NewMemory(), nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("--state: not a URL (want redis://host:port/db)")
	}
	switch u.Scheme {
	case "redis", "rediss":
		return NewRedis(raw)
	}
	return nil, fmt.Errorf("--state: unsupported scheme %q (want redis://host:port/db, rediss:// for TLS, or memory)", u.Scheme)
}
