package state

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tallyfy-mcp/tallyfy-mcp/internal/redistest"
)

// stores returns each backend for the same contract: memory, and Redis on a real
// redis-server (two clients on one server, as two replicas would have).
func stores(t *testing.T) map[string][2]Store {
	t.Helper()
	m := NewMemory()
	out := map[string][2]Store{"memory": {m, m}}
	srv := redistest.Start(t)
	a, err := Open(srv.URL(0))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(srv.URL(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	out["redis"] = [2]Store{a, b}
	return out
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestUseOnceAcrossReplicas(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			a, b := s[0], s[1]
			first, err := a.UseOnce(ctx(t), "n1", time.Minute)
			if err != nil || !first {
				t.Fatalf("first use on A: %v %v", first, err)
			}
			again, err := b.UseOnce(ctx(t), "n1", time.Minute)
			if err != nil || again {
				t.Fatalf("replay on B: fresh=%v err=%v, want refused", again, err)
			}
			again, err = a.UseOnce(ctx(t), "n1", time.Minute)
			if err != nil || again {
				t.Fatalf("replay on A: fresh=%v err=%v, want refused", again, err)
			}
			// Many racing replicas: exactly one wins.
			var wins atomic.Int32
			var wg sync.WaitGroup
			for i := range 20 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if ok, err := s[i%2].UseOnce(context.Background(), "race", time.Minute); err == nil && ok {
						wins.Add(1)
					}
				}()
			}
			wg.Wait()
			if wins.Load() != 1 {
				t.Fatalf("%d racing uses succeeded, want 1", wins.Load())
			}
		})
	}
}

func TestUseOnceForgetsAfterTTL(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			if ok, _ := s[0].UseOnce(ctx(t), "short", 50*time.Millisecond); !ok {
				t.Fatal("first use refused")
			}
			if m, isMem := s[0].(*Memory); isMem { // memory forgets by its clock
				m.now = func() time.Time { return time.Now().Add(time.Second) }
				defer func() { m.now = time.Now }()
			} else {
				time.Sleep(150 * time.Millisecond)
			}
			if ok, err := s[1].UseOnce(ctx(t), "short", time.Minute); err != nil || !ok {
				t.Fatalf("after the TTL: fresh=%v err=%v, want usable (the key must not be kept forever)", ok, err)
			}
		})
	}
}

func TestWindowSharedAndAtomic(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			a, b := s[0], s[1]
			now := time.Now()
			key := "deletes-" + name
			var releases []func()
			for i, st := range []Store{a, b, a} {
				rel, _, err := st.Take(ctx(t), key, now.Add(time.Duration(i)*time.Second), 3, time.Hour)
				if err != nil || rel == nil {
					t.Fatalf("take %d: release=%v err=%v", i+1, rel != nil, err)
				}
				releases = append(releases, rel)
			}
			for i, st := range []Store{a, b} {
				rel, freeAt, err := st.Take(ctx(t), key, now.Add(5*time.Second), 3, time.Hour)
				if err != nil || rel != nil {
					t.Fatalf("4th take on replica %d: allowed=%v err=%v, want refused", i, rel != nil, err)
				}
				if want := now.Add(time.Hour); freeAt.Sub(want).Abs() > time.Millisecond {
					t.Fatalf("freeAt = %v, want the oldest take + 1h = %v", freeAt, want)
				}
				if left, at, err := st.Room(ctx(t), key, now.Add(5*time.Second), 3, time.Hour); err != nil || left != 0 || !at.Equal(freeAt) {
					t.Fatalf("room in a full window: %d left, free at %v, err=%v; want 0, %v", left, at, err, freeAt)
				}
			}
			// Giving one back (a delete that did not happen) frees exactly one unit.
			releases[1]()
			releases[1]()
			if rel, _, err := b.Take(ctx(t), key, now.Add(6*time.Second), 3, time.Hour); err != nil || rel == nil {
				t.Fatalf("after a release: allowed=%v err=%v", rel != nil, err)
			}
			if rel, _, _ := a.Take(ctx(t), key, now.Add(7*time.Second), 3, time.Hour); rel != nil {
				t.Fatal("a double release freed two units")
			}
			// The window slides: an hour after the first take, one unit is free again.
			if rel, _, err := a.Take(ctx(t), key, now.Add(time.Hour), 3, time.Hour); err != nil || rel == nil {
				t.Fatalf("an hour later: allowed=%v err=%v", rel != nil, err)
			}
		})
	}
}

