package blackbox

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"

	"github.com/tallyfy-mcp/tallyfy-mcp/internal/testkit"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
)

// policyEnv is what a policy check needs to know about its run.
type policyEnv struct {
	transport string // the name the audit record must carry
	auditPath string
}

type policyCase struct {
	name  string
	args  func(env policyEnv) []string
	tools []string // exactly these tools are listed (nil: count only)
	count int
	// check exercises tools/call and returns a summary that must be the same on every
	// transport and era.
	check func(t *testing.T, ctx context.Context, c *client.Client, env policyEnv) string
}

func fixed(args ...string) func(policyEnv) []string { return func(policyEnv) []string { return args } }

var readTools = []string{"get_run", "get_task", "get_template", "list_runs", "list_tasks", "list_templates"}

// refused calls a tool the policy hides or refuses: either mcp-go's "tool not found" protocol
// error (the filter applies to tools/call too) or an isError result. It returns which.
func refused(t *testing.T, ctx context.Context, c *client.Client, name string, args map[string]any) string {
	t.Helper()
	res, err := testkit.Call(ctx, c, name, args)
	switch {
	case err != nil:
		if !strings.Contains(err.Error(), "not found") {
			t.Fatalf("%s: want a tool-not-found error, got %v", name, err)
		}
		return "hidden"
	case res.IsError:
		return "refused: " + testkit.Text(res)
	}
	t.Fatalf("%s(%v) was not refused: %s", name, args, testkit.Text(res))
	return ""
}

func runArchived(t *testing.T, ctx context.Context, c *client.Client, id string) bool {
	t.Helper()
	res := testkit.MustCall(t, ctx, c, "get_run", map[string]any{"run_id": id})
	if res.IsError {
		t.Fatalf("get_run: %s", testkit.Text(res))
	}
	a, ok := testkit.Field(testkit.Structured(t, res), "run", "archived").(bool)
	if !ok {
		t.Fatalf("get_run: no run.archived in %s", testkit.Text(res))
	}
	return a
}

// archivedTemplate is the arguments naming the sandbox's archived template (a fresh map: a
// check may add its confirm_token).
func archivedTemplate() map[string]any {
	return map[string]any{"template_id": sandbox.IDs.ArchivedTemplate}
}

