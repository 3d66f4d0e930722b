package blackbox

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tallyfy-mcp/tallyfy-mcp/internal/testkit"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
)

// TestCallersReloadOnSIGHUP: the built binary reloads the callers file on SIGHUP: a caller
// added is let in, a caller removed is refused, and a bad file keeps the callers in force.
func TestCallersReloadOnSIGHUP(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "callers.json")
	entry := func(name string) map[string]any {
		return map[string]any{"name": name, "token_sha256": testkit.TokenSHA256("tok-" + name), "tallyfy_token_env": "SHARED_TALLYFY"}
	}
	testkit.WriteCallers(t, file, entry("alice"))
	sb := testkit.NewSpySandbox(t)
	b := runBinary(t, []string{"SHARED_TALLYFY=" + sandbox.AdminToken},
		"--transport", "http", "--addr", "127.0.0.1:0", "--base-url", sb.URL, "--org-id", sandbox.OrgID, "--callers", file)
	url := b.ListenURL(t)
	status := func(name string) int {
		s, _, _ := testkit.RawPost(t, url+"/mcp", testkit.InitBody, map[string]string{"Authorization": "Bearer tok-" + name})
		return s
	}
	if status("alice") != 200 || status("bob") != 401 {
		t.Fatalf("before reload: alice %d, bob %d", status("alice"), status("bob"))
	}
	testkit.WriteCallers(t, file, entry("bob"))
	if err := b.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "bob to be let in after SIGHUP", func() bool { return status("bob") == 200 })
	if status("alice") != 401 {
		t.Fatal("alice, removed from the file, is still let in")
	}
	if err := os.WriteFile(file, []byte("{ not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = b.Cmd.Process.Signal(syscall.SIGHUP)
	testkit.Eventually(t, 10*time.Second, "the failed reload to be logged", func() bool {
		return strings.Contains(b.Stderr.String(), "callers file was not reloaded")
	})
	if status("bob") != 200 {
		t.Fatal("a bad file on reload locked bob out")
	}
	if b.Exited() {
		t.Fatal("SIGHUP ended the process")
	}
}
