package state

import (
	"bytes"
	"testing"
	"time"
)

// TestRecordsAcrossReplicas: what one replica Puts (a pending approval) the other Gets, a new
// Put replaces it, and it is gone after its TTL; an absent key is nil without an error.
func TestRecordsAcrossReplicas(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			a, b := s[0], s[1]
			if v, err := b.Get(ctx(t), "rec-missing"); v != nil || err != nil {
				t.Fatalf("absent key: %q %v", v, err)
			}
			if err := a.Put(ctx(t), "rec", []byte(`{"status":"pending"}`), time.Minute); err != nil {
				t.Fatal(err)
			}
			if v, err := b.Get(ctx(t), "rec"); err != nil || !bytes.Equal(v, []byte(`{"status":"pending"}`)) {
				t.Fatalf("read on B: %q %v", v, err)
			}
			if err := b.Put(ctx(t), "rec", []byte(`{"status":"approved"}`), 50*time.Millisecond); err != nil {
				t.Fatal(err)
			}
			if v, _ := a.Get(ctx(t), "rec"); !bytes.Equal(v, []byte(`{"status":"approved"}`)) {
				t.Fatalf("after B's Put, A reads %q", v)
			}
			if m, isMem := a.(*Memory); isMem {
				m.now = func() time.Time { return time.Now().Add(time.Second) }
				defer func() { m.now = time.Now }()
			} else {
				time.Sleep(150 * time.Millisecond)
			}
			if v, err := a.Get(ctx(t), "rec"); v != nil || err != nil {
				t.Fatalf("after the TTL: %q %v, want gone", v, err)
			}
		})
	}
}
