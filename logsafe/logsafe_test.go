package logsafe

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestEscapeJSONEscapesBidiAndFormatCharacters(t *testing.T) {
	name := "admin\u202egnp.exe\u2066x\u2069\u200b\u00ad\u0085\U000E0041ok é 日本"
	b, _ := json.Marshal(map[string]string{"client_name": name})
	got := EscapeJSON(b)
	for _, r := range []rune{0x202e, 0x2066, 0x2069, 0x200b, 0xad, 0x85, 0xE0041} {
		if strings.ContainsRune(string(got), r) {
			t.Errorf("U+%04X left raw in %s", r, got)
		}
	}
	for _, want := range []string{`\u202e`, `\u2066`, `\u2069`, `\u200b`, `\u00ad`, `\u0085`, `\udb40\udc41`, "é 日本"} {
		if !strings.Contains(string(got), want) {
			t.Errorf("%q missing from %s", want, got)
		}
	}
	var back map[string]string
	if err := json.Unmarshal(got, &back); err != nil || back["client_name"] != name {
		t.Fatalf("escaped JSON decodes to %q (%v), want the original %q", back["client_name"], err, name)
	}
}

func TestEscapeJSONReturnsPlainTextUnchanged(t *testing.T) {
	b := []byte(`{"a":"plain ascii","b":"é 日本 ✓"}`)
	got := EscapeJSON(b)
	if &got[0] != &b[0] {
		t.Fatal("printable JSON was copied; want the same slice back")
	}
}

func TestClip(t *testing.T) {
	long := strings.Repeat("é", 1<<20)
	got := Clip(long, ClientTextMax)
	if n := utf8.RuneCountInString(got); n != ClientTextMax || !strings.HasSuffix(got, "…") || !utf8.ValidString(got) {
		t.Fatalf("Clip of 1M runes: %d runes, suffix …: %v, valid: %v", n, strings.HasSuffix(got, "…"), utf8.ValidString(got))
	}
	exact := strings.Repeat("日", ClientTextMax)
	if Clip(exact, ClientTextMax) != exact {
		t.Fatal("a value of exactly the bound was clipped")
	}
	if Clip("claude-code", ClientTextMax) != "claude-code" {
		t.Fatal("a short value changed")
	}
}