func TestWindowRaceNeverOverspends(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			var got atomic.Int32
			var wg sync.WaitGroup
			now := time.Now()
			for i := range 40 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if rel, _, err := s[i%2].Take(context.Background(), "race-"+name, now, 5, time.Hour); err == nil && rel != nil {
						got.Add(1)
					}
				}()
			}
			wg.Wait()
			if got.Load() != 5 {
				t.Fatalf("%d of 40 racing takes were allowed with a limit of 5", got.Load())
			}
		})
	}
}

// TestRedisDownFailsAndRecovers: with Redis stopped every call returns an error that says the
// store did not answer (callers fail closed on it), quickly; after a restart it works again.
func TestRedisDownFailsAndRecovers(t *testing.T) {
	srv := redistest.Start(t)
	s, err := Open(srv.URL(1))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Health(ctx(t)); err != nil {
		t.Fatalf("health with Redis up: %v", err)
	}
	srv.Stop()
	start := time.Now()
	_, err1 := s.UseOnce(ctx(t), "x", time.Minute)
	rel, _, err2 := s.Take(ctx(t), "w", time.Now(), 3, time.Hour)
	_, _, err3 := s.Room(ctx(t), "w", time.Now(), 3, time.Hour)
	err4 := s.Health(ctx(t))
	for i, err := range []error{err1, err2, err3, err4} {
		if !IsUnavailable(err) || !strings.Contains(err.Error(), "shared state store (Redis) did not answer") {
			t.Fatalf("call %d with Redis down: %v, want an UnavailableError", i+1, err)
		}
	}
	if rel != nil {
		t.Fatal("Take allowed a unit with Redis down")
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Fatalf("failing took %s: an unreachable store must fail fast", d)
	}
	srv.Restart()
	if ok, err := s.UseOnce(ctx(t), "x", time.Minute); err != nil || !ok {
		t.Fatalf("after the restart: %v %v", ok, err)
	}
	if err := s.Health(ctx(t)); err != nil {
		t.Fatalf("health after the restart: %v", err)
	}
}

func TestOpenRefusesOtherSchemes(t *testing.T) {
	for _, bad := range []string{"postgres://x/1", "redis://127.0.0.1:6379/notadb", "::"} {
		if _, err := Open(bad); err == nil {
			t.Errorf("Open(%q) accepted", bad)
		}
	}
	if s, err := Open(""); err != nil || s.Kind() != "memory" || s.Shared() {
		t.Fatalf("Open(\"\") = %v, %v", s, err)
	}
	if s, err := Open("redis://127.0.0.1:1/0"); err != nil || !s.Shared() {
		t.Fatalf("a Redis store is not shared: %v, %v", s, err)
	}
	// A password in the URL never appears in an error.
	_, err := Open("redis://user:hunter2@127.0.0.1:6379/nodb")
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error %v", err)
	}
}

