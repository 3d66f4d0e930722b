package tools_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tallyfy-mcp/tallyfy-mcp/schemas"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools/audit"
)

// The MCP App channel (tools/app.go) through the protocol: what tools/list shows with and
// without the extension, and the review and decision the view makes. The view itself, in a
// real ext-apps host in Chromium, is tested in e2e/app.test.mjs.

// withApps declares the MCP Apps extension, as an ext-apps host does.
func withApps() client.ClientOption {
	return client.WithClientCapabilities(mcp.ClientCapabilities{Extensions: map[string]any{
		tools.AppExtension: map[string]any{"mimeTypes": []string{tools.AppMIMEType}},
	}})
}

func listTools(t *testing.T, c *client.Client) map[string]mcp.Tool {
	t.Helper()
	res, err := c.ListTools(context.Background(), mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]mcp.Tool{}
	for _, tl := range res.Tools {
		out[tl.Name] = tl
	}
	return out
}

// uiMeta is a listed tool's _meta.ui, as JSON would carry it.
func uiMeta(t *testing.T, tl mcp.Tool) map[string]any {
	t.Helper()
	if tl.Meta == nil {
		return nil
	}
	var m map[string]any
	b, _ := json.Marshal(tl.Meta)
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	ui, _ := m["ui"].(map[string]any)
	return ui
}

func TestAppToolsList(t *testing.T) {
	t.Parallel()
	forEachProtocol(t, func(t *testing.T, p protocol) {
		h := newHarness(t, withProto(p), withConfirm(tools.ConfirmAuto))
		plain := listTools(t, h.c)
		apps := listTools(t, h.connect(p.version, nil, "ext-apps-host", withApps()))
		for _, name := range []string{"app_review_delete", "app_decide_delete"} {
			if _, ok := plain[name]; ok {
				t.Errorf("%s listed for a client without the extension", name)
			}
			tl, ok := apps[name]
			if !ok {
				t.Fatalf("%s not listed for a client with the extension", name)
			}
			if vis, _ := uiMeta(t, tl)["visibility"].([]any); !slices.Equal(vis, []any{"app"}) {
				t.Errorf("%s visibility = %v, want [app]", name, vis)
			}
		}
		for _, name := range []string{"delete_task", "delete_run", "delete_template", "bulk_delete"} {
			if plain[name].Meta != nil {
				t.Errorf("%s carries _meta for a client without the extension: %+v", name, plain[name].Meta)
			}
			if uri := uiMeta(t, apps[name])["resourceUri"]; uri != tools.AppViewURI {
				t.Errorf("%s _meta.ui.resourceUri = %v, want %s", name, uri, tools.AppViewURI)
			}
			// No confirm_token for a client whose model never gets one; still there for others.
			if name != "bulk_delete" {
				inputOf := func(tl mcp.Tool) string {
					var m struct{ InputSchema json.RawMessage }
					b, _ := json.Marshal(tl)
					_ = json.Unmarshal(b, &m)
					return string(m.InputSchema)
				}
				if strings.Contains(inputOf(apps[name]), "confirm_token") || !strings.Contains(inputOf(plain[name]), "confirm_token") {
					t.Errorf("%s: confirm_token offered to the App client, or not to the plain one", name)
				}
			}
		}
		for _, name := range []string{"archive_task", "bulk_archive", "get_run"} {
			if apps[name].Meta != nil {
				t.Errorf("%s names a view but confirms nothing", name)
			}
		}
		if len(apps) != len(plain)+2 {
			t.Errorf("with the extension %d tools, without %d: want exactly the 2 app-only tools more", len(apps), len(plain))
		}

		// The view: one self-contained HTML file with a strict CSP, served as an MCP App.
		c := h.connect(p.version, nil, "ext-apps-host", withApps())
		rr, err := c.ReadResource(context.Background(), mcp.ReadResourceRequest{Params: mcp.ReadResourceParams{URI: tools.AppViewURI}})
		if err != nil {
			t.Fatal(err)
		}
		tc, ok := rr.Contents[0].(mcp.TextResourceContents)
		if !ok || tc.MIMEType != tools.AppMIMEType {
			t.Fatalf("view resource: %+v", rr.Contents[0])
		}
		for _, want := range []string{"default-src 'none'", "connect-src 'none'", "script-src 'sha256-"} {
			if !strings.Contains(tc.Text, want) {
				t.Errorf("view CSP lacks %q", want)
			}
		}
		if strings.Contains(tc.Text, "<script src") || strings.Contains(tc.Text, "https://") && strings.Contains(tc.Text, "<link") {
			t.Error("view loads something from outside itself")
		}
		// A client without the extension cannot call the app-only tools at all.
		r := h.call("app_decide_delete", map[string]any{"approval": "x", "ids": []string{sandbox.IDs.ArchivedTask}, "decision": "delete"})
		if r.err == nil && (r.res == nil || !r.res.IsError) {
			t.Errorf("app_decide_delete answered a client without the extension: %s", r.text)
		}
	})
	t.Run("token mode offers no view", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, withConfirm(tools.ConfirmToken))
		apps := listTools(t, h.connect("", nil, "ext-apps-host", withApps()))
		if _, ok := apps["app_decide_delete"]; ok || apps["delete_task"].Meta != nil {
			t.Error("--confirm token still offers the app channel")
		}
	})
}

