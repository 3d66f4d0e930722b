package tools

import (
	"context"
	"time"

	"github.com/tallyfy-mcp/tallyfy-mcp/state"
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

// NewStoreBudget is a DeleteBudget kept in store under key: limit per window (limit < 0: no
// cap; 0: no deletes). In a shared store every replica spends from one sliding window, each
// take one atomic step in the store; when the store does not answer, Check and Take return its
// error and the delete is refused. state.NewMemory keeps it in this process.
func NewStoreBudget(store state.Store, key string, limit int, window time.Duration) DeleteBudget {
	return &storeBudget{store: store, key: key, limit: limit, window: window}
}

type storeBudget struct {
	store  state.Store
	key    string
	limit  int // <0: no cap; 0: no deletes
	window time.Duration
}

func (b *storeBudget) refusal(freeAt time.Time) *BudgetRefusal {
	return &BudgetRefusal{Limit: b.limit, Window: b.window, FreeAt: freeAt}
}

func (b *storeBudget) Check(ctx context.Context, now time.Time) (*BudgetRefusal, error) {
	if b.limit < 0 {
		return nil, nil
	}
	left, freeAt, err := b.store.Room(ctx, b.key, now, b.limit, b.window)
	if err != nil || left > 0 {
		return nil, err
	}
	return b.refusal(freeAt), nil
}

// Take is TakeN of one, as the stores' own Take is.
func (b *storeBudget) Take(ctx context.Context, now time.Time) (func(), *BudgetRefusal, error) {
	releases, refusal, err := b.TakeN(ctx, now, 1)
	if releases == nil {
		return nil, refusal, err
	}
	return releases[0], nil, nil
}

func (b *storeBudget) TakeN(ctx context.Context, now time.Time, n int) ([]func(), *BudgetRefusal, error) {
	if b.limit < 0 {
		return noReleases(n), nil, nil
	}
	releases, freeAt, err := b.store.TakeN(ctx, b.key, now, b.limit, b.window, n)
	if err != nil {
		return nil, nil, err
	}
	if releases == nil {
		return nil, b.refusal(freeAt), nil
	}
	return releases, nil, nil
}

// noReleases are n releases that give nothing back: the deletes of no cap, or no delete.
func noReleases(n int) []func() {
	releases := make([]func(), n)
	for i := range releases {
		releases[i] = func() {}
	}
	return releases
}

func (b *storeBudget) Room(ctx context.Context, now time.Time) (int, error) {
	if b.limit < 0 {
		return -1, nil
	}
	left, _, err := b.store.Room(ctx, b.key, now, b.limit, b.window)
	return left, err
}
