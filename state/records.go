package state

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// Records: small values several replicas must read alike, such as a permanent delete waiting
// for the person's approval (tools/approval.go). Last write wins; a value that must change
// only once is guarded by UseOnce.

// kept is a Memory record and when it may be forgotten.
type kept struct {
	value []byte
	until time.Time
}

// Put implements Store.
func (m *Memory) Put(_ context.Context, key string, value []byte, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if m.records == nil {
		m.records = map[string]kept{}
	}
	if len(m.records) >= 1024 { // bounded: forget what expired before adding
		for k, r := range m.records {
			if !now.Before(r.until) {
				delete(m.records, k)
			}
		}
	}
	m.records[key] = kept{value: append([]byte(nil), value...), until: now.Add(ttl)}
	return nil
}

// Get implements Store.
func (m *Memory) Get(_ context.Context, key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.records[key]
	if !ok || !m.now().Before(r.until) {
		return nil, nil
	}
	return append([]byte(nil), r.value...), nil
}

// Put implements Store: SET key value PX ttl.
func (r *Redis) Put(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	ttl = max(ttl, time.Millisecond) // PX counts whole milliseconds
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	return unreachable(r.rdb.Set(ctx, r.prefix+"rec:"+key, value, ttl).Err())
}

// Get implements Store.
func (r *Redis) Get(ctx context.Context, key string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	b, err := r.rdb.Get(ctx, r.prefix+"rec:"+key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	return b, unreachable(err)
}
