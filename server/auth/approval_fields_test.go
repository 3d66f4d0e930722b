package auth

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
)

// TestCallersApprovalFields: the callers file's approval passphrase and two-person rule are
// checked as they load (a bad hash, approvers without a rule or the reverse, self-approval,
// an approver who is not a caller), and a good file gives the caller their rule and a
// passphrase that checks only itself.
func TestCallersApprovalFields(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	getenv := func(string) string { return "a-tallyfy-token" }
	base := tallyfy.Config{BaseURL: "http://127.0.0.1:1", OrgID: sandbox.OrgID}
	entry := func(name, extra string) string {
		return `{"name": "` + name + `", "token_sha256": "` + sha("tok-"+name) + `", "tallyfy_token_env": "T"` + extra + `}`
	}
	for _, tc := range []struct{ name, file, want string }{
		{"passphrase in clear", `{"callers": [` + entry("alice", `, "approval_passphrase_sha256": "open sesame"`) + `]}`, `"approval_passphrase_sha256" must be the 64 hex`},
		{"approvers without a rule", `{"callers": [` + entry("alice", `, "approvers": ["bob"]`) + `,` + entry("bob", "") + `]}`, `"approvers" needs "require_approval"`},
		{"rule without approvers", `{"callers": [` + entry("alice", `, "require_approval": "permanent"`) + `]}`, `"require_approval" needs "approvers"`},
		{"bad tier", `{"callers": [` + entry("alice", `, "require_approval": "read", "approvers": ["bob"]`) + `,` + entry("bob", "") + `]}`, `"require_approval" must be permanent or lifecycle`},
		{"self-approval", `{"callers": [` + entry("alice", `, "require_approval": "permanent", "approvers": ["alice"]`) + `]}`, "self-approval"},
		{"unknown approver", `{"callers": [` + entry("alice", `, "require_approval": "permanent", "approvers": ["zoe"]`) + `]}`, `approver "zoe" is not a caller`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".json")
			if err := os.WriteFile(p, []byte(tc.file), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := LoadCallers(p, base, getenv); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
	p := filepath.Join(dir, "good.json")
	if err := os.WriteFile(p, []byte(`{"callers": [`+entry("alice", `, "require_approval": "lifecycle", "approvers": ["bob"], "approval_passphrase_sha256": "`+sha("alice pass")+`"`)+`,`+entry("bob", "")+`]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadCallers(p, base, getenv)
	if err != nil {
		t.Fatal(err)
	}
	who, ok := c.Match(t.Context(), sha256.Sum256([]byte("tok-alice")))
	if !ok || who.RequireApproval != tools.TierLifecycle || len(who.Approvers) != 1 || who.Approvers[0] != "bob" {
		t.Fatalf("alice: %+v", who)
	}
	if !c.HasPassphrase("alice") || c.HasPassphrase("bob") || !c.CheckPassphrase("alice", "alice pass") || c.CheckPassphrase("alice", "bob pass") || c.CheckPassphrase("bob", "alice pass") {
		t.Fatal("passphrases: only alice has one, and only hers checks")
	}
}
