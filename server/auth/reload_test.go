package auth

import (
	"crypto/sha256"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tallyfy-mcp/tallyfy-mcp/internal/harness"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
)

// TestSIGHUPKeepsCallersOnABadFile: a SIGHUP with a broken callers file logs why and leaves the
// callers loaded before in force; the next SIGHUP with a good file swaps them whole.
func TestSIGHUPKeepsCallersOnABadFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "callers.json")
	entry := func(name string) map[string]any {
		return map[string]any{"name": name, "token_sha256": sha("tok-" + name), "tallyfy_token_env": "SHARED_TALLYFY"}
	}
	writeCallers(t, file, entry("alice"))
	getenv := func(string) string { return sandbox.AdminToken }
	callers, err := LoadCallers(file, tallyfy.Config{BaseURL: "http://127.0.0.1:1", OrgID: sandbox.OrgID}, getenv)
	if err != nil {
		t.Fatal(err)
	}
	logs := &harness.Buffer{}
	stop := callers.ReloadOnSIGHUP(t.Context(), slog.New(slog.NewTextHandler(logs, nil)))
	defer stop()
	matches := func(name string) bool { // Match without its Tallyfy look-up of the user
		for _, k := range *callers.cur.Load() {
			if k.hash == sha256.Sum256([]byte("tok-"+name)) && k.caller.Name == name {
				return true
			}
		}
		return false
	}
	hup := func(wait string, n int) {
		t.Helper()
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for strings.Count(logs.String(), wait) < n {
			if time.Now().After(deadline) {
				t.Fatalf("no %q in the log:\n%s", wait, logs.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	for i, bad := range []string{"{ not json", `{"callers": []}`, `{"callers": [{"name": "mallory", "token_sha256": "` + sha("tok-mallory") + `"}]}`} {
		if err := os.WriteFile(file, []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		hup("the callers file was not reloaded", i+1)
		if !matches("alice") || matches("mallory") || callers.Len() != 1 {
			t.Fatalf("after a SIGHUP with the bad file %q: alice %v, mallory %v, %d callers", bad, matches("alice"), matches("mallory"), callers.Len())
		}
	}
	writeCallers(t, file, entry("bob"))
	hup("SIGHUP: callers reloaded", 1)
	if matches("alice") || !matches("bob") {
		t.Fatalf("after a good reload: alice %v, bob %v", matches("alice"), matches("bob"))
	}
}
