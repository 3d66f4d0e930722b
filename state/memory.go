package state

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Memory is the store of a single server process: what every replica would need to share is
// kept here, so it is right only while there is one replica.
type Memory struct {
	mu      sync.Mutex
	used    map[string]time.Time   // key -> when it may be forgotten
	windows map[string][]time.Time // key -> times of the units taken, oldest first
	now     func() time.Time       // for forgetting used keys
	swept   time.Time              // when used was last swept of expired keys
	kept    int                    // how many keys that sweep kept
	records map[string]kept        // Put and Get (records.go)
}

// NewMemory returns an empty in-process store.
func NewMemory() *Memory {
	return &Memory{used: map[string]time.Time{}, windows: map[string][]time.Time{}, now: time.Now}
}

// Kind implements Store.
func (m *Memory) Kind() string { return "memory" }

// Shared implements Store: this process only.
func (m *Memory) Shared() bool { return false }

// Health implements Store: memory is always reachable.
func (m *Memory) Health(context.Context) error { return nil }

// Close implements Store; there is nothing to release.
func (m *Memory) Close() error { return nil }

// UseOnce implements Store.
func (m *Memory) UseOnce(_ context.Context, key string, ttl time.Duration) (bool, error) {
	if ttl <= 0 {
		return false, ErrNoTTL
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	// Forget what has expired anyway (bounded memory), but not on every call: a sweep is
	// linear in the keys held, so it runs once a minute or when they have doubled since the
	// last one (amortized constant time).
	if now.Sub(m.swept) > time.Minute || len(m.used) >= 2*m.kept+1024 {
		m.swept = now
		for k, until := range m.used {
			if !now.Before(until) {
				delete(m.used, k)
			}
		}
		m.kept = len(m.used)
	}
	if until, dup := m.used[key]; dup && now.Before(until) {
		return false, nil
	}
	m.used[key] = now.Add(ttl)
	return true, nil
}

// Used implements Store.
func (m *Memory) Used(_ context.Context, key string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	until, ok := m.used[key]
	return ok && m.now().Before(until), nil
}

// prune drops the units that have left the window ending at now.
func (m *Memory) prune(key string, now time.Time, window time.Duration) []time.Time {
	times := m.windows[key]
	i := 0
	for i < len(times) && !times[i].After(now.Add(-window)) {
		i++
	}
	times = times[i:]
	if len(times) == 0 {
		delete(m.windows, key)
	} else {
		m.windows[key] = times
	}
	return times
}

// Take implements Store: TakeN of one unit.
func (m *Memory) Take(ctx context.Context, key string, now time.Time, limit int, window time.Duration) (func(), time.Time, error) {
	releases, freeAt, err := m.TakeN(ctx, key, now, limit, window, 1)
	if err != nil || releases == nil {
		return nil, freeAt, err
	}
	return releases[0], time.Time{}, nil
}

// TakeN implements Store.
func (m *Memory) TakeN(_ context.Context, key string, now time.Time, limit int, window time.Duration, n int) ([]func(), time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	times := m.prune(key, now, window)
	if len(times)+n > limit {
		var freeAt time.Time
		if len(times) > 0 {
			freeAt = times[0].Add(window)
		}
		return nil, freeAt, nil
	}
	// Kept sorted: a caller's clock may be a little behind another's.
	i, _ := slices.BinarySearchFunc(times, now, func(a, b time.Time) int { return a.Compare(b) })
	for range n {
		times = slices.Insert(times, i, now)
	}
	m.windows[key] = times
	releases := make([]func(), n)
	for k := range releases {
		var once sync.Once
		releases[k] = func() {
			once.Do(func() {
				m.mu.Lock()
				defer m.mu.Unlock()
				if j := slices.IndexFunc(m.windows[key], now.Equal); j >= 0 {
					m.windows[key] = slices.Delete(m.windows[key], j, j+1)
				}
			})
		}
	}
	return releases, time.Time{}, nil
}

// Room implements Store.
func (m *Memory) Room(_ context.Context, key string, now time.Time, limit int, window time.Duration) (int, time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	times := m.prune(key, now, window)
	var freeAt time.Time
	if len(times) > 0 {
		freeAt = times[0].Add(window)
	}
	return max(limit-len(times), 0), freeAt, nil
}
