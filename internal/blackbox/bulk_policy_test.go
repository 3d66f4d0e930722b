package blackbox

// Bulk tools obey the per-kind tool policy (issue 17 point 1), through the built binary: a bulk
// call for a type is refused, at plan and again at execute, unless the single-item tool of the
// same verb and type is allowed by the server and by the caller; tools/list offers only the
// allowed types, and hides a bulk tool with none.

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tallyfy-mcp/tallyfy-mcp/internal/testkit"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
)

// bulkTypes is each listed bulk tool's type enum, by tool name.
func bulkTypes(t *testing.T, ctx context.Context, c *client.Client) map[string][]string {
	t.Helper()
	lt, err := c.ListTools(ctx, mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, tl := range lt.Tools {
		if !strings.HasPrefix(tl.Name, "bulk_") {
			continue
		}
		raw, _ := json.Marshal(tl)
		var doc struct {
			InputSchema struct {
				Properties struct {
					Type struct {
						Enum []string `json:"enum"`
					} `json:"type"`
				} `json:"properties"`
			} `json:"inputSchema"`
		}
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatal(err)
		}
		out[tl.Name] = doc.InputSchema.Properties.Type.Enum
	}
	return out
}

// wantBulkRefusal calls a bulk tool and wants an isError result naming the excluded tool.
func wantBulkRefusal(t *testing.T, ctx context.Context, c *client.Client, tool string, args map[string]any, excluded string) {
	t.Helper()
	res, err := testkit.Call(ctx, c, tool, args)
	if err != nil {
		t.Fatalf("%s %v: %v", tool, args, err)
	}
	if !res.IsError || !strings.Contains(testkit.Text(res), excluded) || !strings.Contains(testkit.Text(res), "Nothing was changed") {
		t.Fatalf("%s %v: want a refusal naming %s, got %s", tool, args, excluded, testkit.Text(res))
	}
}

func templateArchived(t *testing.T, ctx context.Context, c *client.Client, id string) bool {
	t.Helper()
	res := testkit.MustCall(t, ctx, c, "get_template", map[string]any{"template_id": id})
	a, ok := testkit.Field(testkit.Structured(t, res), "template", "archived").(bool)
	if res.IsError || !ok {
		t.Fatalf("get_template: %s", testkit.Text(res))
	}
	return a
}

// TestBulkFollowsServerToolPolicy: the server's --exclude-tools and --tools reach the bulk
// tools per type, over stdio.
func TestBulkFollowsServerToolPolicy(t *testing.T) {
	t.Parallel()
	ctx := testkit.Context(t, 60*time.Second)
	c := connect(t, testkit.Stdio, []string{"--exclude-tools", "archive_template,delete_run,delete_template"}, testkit.ClientOpts{Era: testkit.Legacy})

	types := bulkTypes(t, ctx, c)
	if !slices.Equal(types["bulk_archive"], []string{"task", "run"}) || !slices.Equal(types["bulk_delete"], []string{"task"}) ||
		!slices.Equal(types["bulk_restore"], []string{"task", "run", "template"}) {
		t.Fatalf("bulk type enums: %v; want archive task,run; delete task; restore all three", types)
	}
	wantBulkRefusal(t, ctx, c, "bulk_archive", map[string]any{"type": "template", "ids": []string{sandbox.IDs.LiveTemplate}}, "archive_template")
	wantBulkRefusal(t, ctx, c, "bulk_delete", map[string]any{"type": "run", "ids": []string{sandbox.IDs.ArchivedRun}}, "delete_run")
	wantBulkRefusal(t, ctx, c, "bulk_delete", map[string]any{"type": "template", "ids": []string{sandbox.IDs.ArchivedTemplate}}, "delete_template")
	// A plan_token does not get past the check either (the execute path decides again).
	wantBulkRefusal(t, ctx, c, "bulk_delete", map[string]any{"type": "template", "ids": []string{sandbox.IDs.ArchivedTemplate}, "plan_token": "tcf1.x.y"}, "delete_template")
	if templateArchived(t, ctx, c, sandbox.IDs.LiveTemplate) {
		t.Fatal("bulk_archive archived a template with archive_template excluded")
	}
	if templateArchived(t, ctx, c, sandbox.IDs.ArchivedTemplate) != true {
		t.Fatal("the archived template changed")
	}
	// An allowed type still plans.
	res := testkit.MustCall(t, ctx, c, "bulk_archive", map[string]any{"type": "run", "ids": []string{sandbox.IDs.ActiveRun}})
	if res.IsError || testkit.Field(testkit.Structured(t, res), "status") != "planned" {
		t.Fatalf("bulk_archive of runs (allowed): %s", testkit.Text(res))
	}

	t.Run("a bulk tool with no allowed type is not listed", func(t *testing.T) {
		t.Parallel()
		ctx := testkit.Context(t, 60*time.Second)
		for _, args := range [][]string{
			{"--exclude-tools", "delete_task,delete_run,delete_template"},
			{"--tools", "list_runs,get_run,bulk_archive,bulk_delete,archive_run"},
		} {
			c := connect(t, testkit.Stdio, args, testkit.ClientOpts{Era: testkit.Legacy})
			names := testkit.ToolNames(t, ctx, c)
			if slices.Contains(names, "bulk_delete") {
				t.Fatalf("%v: bulk_delete listed though no delete_* tool is allowed: %v", args, names)
			}
			if _, err := testkit.Call(ctx, c, "bulk_delete", map[string]any{"type": "run", "ids": []string{sandbox.IDs.ArchivedRun}}); err == nil {
				t.Fatalf("%v: bulk_delete answered though hidden", args)
			}
			if args[0] == "--tools" && !slices.Equal(bulkTypes(t, ctx, c)["bulk_archive"], []string{"run"}) {
				t.Fatalf("--tools with archive_run only: bulk_archive types %v", bulkTypes(t, ctx, c))
			}
		}
	})
}