// appHarness is a server in --confirm auto with a client that declared the extension as h.c.
// The token flow is allowed (--confirm-allow-token), so that a client without Apps gets a
// confirm_token to try on the app-only tools; the App still comes first for h.c.
func appHarness(t *testing.T, p protocol) *harness {
	h := newHarness(t, withProto(p), withConfirm(tools.ConfirmAuto), func(c *config) { c.opts.AllowToken = true })
	h.c = h.connect(p.version, nil, "ext-apps-host", withApps())
	return h
}

func TestAppDelete(t *testing.T) {
	t.Parallel()
	forEachProtocol(t, func(t *testing.T, p protocol) {
		h := appHarness(t, p)
		h.eachKind(t, func(t *testing.T, h *harness, k kindInfo) {
			first := h.call(k.del, map[string]any{k.idArg: k.archived}).ok(t)
			res := decode[schemas.DeleteResult](t, first)
			if res.Status != "confirmation_required" || res.Confirmation != "app" || res.Preview == nil || res.ConfirmToken != "" {
				t.Fatalf("first call: %+v", res)
			}
			if strings.Contains(first.text+string(first.raw), "tcf1.") {
				t.Fatalf("the model-visible result carries an approval: %s", first.text)
			}
			contains(t, "first call", first.text, "reviewing", "view", "nothing you call can confirm it")
			if h.gone(k.kind, k.archived) {
				t.Fatal("deleted before the person decided")
			}
			review := decode[schemas.AppReview](t, h.call("app_review_delete", map[string]any{"type": k.kind, "ids": []string{k.archived}}).ok(t))
			if review.Count != 1 || review.TypeCount || review.Approval == "" || review.Items[0].Name == "" || review.Items[0].State != "archived" {
				t.Fatalf("review: %+v", review)
			}
			done := decode[schemas.DeleteResult](t, h.call("app_decide_delete", map[string]any{"approval": review.Approval, "ids": review.IDs, "decision": "delete"}).ok(t))
			if done.Status != "deleted" || done.Confirmation != "app" || !h.gone(k.kind, k.archived) {
				t.Fatalf("decide: %+v, gone %v", done, h.gone(k.kind, k.archived))
			}
			// Used once: now the item is gone (single use proper is in "cancel deletes nothing").
			h.call("app_decide_delete", map[string]any{"approval": review.Approval, "ids": review.IDs, "decision": "delete"}).failed(t, "Nothing was changed")
			var ok []audit.Record
			for _, rec := range h.audit.outcomes() {
				if rec.Outcome == "ok" {
					ok = append(ok, rec)
				}
			}
			if len(ok) != 1 || ok[0].Tool != k.del || ok[0].Confirmation != "app" || ok[0].ResourceID != k.archived {
				t.Fatalf("audit of the delete: %+v", ok)
			}
		})
		h.run(t, "cancel deletes nothing", func(t *testing.T) {
			h.call("delete_task", map[string]any{"task_id": sandbox.IDs.ArchivedTask}).ok(t)
			review := decode[schemas.AppReview](t, h.call("app_review_delete", map[string]any{"type": "task", "ids": []string{sandbox.IDs.ArchivedTask}}).ok(t))
			mark := h.logLen()
			res := decode[schemas.DeleteResult](t, h.call("app_decide_delete", map[string]any{"approval": review.Approval, "ids": review.IDs, "decision": "cancel"}).ok(t))
			if res.Status != "cancelled" || h.gone("task", sandbox.IDs.ArchivedTask) || len(h.writesSince(mark)) != 0 {
				t.Fatalf("cancel: %+v, writes %v", res, h.writesSince(mark))
			}
			recs := h.audit.outcomes()
			last := recs[len(recs)-1]
			if last.Outcome != "cancelled" || last.Confirmation != "app" || last.Tool != "delete_task" {
				t.Fatalf("cancel audit: %+v", last)
			}
			// A cancelled approval cannot delete afterwards.
			h.call("app_decide_delete", map[string]any{"approval": review.Approval, "ids": review.IDs, "decision": "delete"}).failed(t, "already used")
		})
		h.run(t, "changed while reviewed", func(t *testing.T) {
			review := decode[schemas.AppReview](t, h.call("app_review_delete", map[string]any{"type": "run", "ids": []string{sandbox.IDs.ArchivedRun}}).ok(t))
			if err := h.touchArchived(context.Background(), kinds[1]); err != nil {
				t.Fatal(err)
			}
			h.call("app_decide_delete", map[string]any{"approval": review.Approval, "ids": review.IDs, "decision": "delete"}).failed(t, "changed while the person was reviewing")
			if h.gone("run", sandbox.IDs.ArchivedRun) {
				t.Fatal("deleted a changed item")
			}
		})
		h.run(t, "an approval expires with a pending approval's 10 minutes", func(t *testing.T) {
			review := decode[schemas.AppReview](t, h.call("app_review_delete", map[string]any{"type": "task", "ids": []string{sandbox.IDs.ArchivedTask}}).ok(t))
			h.clock.Advance(9 * time.Minute) // past a token's 5 minutes: still good
			again := decode[schemas.AppReview](t, h.call("app_review_delete", map[string]any{"type": "task", "ids": []string{sandbox.IDs.ArchivedTask}}).ok(t))
			h.clock.Advance(2 * time.Minute)
			h.call("app_decide_delete", map[string]any{"approval": review.Approval, "ids": review.IDs, "decision": "delete"}).failed(t, "Nothing was deleted", "expired")
			if h.gone("task", sandbox.IDs.ArchivedTask) {
				t.Fatal("an expired approval deleted")
			}
			h.call("app_decide_delete", map[string]any{"approval": again.Approval, "ids": again.IDs, "decision": "delete"}).ok(t)
			if !h.gone("task", sandbox.IDs.ArchivedTask) {
				t.Fatal("a live approval did not delete")
			}
		})
		h.run(t, "bulk with typed count", func(t *testing.T) {
			api := h.api()
			if _, err := api.Archive(context.Background(), tallyfy.KindRun, sandbox.IDs.CompleteRun); err != nil {
				t.Fatal(err)
			}
			ids := []string{sandbox.IDs.ArchivedRun, sandbox.IDs.CompleteRun, sandbox.IDs.ActiveRun}
			plan := h.call("bulk_delete", map[string]any{"type": "run", "ids": ids}).ok(t)
			pr := decode[schemas.BulkResult](t, plan)
			if pr.Status != "planned" || pr.PlanToken != "" || pr.Execute != nil || strings.Contains(plan.text, "tcf1.") {
				t.Fatalf("plan for an app client carries a plan_token: %+v", pr)
			}
			review := decode[schemas.AppReview](t, h.call("app_review_delete", map[string]any{"type": "run", "ids": ids, "bulk": true}).ok(t))
			if review.Count != 2 || !review.TypeCount || len(review.Items) != 3 || review.DeletesLeft != -1 {
				t.Fatalf("bulk review: %+v", review)
			}
			h.call("app_decide_delete", map[string]any{"approval": review.Approval, "ids": review.IDs, "decision": "delete", "count": 3}).failed(t, "Nothing was deleted", "count typed (3)")
			if h.gone("run", sandbox.IDs.ArchivedRun) {
				t.Fatal("a wrong count deleted")
			}
			done := decode[schemas.BulkResult](t, h.call("app_decide_delete", map[string]any{"approval": review.Approval, "ids": review.IDs, "decision": "delete", "count": 2}).ok(t))
			if done.Totals["ok"] != 2 || !h.gone("run", sandbox.IDs.ArchivedRun) || !h.gone("run", sandbox.IDs.CompleteRun) || h.gone("run", sandbox.IDs.ActiveRun) {
				t.Fatalf("bulk decide: %+v", done)
			}
			for _, rec := range h.audit.outcomes() {
				if rec.Outcome == "ok" && rec.Confirmation != "app" {
					t.Errorf("deleted without the app channel: %+v", rec)
				}
			}
		})
		h.run(t, "a model-visible or foreign handle fails", func(t *testing.T) {
			// A confirm_token from a client without Apps (the token flow) is no approval.
			plain := h.connect(p.version, nil, "plain-client")
			tok := decode[schemas.DeleteResult](t, h.callWith(plain, "delete_task", map[string]any{"task_id": sandbox.IDs.ArchivedTask}).ok(t)).ConfirmToken
			if tok == "" {
				t.Fatal("the plain client got no confirm_token")
			}
			h.call("app_decide_delete", map[string]any{"approval": tok, "ids": []string{sandbox.IDs.ArchivedTask}, "decision": "delete"}).failed(t, "Nothing was deleted", "not an approval from the review view")
			// Without a handle, or with a made-up one, nothing happens.
			h.call("app_decide_delete", map[string]any{"approval": "", "ids": []string{sandbox.IDs.ArchivedTask}, "decision": "delete"}).failed(t, "Nothing was deleted")
			// An approval for one item does not delete another.
			review := decode[schemas.AppReview](t, h.call("app_review_delete", map[string]any{"type": "task", "ids": []string{sandbox.IDs.ArchivedTask}}).ok(t))
			h.call("app_decide_delete", map[string]any{"approval": review.Approval, "ids": []string{seedID("task", "order-team-lunch")}, "decision": "delete"}).failed(t, "different item")
			// Nor works in another session.
			other := h.connect(p.version, nil, "ext-apps-host", withApps())
			h.callWith(other, "app_decide_delete", map[string]any{"approval": review.Approval, "ids": review.IDs, "decision": "delete"}).failed(t, "Nothing was deleted")
			if h.gone("task", sandbox.IDs.ArchivedTask) {
				t.Fatal("deleted without the person's approval")
			}
		})
	})
}

