package tools

import (
	"strings"
	"testing"
)

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