// TestBulkFollowsCallerToolPolicy: each caller's own exclude_tools / tools narrow the bulk
// types they see and may use; a plan made while allowed is refused at execute once the caller's
// entry excludes the type's tool (SIGHUP reload), and nothing changes.
func TestBulkFollowsCallerToolPolicy(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "callers.json")
	alice := map[string]any{"name": "alice", "token_sha256": testkit.TokenSHA256("tok-alice"), "tallyfy_token_env": "SHARED_TALLYFY"}
	bob := map[string]any{"name": "bob", "token_sha256": testkit.TokenSHA256("tok-bob"), "tallyfy_token_env": "SHARED_TALLYFY",
		"tools": []string{"list_runs", "get_run", "archive_run", "bulk_archive", "bulk_restore"}}
	testkit.WriteCallers(t, file, alice, bob)
	sb := testkit.NewSpySandbox(t)
	b := runBinary(t, []string{"SHARED_TALLYFY=" + sandbox.AdminToken, "TALLYFY_RATE=0"},
		"--transport", "http", "--addr", "127.0.0.1:0", "--base-url", sb.URL, "--org-id", sandbox.OrgID, "--callers", file)
	url := b.ListenURL(t)
	ctx := testkit.Context(t, 60*time.Second)
	as := func(name string) *client.Client {
		c := testkit.ConnectHTTP(t, testkit.Streamable, url, testkit.ClientOpts{Era: testkit.Legacy, Headers: map[string]string{"Authorization": "Bearer tok-" + name}})
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	ca, cb := as("alice"), as("bob")
	if got := bulkTypes(t, ctx, ca); !slices.Equal(got["bulk_archive"], []string{"task", "run", "template"}) {
		t.Fatalf("alice (no cap): %v", got)
	}
	gotB := bulkTypes(t, ctx, cb)
	if !slices.Equal(gotB["bulk_archive"], []string{"run"}) || gotB["bulk_restore"] != nil || gotB["bulk_delete"] != nil {
		t.Fatalf("bob (archive_run only): %v; want bulk_archive [run] and no other bulk tool", gotB)
	}
	wantBulkRefusal(t, ctx, cb, "bulk_archive", map[string]any{"type": "template", "ids": []string{sandbox.IDs.LiveTemplate}}, "archive_template")

	// Alice plans while allowed; her entry then excludes archive_template.
	res := testkit.MustCall(t, ctx, ca, "bulk_archive", map[string]any{"type": "template", "ids": []string{sandbox.IDs.LiveTemplate}})
	exec, _ := testkit.Field(testkit.Structured(t, res), "execute", "arguments").(map[string]any)
	if res.IsError || exec == nil {
		t.Fatalf("alice's plan: %s", testkit.Text(res))
	}
	alice["exclude_tools"] = []string{"archive_template"}
	testkit.WriteCallers(t, file, alice, bob)
	before := strings.Count(b.Stderr.String(), "callers reloaded")
	if err := b.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "the reload", func() bool { return strings.Count(b.Stderr.String(), "callers reloaded") > before })
	wantBulkRefusal(t, ctx, ca, "bulk_archive", exec, "archive_template")
	if e, _ := sb.Lookup("template", sandbox.IDs.LiveTemplate); e.Archived {
		t.Fatal("the template was archived by a plan executed after the caller lost archive_template")
	}
	for _, r := range sb.Done() {
		if r.Method != "GET" {
			t.Fatalf("Tallyfy received %s %s", r.Method, r.Path)
		}
	}
	if got := bulkTypes(t, ctx, ca); !slices.Equal(got["bulk_archive"], []string{"task", "run"}) {
		t.Fatalf("alice after the reload: %v", got)
	}
	_ = os.Remove(file)
}
