package state

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/tallyfy-mcp/tallyfy-mcp/internal/redistest"
)

// BenchmarkStore: what one confirmation (UseOnce) and one budget take (Take, a Lua script)
// cost per backend; with Redis on loopback this is the store's share of a permanent delete.
func BenchmarkStore(b *testing.B) {
	srv := redistest.Start(b)
	r, err := Open(srv.URL(0))
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	for name, s := range map[string]Store{"memory": NewMemory(), "redis": r} {
		b.Run(name+"/UseOnce", func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				if _, err := s.UseOnce(context.Background(), "bench:"+strconv.Itoa(i), time.Minute); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/Take", func(b *testing.B) {
			now := time.Now()
			for i := 0; b.Loop(); i++ {
				// A limit no run reaches: a fast backend takes over a million in b.Loop's second.
				release, _, err := s.Take(context.Background(), "bench-window", now.Add(time.Duration(i)), 1<<30, time.Hour)
				if err != nil || release == nil {
					b.Fatal(err)
				}
			}
		})
	}
}