// rawCall sends one 2026-07-28 tools/call, with the MCP Apps extension declared in its _meta,
// straight into the server with the caller in ctx (as the HTTP transports set it).
func rawCall(t *testing.T, h *harness, who tools.Caller, name string, args map[string]any) (text string, isError bool) {
	t.Helper()
	msg, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": map[string]any{
		"name": name, "arguments": args,
		"_meta": map[string]any{
			mcp.MetaKeyProtocolVersion:    "2026-07-28",
			mcp.MetaKeyClientInfo:         map[string]any{"name": "ext-apps-host", "version": "1"},
			mcp.MetaKeyClientCapabilities: map[string]any{"extensions": map[string]any{tools.AppExtension: map[string]any{}}},
		}}})
	out, _ := json.Marshal(h.srv.HandleMessage(tools.WithCaller(context.Background(), who), msg))
	var resp struct {
		Result struct {
			Content []struct{ Text string } `json:"content"`
			IsError bool                    `json:"isError"`
		} `json:"result"`
		Error *struct{ Message string } `json:"error"`
	}
	if err := json.Unmarshal(out, &resp); err != nil || resp.Error != nil {
		t.Fatalf("%s: %s", name, out)
	}
	for _, c := range resp.Result.Content {
		text += c.Text
	}
	return text, resp.Result.IsError
}