var policyCases = []policyCase{
	{
		name: "read-only", args: fixed("--read-only"), tools: readTools,
		check: func(t *testing.T, ctx context.Context, c *client.Client, _ policyEnv) string {
			how := refused(t, ctx, c, "archive_run", map[string]any{"run_id": sandbox.IDs.ActiveRun})
			if runArchived(t, ctx, c, sandbox.IDs.ActiveRun) {
				t.Fatal("the run was archived under --read-only")
			}
			return how + "; run still live"
		},
	},
	{
		name: "disable-permanent-delete", args: fixed("--disable-permanent-delete"), count: 14,
		check: func(t *testing.T, ctx context.Context, c *client.Client, _ policyEnv) string {
			how := refused(t, ctx, c, "delete_template", map[string]any{"template_id": sandbox.IDs.ArchivedTemplate})
			res := testkit.MustCall(t, ctx, c, "get_template", map[string]any{"template_id": sandbox.IDs.ArchivedTemplate})
			if res.IsError {
				t.Fatalf("the template is gone: %s", testkit.Text(res))
			}
			return how + "; template still there"
		},
	},
	{
		name: "tools", args: fixed("--tools", "list_runs,archive_run"), tools: []string{"archive_run", "list_runs"},
		check: func(t *testing.T, ctx context.Context, c *client.Client, _ policyEnv) string {
			how := refused(t, ctx, c, "get_run", map[string]any{"run_id": sandbox.IDs.ActiveRun})
			res := testkit.MustCall(t, ctx, c, "archive_run", map[string]any{"run_id": sandbox.IDs.ActiveRun})
			if res.IsError {
				t.Fatalf("archive_run: %s", testkit.Text(res))
			}
			return fmt.Sprintf("get_run %s; archive_run changed=%v", how, testkit.Field(testkit.Structured(t, res), "changed"))
		},
	},
	{
		name: "exclude-tools", args: fixed("--exclude-tools", "archive_run"), count: 17,
		check: func(t *testing.T, ctx context.Context, c *client.Client, _ policyEnv) string {
			how := refused(t, ctx, c, "archive_run", map[string]any{"run_id": sandbox.IDs.ActiveRun})
			if runArchived(t, ctx, c, sandbox.IDs.ActiveRun) {
				t.Fatal("an excluded tool archived the run")
			}
			return how
		},
	},
	{
		name: "exclude-tools wins over tools", args: fixed("--tools", "list_runs,archive_run", "--exclude-tools", "archive_run"),
		tools: []string{"list_runs"},
		check: func(t *testing.T, ctx context.Context, c *client.Client, _ policyEnv) string {
			return refused(t, ctx, c, "archive_run", map[string]any{"run_id": sandbox.IDs.ActiveRun})
		},
	},
	{
		name: "protect", args: fixed("--protect", sandbox.IDs.ActiveRun), count: 18,
		check: func(t *testing.T, ctx context.Context, c *client.Client, _ policyEnv) string {
			res := testkit.MustCall(t, ctx, c, "archive_run", map[string]any{"run_id": sandbox.IDs.ActiveRun})
			if !res.IsError || !strings.Contains(testkit.Text(res), "protected") || !strings.Contains(testkit.Text(res), "--protect") {
				t.Fatalf("archive_run of a protected run: want a refusal naming the protection, got isError=%v %q", res.IsError, testkit.Text(res))
			}
			if runArchived(t, ctx, c, sandbox.IDs.ActiveRun) {
				t.Fatal("the protected run was archived")
			}
			other := testkit.MustCall(t, ctx, c, "archive_run", map[string]any{"run_id": sandbox.IDs.CompleteRun})
			if other.IsError {
				t.Fatalf("archive_run of an unprotected run: %s", testkit.Text(other))
			}
			return "protected refused; other archived"
		},
	},
	{
		name: "confirm token", args: fixed("--confirm", "token"), count: 18,
		check: func(t *testing.T, ctx context.Context, c *client.Client, _ policyEnv) string {
			args := archivedTemplate()
			res := testkit.MustCall(t, ctx, c, "delete_template", args)
			m := testkit.Structured(t, res)
			if res.IsError || m["status"] != "confirmation_required" || m["confirm_token"] == "" || m["confirm_token"] == nil {
				t.Fatalf("first delete_template: want confirmation_required with a token, got %s", testkit.Text(res))
			}
			if g := testkit.MustCall(t, ctx, c, "get_template", args); g.IsError {
				t.Fatalf("deleted before confirmation: %s", testkit.Text(g))
			}
			args["confirm_token"] = m["confirm_token"]
			res = testkit.MustCall(t, ctx, c, "delete_template", args)
			if res.IsError || testkit.Structured(t, res)["status"] != "deleted" {
				t.Fatalf("second delete_template with the token: %s", testkit.Text(res))
			}
			return "confirmation_required, then deleted"
		},
	},
	{
		name: "confirm off", args: fixed("--confirm", "off"), count: 18,
		check: func(t *testing.T, ctx context.Context, c *client.Client, _ policyEnv) string {
			res := testkit.MustCall(t, ctx, c, "delete_template", archivedTemplate())
			if res.IsError || testkit.Structured(t, res)["status"] != "deleted" {
				t.Fatalf("delete_template with --confirm off: %s", testkit.Text(res))
			}
			if g := testkit.MustCall(t, ctx, c, "get_template", archivedTemplate()); !g.IsError {
				t.Fatalf("still there after delete: %s", testkit.Text(g))
			}
			return "deleted in one call"
		},
	},
	{
		name: "max-deletes-per-hour 0", args: fixed("--max-deletes-per-hour", "0", "--confirm", "off"), count: 18,
		check: func(t *testing.T, ctx context.Context, c *client.Client, _ policyEnv) string {
			res := testkit.MustCall(t, ctx, c, "delete_template", archivedTemplate())
			if !res.IsError || !strings.Contains(testkit.Text(res), "--max-deletes-per-hour") {
				t.Fatalf("want a refusal naming the budget, got isError=%v %q", res.IsError, testkit.Text(res))
			}
			if g := testkit.MustCall(t, ctx, c, "get_template", archivedTemplate()); g.IsError {
				t.Fatalf("deleted despite the budget: %s", testkit.Text(g))
			}
			return "refused: budget"
		},
	},
	{
		name: "audit-log", args: func(env policyEnv) []string { return []string{"--audit-log", env.auditPath} }, count: 18,
		check: func(t *testing.T, ctx context.Context, c *client.Client, env policyEnv) string {
			res := testkit.MustCall(t, ctx, c, "archive_run", map[string]any{"run_id": sandbox.IDs.ActiveRun})
			if res.IsError {
				t.Fatalf("archive_run: %s", testkit.Text(res))
			}
			// Written and synced before the result was returned: no waiting.
			recs := testkit.AuditRecords(t, env.auditPath)
			i := slices.IndexFunc(recs, func(r tools.Record) bool { return r.Tool == "archive_run" })
			if i < 0 || i+1 >= len(recs) {
				t.Fatalf("no archive_run intent and outcome records in %+v", recs)
			}
			// Audit before act: the intent record, then the outcome of the same call.
			if in := recs[i]; in.Outcome != "intent" || in.Transport != env.transport || in.Time != recs[i+1].Time {
				t.Fatalf("intent record %+v before %+v", in, recs[i+1])
			}
			r := recs[i+1]
			if r.Transport != env.transport || r.ResourceID != sandbox.IDs.ActiveRun || r.Outcome != "ok" || r.Org != sandbox.OrgID {
				t.Fatalf("audit record %+v: want transport %q, resource %s, outcome ok", r, env.transport, sandbox.IDs.ActiveRun)
			}
			raw, _ := os.ReadFile(env.auditPath)
			if strings.Contains(string(raw), sandbox.AdminToken) {
				t.Fatal("the audit log holds the Tallyfy token")
			}
			return fmt.Sprintf("%d record(s); archive_run %s", len(recs), r.Outcome)
		},
	},
}

