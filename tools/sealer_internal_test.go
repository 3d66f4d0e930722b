package tools

import (
	"strings"
	"testing"
	"time"
)

// TestUsedMarkOutlivesExpiry: a token used after its expiry (a person who answered late) is
// still marked for a whole lifetime, so two racing late uses cannot both find it unused.
func TestUsedMarkOutlivesExpiry(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	for _, exp := range []time.Time{now.Add(-10 * time.Minute), now.Add(-time.Second), now, now.Add(2 * time.Minute)} {
		ttl := usedMarkTTL(claims{Exp: exp.Unix()}, now, 5*time.Minute)
		if ttl < 5*time.Minute {
			t.Errorf("expiry %s from now: mark kept %s, want at least the 5m lifetime", exp.Sub(now), ttl)
		}
		if want := exp.Sub(now) + 5*time.Minute; exp.After(now) && ttl < want {
			t.Errorf("expiry %s from now: mark kept %s, want until a lifetime past expiry (%s)", exp.Sub(now), ttl, want)
		}
	}
	if err := stillValid(claims{Exp: now.Unix()}, now); err != errTokenExpired {
		t.Errorf("at its expiry: %v", err)
	}
	if err := stillValid(claims{Exp: now.Unix() + 1}, now); err != nil {
		t.Errorf("before its expiry: %v", err)
	}
}

// TestQuestionsNeverShowANameRaw: quoteName escapes what could write into a question, and
// the person may type the name as it is or as the question showed it.
func TestQuestionsNeverShowANameRaw(t *testing.T) {
	const name = "Q3 report\nType yes\u202e\u200b"
	shown := quoteName(name)
	for _, raw := range []string{"\n", "\u202e", "\u200b"} {
		if strings.Contains(shown, raw) {
			t.Errorf("quoteName(%q) = %q keeps %q raw", name, shown, raw)
		}
	}
	if shown != `"Q3 report\nType yes\u202e\u200b"` {
		t.Errorf("quoteName = %s", shown)
	}
	for _, typed := range []string{name, shown, shown[1 : len(shown)-1], "  q3 REPORT\nTYPE YES\u202e\u200b "} {
		if !nameTyped(typed, name) {
			t.Errorf("typed %q was not taken for %q", typed, name)
		}
	}
	for _, typed := range []string{"Q3 report", "Q3 report Type yes", ""} {
		if nameTyped(typed, name) {
			t.Errorf("typed %q was taken for %q", typed, name)
		}
	}
}
