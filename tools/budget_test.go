package tools_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tallyfy-mcp/tallyfy-mcp/schemas"
	"github.com/tallyfy-mcp/tallyfy-mcp/state"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
)

// TestBudgetTakeIsAtomic (a budget kept in state.Memory): under concurrent takes and releases every Take answers exactly
// one of a slot or a refusal (with when the budget frees), and never more slots than the limit
// are held at once.
func TestBudgetTakeIsAtomic(t *testing.T) {
	t.Parallel()
	b := tools.NewStoreBudget(state.NewMemory(), "deletes", 2, time.Hour)
	now := time.Now()
	var held, most atomic.Int64
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				release, refusal, err := b.Take(context.Background(), now.Add(time.Duration(g*2000+i)))
				switch {
				case err != nil:
					t.Errorf("Take: %v", err)
					return
				case (release == nil) == (refusal == nil):
					t.Errorf("Take answered release=%v refusal=%v: want exactly one", release != nil, refusal)
					return
				case refusal != nil:
					if refusal.Limit != 2 || refusal.FreeAt.IsZero() || refusal.Window != time.Hour {
						t.Errorf("refusal %+v", refusal)
						return
					}
				default:
					n := held.Add(1)
					for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
					}
					held.Add(-1)
					release()
					release() // twice is harmless
				}
			}
		}()
	}
	wg.Wait()
	if most.Load() > 2 {
		t.Fatalf("%d slots held at once, limit 2", most.Load())
	}
	if r, _ := b.Check(context.Background(), now.Add(time.Hour)); r != nil {
		t.Fatalf("every slot was given back, yet Check refuses: %+v", r)
	}
	none := tools.NewStoreBudget(state.NewMemory(), "deletes", 0, time.Hour)
	if _, r, _ := none.Take(context.Background(), now); r == nil || r.Limit != 0 {
		t.Fatalf("a budget of 0 gave a slot: %+v", r)
	}
}

// racingBudget says a delete is allowed when asked early, then loses the take once (another
// session took the last slot in between), then behaves as its inner budget.
type racingBudget struct {
	tools.DeleteBudget
	lost atomic.Bool
}

func (r *racingBudget) Take(ctx context.Context, now time.Time) (func(), *tools.BudgetRefusal, error) {
	if r.lost.CompareAndSwap(false, true) {
		return nil, &tools.BudgetRefusal{Limit: 1, Window: time.Hour, FreeAt: now.Add(time.Minute)}, nil
	}
	return r.DeleteBudget.Take(ctx, now)
}

// TestConfirmationKeptWhenBudgetLostAtTake: the budget is checked early, but another call can
// take the last slot before this one deletes. The refusal then comes from the take itself
// (never nil), and the confirmation is not used up: it is consumed only once every check
// has passed, so the same token works when the budget frees.
func TestConfirmationKeptWhenBudgetLostAtTake(t *testing.T) {
	t.Parallel()
	forEachProtocol(t, func(t *testing.T, p protocol) {
		k := kinds[1]
		h := newHarness(t, withProto(p), withBudget(&racingBudget{DeleteBudget: tools.NewStoreBudget(state.NewMemory(), "deletes", 1, time.Hour)}))
		tok := askToken(t, h, k, k.archived).ConfirmToken
		args := map[string]any{k.idArg: k.archived, "confirm_token": tok}
		h.call(k.del, args).failed(t, "delete budget of 1", "nothing was deleted", "allowed from")
		if h.gone(k.kind, k.archived) || h.deleteCount() != 0 {
			t.Fatal("deleted over budget")
		}
		if res := decode[schemas.DeleteResult](t, h.call(k.del, args).ok(t)); res.Status != "deleted" {
			t.Fatalf("the same token after the budget freed: %+v", res)
		}
		var got []string
		for _, r := range h.audit.outcomes() {
			got = append(got, string(r.Outcome)+":"+r.Detail)
		}
		if want := "confirmation_required: refused:delete budget spent ok:"; strings.Join(got, " ") != want {
			t.Errorf("audit %q, want %q", strings.Join(got, " "), want)
		}
	})
}

// outageBudget cannot be consulted (a shared store that is down).
type outageBudget struct{ checkFails bool }