// TestPolicyOnEveryTransport runs each policy flag through the built binary on stdio,
// streamable HTTP and SSE, at both protocol eras, and requires the same outcome everywhere.
func TestPolicyOnEveryTransport(t *testing.T) {
	t.Parallel()
	for _, tc := range policyCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			type outcome struct{ run, summary string }
			done := make(chan outcome, len(testkit.Kinds)*len(testkit.Eras))
			t.Run("each", func(t *testing.T) {
				for _, kind := range testkit.Kinds {
					for _, e := range testkit.Eras {
						name := kind + "/" + e.Name
						t.Run(name, func(t *testing.T) {
							t.Parallel()
							env := policyEnv{transport: kind, auditPath: testkit.AuditPath(t)}
							c := connect(t, kind, tc.args(env), testkit.ClientOpts{Era: e})
							ctx := testkit.Context(t, 20*time.Second)
							names := testkit.ToolNames(t, ctx, c)
							slices.Sort(names)
							if tc.tools != nil && !slices.Equal(names, tc.tools) {
								t.Fatalf("tools/list = %v, want %v", names, tc.tools)
							}
							if tc.tools == nil && len(names) != tc.count {
								t.Fatalf("tools/list has %d tools %v, want %d", len(names), names, tc.count)
							}
							out := fmt.Sprintf("%d tools; %s", len(names), tc.check(t, ctx, c, env))
							done <- outcome{name, out}
						})
					}
				}
			})
			if t.Failed() {
				return
			}
			close(done)
			outcomes := map[string]string{}
			for o := range done {
				outcomes[o.run] = o.summary
			}
			if len(outcomes) != len(testkit.Kinds)*len(testkit.Eras) {
				t.Fatalf("outcomes from %d runs, want %d", len(outcomes), len(testkit.Kinds)*len(testkit.Eras))
			}
			want := outcomes[testkit.Stdio+"/"+testkit.Legacy.Name]
			t.Logf("outcome on every transport and era: %s", want)
			for name, got := range outcomes {
				if got != want {
					t.Errorf("%s: outcome %q differs from stdio/legacy %q", name, got, want)
				}
			}
		})
	}
}
