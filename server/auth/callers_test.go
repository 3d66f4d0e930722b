package auth

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tallyfy-mcp/tallyfy-mcp/internal/testkit"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
)

var (
	sha          = testkit.TokenSHA256
	writeCallers = testkit.WriteCallers
)

// TestCallersFileRefusals: a bad file stops startup naming the line, the entry and the reason.
func TestCallersFileRefusals(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := map[string]string{"ALICE_TALLYFY": "alice-tallyfy-token"}
	getenv := func(k string) string { return env[k] }
	base := tallyfy.Config{BaseURL: "http://127.0.0.1:1", OrgID: sandbox.OrgID}
	good := `{"name": "alice", "token_sha256": "` + sha("a") + `", "tallyfy_token_env": "ALICE_TALLYFY"}`
	for _, tc := range []struct{ name, file, want string }{
		{"not JSON", "{\n  \"callers\": [\n    {\"name\": \"alice\",,}\n  ]\n}", "line 3: not valid JSON"},
		{"wrong top level", `["alice"]`, "line 1: want {\"callers\""},
		{"unknown key", "{\n\"people\": []}", "line 2: unknown key \"people\""},
		{"empty", `{"callers": []}`, "no callers"},
		{"misspelt field", "{\"callers\": [\n" + good + ",\n{\"name\": \"bob\", \"token_sha256\": \"" + sha("b") + "\", \"tallyfy_token_env\": \"ALICE_TALLYFY\", \"exclude_tool\": [\"delete_task\"]}]}", `line 3: entry 2: json: unknown field "exclude_tool"`},
		{"token instead of hash", "{\"callers\": [\n{\"name\": \"bob\", \"token_sha256\": \"s3cret\", \"tallyfy_token_env\": \"ALICE_TALLYFY\"}]}", `line 2: entry 1 ("bob"): "token_sha256" must be the 64 hex`},
		{"no token source", `{"callers": [{"name": "bob", "token_sha256": "` + sha("b") + `"}]}`, `entry 1 ("bob"): give exactly one of "tallyfy_token_file" and "tallyfy_token_env"`},
		{"variable unset", `{"callers": [{"name": "bob", "token_sha256": "` + sha("b") + `", "tallyfy_token_env": "BOB_TALLYFY"}]}`, "BOB_TALLYFY (their Tallyfy token) is not set"},
		{"missing file", `{"callers": [{"name": "bob", "token_sha256": "` + sha("b") + `", "tallyfy_token_file": "/nonexistent/bob"}]}`, "reading their Tallyfy token"},
		{"bad name", `{"callers": [{"name": "bob smith", "token_sha256": "` + sha("b") + `", "tallyfy_token_env": "ALICE_TALLYFY"}]}`, `"name" must be`},
		{"duplicate name", "{\"callers\": [" + good + ",\n" + strings.Replace(good, sha("a"), sha("b"), 1) + "]}", `line 2: entry 2: the name "alice" is used twice`},
		{"shared token", "{\"callers\": [" + good + ",\n" + strings.Replace(good, "alice", "bob", 1) + "]}", `the same token_sha256 as "alice"`},
		{"bad tier", `{"callers": [{"name": "bob", "token_sha256": "` + sha("b") + `", "tallyfy_token_env": "ALICE_TALLYFY", "max_tier": "admin"}]}`, `"max_tier" must be read, lifecycle or permanent`},
		{"unknown tool", `{"callers": [{"name": "bob", "token_sha256": "` + sha("b") + `", "tallyfy_token_env": "ALICE_TALLYFY", "tools": ["drop_everything"]}]}`, `unknown tool "drop_everything"`},
		{"bad protected id", `{"callers": [{"name": "bob", "token_sha256": "` + sha("b") + `", "tallyfy_token_env": "ALICE_TALLYFY", "protect": ["abc"]}]}`, `"protect": protected ID "abc" is not a Tallyfy ID`},
		{"bad org", `{"callers": [{"name": "bob", "token_sha256": "` + sha("b") + `", "tallyfy_token_env": "ALICE_TALLYFY", "org_id": "acme"}]}`, "organization id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".json")
			if err := os.WriteFile(p, []byte(tc.file), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadCallers(p, base, getenv)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "--callers "+p) {
				t.Fatalf("error %v\nwant it to name the file and contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "alice-tallyfy-token") {
				t.Fatal("the error shows a Tallyfy token")
			}
		})
	}
	t.Run("protected ids are normalized", func(t *testing.T) {
		p := filepath.Join(dir, "ok.json")
		upper := strings.ToUpper(sandbox.IDs.LiveTask)
		writeCallers(t, p, map[string]any{"name": "alice", "token_sha256": strings.ToUpper(sha("a")), "tallyfy_token_env": "ALICE_TALLYFY", "protect": []string{upper}})
		c, err := LoadCallers(p, base, getenv)
		if err != nil {
			t.Fatal(err)
		}
		who, ok := c.Match(t.Context(), sha256.Sum256([]byte("a")))
		if !ok || who.Name != "alice" || !slices.Equal(who.Cap.Protect, []string{sandbox.IDs.LiveTask}) {
			t.Fatalf("matched %v %+v", ok, who)
		}
		if _, ok := c.Match(t.Context(), sha256.Sum256([]byte("b"))); ok {
			t.Fatal("an unknown token matched")
		}
	})
}