func (o outageBudget) Check(context.Context, time.Time) (*tools.BudgetRefusal, error) {
	if o.checkFails {
		return nil, errors.New("state store unreachable")
	}
	return nil, nil
}

func (outageBudget) Take(context.Context, time.Time) (func(), *tools.BudgetRefusal, error) {
	return nil, nil, errors.New("state store unreachable")
}

func (outageBudget) TakeN(context.Context, time.Time, int) ([]func(), *tools.BudgetRefusal, error) {
	return nil, nil, errors.New("state store unreachable")
}

func (o outageBudget) Room(context.Context, time.Time) (int, error) {
	if o.checkFails {
		return 0, errors.New("state store unreachable")
	}
	return -1, nil
}

// TestBudgetOutageRefuses: when the budget cannot be consulted, deletes fail closed.
func TestBudgetOutageRefuses(t *testing.T) {
	t.Parallel()
	for _, checkFails := range []bool{true, false} {
		h := newHarness(t, withConfirm(tools.ConfirmOff), withBudget(outageBudget{checkFails: checkFails}))
		for _, k := range kinds {
			h.call(k.del, map[string]any{k.idArg: k.archived}).failed(t, "Nothing was deleted", "could not be checked", "state store unreachable")
			if h.gone(k.kind, k.archived) {
				t.Fatalf("%s deleted without a budget", k.kind)
			}
		}
		if h.deleteCount() != 0 {
			t.Fatal("a delete reached Tallyfy")
		}
		for _, r := range h.audit.all() {
			if r.Outcome != "refused" || r.Detail != "delete budget unavailable" {
				t.Errorf("audit %+v", r)
			}
		}
	}
}

// TestBudgetGivenBackAfterRefusedDelete: a delete Tallyfy refuses outright (403, 404, 429:
// nothing happened) gives its budget slot back. A refused delete under a budget of 1 must leave
// the slot for the admin's delete that follows (both servers share the budget).
func TestBudgetGivenBackAfterRefusedDelete(t *testing.T) {
	t.Parallel()
	k := kinds[1]
	for _, c := range []struct {
		name  string
		token string
		wrap  func(http.Handler) http.Handler
		want  string
	}{
		{"403", sandbox.AdminToken, answerDeleteWith(http.StatusForbidden), "403"},
		// The item is read again after the refusal (issue 18 point 2): it is still there.
		{"404", sandbox.AdminToken, answerDeleteWith(http.StatusNotFound), "still there, archived"},
		{"429", sandbox.AdminToken, answerDeleteWith(http.StatusTooManyRequests), "Retry after"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			budget := tools.NewStoreBudget(state.NewMemory(), "deletes", 1, time.Hour)
			opts := []option{withConfirm(tools.ConfirmOff), withBudget(budget), withToken(c.token), withMaxTries(1)}
			if c.wrap != nil {
				opts = append(opts, withWrap(c.wrap))
			}
			refusedBy := newHarness(t, opts...)
			refusedBy.call(k.del, map[string]any{k.idArg: k.archived}).failed(t, c.want)
			if (c.wrap == nil && refusedBy.deleteCount() != 1) || refusedBy.gone(k.kind, k.archived) {
				t.Fatalf("the refused delete: %d requests, gone=%v", refusedBy.deleteCount(), refusedBy.gone(k.kind, k.archived))
			}
			admin := newHarness(t, withConfirm(tools.ConfirmOff), withBudget(budget))
			if res := decode[schemas.DeleteResult](t, admin.call(k.del, map[string]any{k.idArg: k.archived}).ok(t)); res.Status != "deleted" {
				t.Fatalf("admin delete after a refused one: %+v", res)
			}
		})
	}
}

// answerDeleteWith answers the first permanent DELETE with status (a Tallyfy-shaped error
// body), without touching the sandbox.
func answerDeleteWith(status int) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		var done atomic.Bool
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodDelete && strings.HasSuffix(r.URL.Path, "/delete") && done.CompareAndSwap(false, true) {
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("Retry-After", "7")
				w.WriteHeader(status)
				_, _ = w.Write([]byte(`{"error":"refused by the test","message":"refused by the test"}`))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