// Under the two-person rule only another person approves, on the approval page: the view
// cannot be used to approve one's own delete, even by calling the app-only tools directly.
func TestAppRefusedUnderTwoPersonRule(t *testing.T) {
	t.Parallel()
	h := appHarness(t, protocols[1])
	anna := tools.Caller{Name: "anna", Binding: "anna", Approvers: []string{"ben"}, RequireApproval: tools.TierPermanent}
	text, isErr := rawCall(t, h, anna, "app_review_delete", map[string]any{"type": "task", "ids": []string{sandbox.IDs.ArchivedTask}})
	if !isErr || !strings.Contains(text, "not confirmed in the review view") {
		t.Fatalf("review under the two-person rule: %v %s", isErr, text)
	}
	text, _ = rawCall(t, h, anna, "delete_task", map[string]any{"task_id": sandbox.IDs.ArchivedTask})
	if strings.Contains(text, "reviewing") || !strings.Contains(text, "second person") {
		t.Fatalf("delete_task under the two-person rule offered the view: %s", text)
	}
	// Without the rule, the same raw path does reach the view.
	text, isErr = rawCall(t, h, tools.Caller{Name: "carl", Binding: "carl"}, "delete_task", map[string]any{"task_id": sandbox.IDs.ArchivedTask})
	if isErr || !strings.Contains(text, "reviewing") {
		t.Fatalf("delete_task for a caller without the rule: %v %s", isErr, text)
	}
	if h.gone("task", sandbox.IDs.ArchivedTask) {
		t.Fatal("deleted")
	}
}

