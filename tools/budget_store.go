package tools

import (
	"context"
	"time"

	"github.com/tallyfy-mcp/tallyfy-mcp/state"
)

// NewStoreBudget is a DeleteBudget kept in a shared store under key: every replica using the
// same store spends from one sliding window, each take one atomic step in the store. When the
// store does not answer, Check and Take return its error and the delete is refused.
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
	ok, freeAt, err := b.store.Peek(ctx, b.key, now, b.limit, b.window)
	if err != nil || ok {
		return nil, err
	}
	return b.refusal(freeAt), nil
}

func (b *storeBudget) Take(ctx context.Context, now time.Time) (func(), *BudgetRefusal, error) {
	if b.limit < 0 {
		return func() {}, nil, nil
	}
	release, freeAt, err := b.store.Take(ctx, b.key, now, b.limit, b.window)
	if err != nil {
		return nil, nil, err
	}
	if release == nil {
		return nil, b.refusal(freeAt), nil
	}
	return release, nil, nil
}

func (b *storeBudget) TakeN(ctx context.Context, now time.Time, n int) ([]func(), *BudgetRefusal, error) {
	if b.limit < 0 {
		releases := make([]func(), n)
		for i := range releases {
			releases[i] = func() {}
		}
		return releases, nil, nil
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

func (b *storeBudget) Room(ctx context.Context, now time.Time) (int, error) {
	if b.limit < 0 {
		return -1, nil
	}
	left, _, err := b.store.Room(ctx, b.key, now, b.limit, b.window)
	return left, err
}