// TestTakeNAllOrNothing: a bulk delete reserves its slots in one step on every backend: all n
// or none, never more than the limit across replicas, and each slot can be given back alone.
func TestTakeNAllOrNothing(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			a, b := s[0], s[1]
			now := time.Now()
			key := "bulk-" + name
			if left, _, err := a.Room(ctx(t), key, now, 5, time.Hour); err != nil || left != 5 {
				t.Fatalf("room of an empty window = %d, %v; want 5", left, err)
			}
			rels, _, err := a.TakeN(ctx(t), key, now, 5, time.Hour, 3)
			if err != nil || len(rels) != 3 {
				t.Fatalf("take 3 of 5: %d releases, err %v", len(rels), err)
			}
			left, freeAt, err := b.Room(ctx(t), key, now.Add(time.Second), 5, time.Hour)
			if err != nil || left != 2 || freeAt.Sub(now.Add(time.Hour)).Abs() > time.Millisecond {
				t.Fatalf("room after 3 = %d (free at %v), %v; want 2, free at +1h", left, freeAt, err)
			}
			// 3 more do not fit: none is taken.
			if rels, _, err := b.TakeN(ctx(t), key, now.Add(time.Second), 5, time.Hour, 3); err != nil || rels != nil {
				t.Fatalf("take 3 with 2 left: %d releases, err %v; want refused", len(rels), err)
			}
			if left, _, _ := a.Room(ctx(t), key, now.Add(time.Second), 5, time.Hour); left != 2 {
				t.Fatalf("a refused take spent units: %d left, want 2", left)
			}
			// Giving back one slot (twice) frees exactly one.
			rels[1]()
			rels[1]()
			if left, _, _ := b.Room(ctx(t), key, now.Add(time.Second), 5, time.Hour); left != 3 {
				t.Fatalf("after one release: %d left, want 3", left)
			}
			// Racing reservations of 2 on a limit of 5 (3 free after one release): one wins.
			var won atomic.Int32
			var wg sync.WaitGroup
			for i := range 10 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if r, _, err := s[i%2].TakeN(context.Background(), key, now.Add(2*time.Second), 5, time.Hour, 2); err == nil && r != nil {
						won.Add(1)
					}
				}()
			}
			wg.Wait()
			if won.Load() != 1 {
				t.Fatalf("%d racing reservations of 2 won with 3 slots free; want 1", won.Load())
			}
		})
	}
}

// TestUseOnceNeedsAPositiveTTL: a used-mark that is already forgotten would let the key be
// used again at once, so no store accepts a zero or negative TTL; Used reads a mark without
// making one.
func TestUseOnceNeedsAPositiveTTL(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			for _, ttl := range []time.Duration{0, -time.Second} {
				if ok, err := s[0].UseOnce(ctx(t), "late-"+name, ttl); ok || err != ErrNoTTL {
					t.Fatalf("UseOnce with TTL %s: %v %v, want ErrNoTTL", ttl, ok, err)
				}
			}
			if used, err := s[1].Used(ctx(t), "late-"+name); used || err != nil {
				t.Fatalf("Used after refused marks: %v %v", used, err)
			}
			if ok, err := s[0].UseOnce(ctx(t), "late-"+name, time.Minute); !ok || err != nil {
				t.Fatalf("UseOnce: %v %v", ok, err)
			}
			if used, err := s[1].Used(ctx(t), "late-"+name); !used || err != nil {
				t.Fatalf("Used on the other replica: %v %v, want true", used, err)
			}
			if ok, _ := s[1].UseOnce(ctx(t), "late-"+name, time.Minute); ok {
				t.Fatal("Used spent the mark")
			}
		})
	}
}

// TestRedisHealthProbesAWrite: a Redis that answers PING but refuses writes (out of memory) is
// not healthy, since no confirmation could be marked used.
func TestRedisHealthProbesAWrite(t *testing.T) {
	srv := redistest.Start(t)
	s, err := Open(srv.URL(0))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := s.(*Redis)
	if err := r.Health(ctx(t)); err != nil {
		t.Fatalf("health: %v", err)
	}
	for _, kv := range [][2]string{{"maxmemory-policy", "noeviction"}, {"maxmemory", "1"}} {
		if err := r.rdb.ConfigSet(ctx(t), kv[0], kv[1]).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.rdb.Ping(ctx(t)).Err(); err != nil {
		t.Fatalf("PING: %v", err)
	}
	if err := r.Health(ctx(t)); !IsUnavailable(err) || !strings.Contains(err.Error(), "OOM") {
		t.Fatalf("health with writes refused: %v", err)
	}
}