// The view's decisions leave signed approval records: approved before a delete, declined for
// a cancel, each with channel app and who decided.
func TestAppApprovalRecords(t *testing.T) {
	t.Parallel()
	h := appHarness(t, protocols[0])
	review := decode[schemas.AppReview](t, h.call("app_review_delete", map[string]any{"type": "run", "ids": []string{sandbox.IDs.ArchivedRun}}).ok(t))
	h.call("app_decide_delete", map[string]any{"approval": review.Approval, "ids": review.IDs, "decision": "delete"}).ok(t)
	review = decode[schemas.AppReview](t, h.call("app_review_delete", map[string]any{"type": "template", "ids": []string{sandbox.IDs.ArchivedTemplate}}).ok(t))
	h.call("app_decide_delete", map[string]any{"approval": review.Approval, "ids": review.IDs, "decision": "cancel"}).ok(t)
	var got []string
	for _, rec := range h.audit.all() {
		if rec.Outcome == "approval" {
			if rec.Confirmation != "app" || rec.Approval == nil || rec.Approval.Signature == "" {
				t.Errorf("approval record: %+v", rec)
			}
			got = append(got, rec.Tool+":"+rec.Detail)
		}
	}
	if !slices.Equal(got, []string{"delete_run:approved", "delete_template:declined"}) {
		t.Fatalf("approval records: %v", got)
	}
}

// The view's CSP allows exactly its one inline script and one inline style, by hash: a view
// edited by hand (not rebuilt with make appview) stops running, and this test says so first.
func TestAppViewCSPMatchesItsContent(t *testing.T) {
	t.Parallel()
	h := appHarness(t, protocols[0])
	rr, err := h.c.ReadResource(context.Background(), mcp.ReadResourceRequest{Params: mcp.ReadResourceParams{URI: tools.AppViewURI}})
	if err != nil {
		t.Fatal(err)
	}
	html := rr.Contents[0].(mcp.TextResourceContents).Text
	csp := regexp.MustCompile(`http-equiv="Content-Security-Policy" content="([^"]+)"`).FindStringSubmatch(html)
	if csp == nil {
		t.Fatal("no CSP meta element")
	}
	for _, el := range []struct{ directive, tag string }{{"script-src", "script"}, {"style-src", "style"}} {
		bodies := regexp.MustCompile(`(?s)<`+el.tag+`>(.*?)</`+el.tag+`>`).FindAllStringSubmatch(html, -1)
		if len(bodies) != 1 {
			t.Fatalf("%d <%s> elements, want 1", len(bodies), el.tag)
		}
		sum := sha256.Sum256([]byte(bodies[0][1]))
		want := el.directive + " 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
		if !strings.Contains(csp[1], want+";") {
			t.Errorf("CSP %q lacks %q: rebuild the view with make appview", csp[1], want)
		}
	}
	if strings.Contains(html, "<script src") || strings.Contains(html, "<link") || strings.Contains(html, " on") && regexp.MustCompile(`<[^>]+ on[a-z]+=`).MatchString(html) {
		t.Error("the view loads something from outside or has inline event handlers")
	}
}
