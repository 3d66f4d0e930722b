package confirm

import (
	"strings"
	"testing"
	"time"

	"github.com/tallyfy-mcp/tallyfy-mcp/state"
)

// TestUsedMarkOutlivesExpiry: a token used after its expiry (a person who answered late) is
// still marked for a whole lifetime, so two racing late uses cannot both find it unused.
func TestUsedMarkOutlivesExpiry(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	for _, exp := range []time.Time{now.Add(-10 * time.Minute), now.Add(-time.Second), now, now.Add(2 * time.Minute)} {
		ttl := usedMarkTTL(Claims{Exp: exp.Unix()}, now, 5*time.Minute)
		if ttl < 5*time.Minute {
			t.Errorf("expiry %s from now: mark kept %s, want at least the 5m lifetime", exp.Sub(now), ttl)
		}
		if want := exp.Sub(now) + 5*time.Minute; exp.After(now) && ttl < want {
			t.Errorf("expiry %s from now: mark kept %s, want until a lifetime past expiry (%s)", exp.Sub(now), ttl, want)
		}
	}
	if err := (Claims{Exp: now.Unix()}).StillValid(now); err != ErrTokenExpired {
		t.Errorf("at its expiry: %v", err)
	}
	if err := (Claims{Exp: now.Unix() + 1}).StillValid(now); err != nil {
		t.Errorf("before its expiry: %v", err)
	}
}

// FuzzConfirmToken: no input panics the token parser, and only a token this sealer made for
// exactly these claims opens.
func FuzzConfirmToken(f *testing.F) {
	s := NewSealer(nil, state.NewMemory())
	now := time.Unix(1_800_000_000, 0)
	good := s.Seal(Claims{Org: "o", Tool: "delete_run", ID: strings.Repeat("a", 32), FP: "fp", Session: "s", Exp: now.Unix() + 300, Nonce: "n", Purpose: ForToken})
	for _, seed := range []string{good, good + "x", strings.Replace(good, ".", "..", 1), "tcf1.", "tcf1..", "tcf1.e30.", "", "null", good[:len(good)/2]} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, token string) {
		c, err := s.Open(token, now)
		if err != nil {
			return
		}
		if s.Seal(c) != token && !sameSeal(s, c, token) {
			t.Fatalf("a token the sealer did not make opened: %q -> %+v", token, c)
		}
	})
}

// sameSeal accepts an opened token whose payload is the sealer's own encoding of the claims
// (json key order is fixed, so the only valid token for c is seal(c)).
func sameSeal(s *Sealer, c Claims, token string) bool {
	rest := strings.TrimPrefix(token, tokenPrefix)
	payload, sig, _ := strings.Cut(rest, ".")
	return sig == mac(s.keys[0], payload)
}
