package tools

import (
	"context"
	"slices"
	"sync"
	"time"
)

// DeleteBudget caps permanent deletes across every session (and, in a shared store, every
// replica). Checking and spending are one step (Take), so a refusal always comes with its own
// reason and concurrent callers can neither overspend nor see a refusal vanish between a
// check and a take.
type DeleteBudget interface {
	// Check reports, without spending, whether a delete would be allowed now: nil when it
	// would, else the refusal. It lets a spent budget refuse before the person is asked.
	Check(ctx context.Context, now time.Time) (*BudgetRefusal, error)
	// Take spends one delete now. Exactly one of the results is set: release (call it when
	// the delete certainly did not happen, to give the slot back; calling it twice is
	// harmless), a refusal, or an error (the budget could not be consulted: the caller must
	// refuse, never delete).
	Take(ctx context.Context, now time.Time) (release func(), refusal *BudgetRefusal, err error)
	// TakeN spends n deletes at once, or none (a bulk delete is never half-executed for want
	// of budget): one release per slot, to give back the slots of items not deleted.
	TakeN(ctx context.Context, now time.Time, n int) (releases []func(), refusal *BudgetRefusal, err error)
	// Room reports how many deletes are left now; -1 means no cap.
	Room(ctx context.Context, now time.Time) (left int, err error)
}

// BudgetRefusal says why a delete is over budget and when the next one is allowed.
type BudgetRefusal struct {
	Limit  int           // deletes allowed per window; 0 means none at all
	Window time.Duration // the rolling window
	FreeAt time.Time     // when the next delete is allowed (zero when Limit is 0)
}

// NewMemoryBudget is a sliding-window count of permanent deletes in this process: limit per
// window (limit < 0: no cap; 0: no deletes).
func NewMemoryBudget(limit int, window time.Duration) DeleteBudget {
	return &memoryBudget{limit: limit, window: window}
}

type memoryBudget struct {
	mu     sync.Mutex
	limit  int
	window time.Duration
	times  []time.Time // one per delete spent within the window, oldest first
}

func (b *memoryBudget) prune(now time.Time) {
	i := 0
	for i < len(b.times) && !b.times[i].After(now.Add(-b.window)) {
		i++
	}
	b.times = b.times[i:]
}

// refusal describes the spent budget; b.mu must be held.
func (b *memoryBudget) refusal() *BudgetRefusal {
	r := &BudgetRefusal{Limit: b.limit, Window: b.window}
	if len(b.times) > 0 {
		r.FreeAt = b.times[0].Add(b.window)
	}
	return r
}

func (b *memoryBudget) Check(_ context.Context, now time.Time) (*BudgetRefusal, error) {
	if b.limit < 0 {
		return nil, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.prune(now)
	if len(b.times) < b.limit {
		return nil, nil
	}
	return b.refusal(), nil
}

func (b *memoryBudget) Take(_ context.Context, now time.Time) (func(), *BudgetRefusal, error) {
	if b.limit < 0 {
		return func() {}, nil, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.prune(now)
	if len(b.times) >= b.limit {
		return nil, b.refusal(), nil
	}
	b.times = append(b.times, now)
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			if i := slices.Index(b.times, now); i >= 0 {
				b.times = slices.Delete(b.times, i, i+1)
			}
		})
	}, nil, nil
}

func (b *memoryBudget) TakeN(_ context.Context, now time.Time, n int) ([]func(), *BudgetRefusal, error) {
	releases := make([]func(), n)
	if b.limit < 0 {
		for i := range releases {
			releases[i] = func() {}
		}
		return releases, nil, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.prune(now)
	if len(b.times)+n > b.limit {
		return nil, b.refusal(), nil
	}
	for i := range releases {
		b.times = append(b.times, now)
		var once sync.Once
		releases[i] = func() {
			once.Do(func() {
				b.mu.Lock()
				defer b.mu.Unlock()
				if j := slices.Index(b.times, now); j >= 0 {
					b.times = slices.Delete(b.times, j, j+1)
				}
			})
		}
	}
	return releases, nil, nil
}

func (b *memoryBudget) Room(_ context.Context, now time.Time) (int, error) {
	if b.limit < 0 {
		return -1, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.prune(now)
	return max(b.limit-len(b.times), 0), nil
}
