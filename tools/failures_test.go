package tools_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tallyfy-mcp/tallyfy-mcp/schemas"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
)

const unknownID = "0123456789abcdef0123456789abcdef"

func TestNotFoundNamesTheListTool(t *testing.T) {
	t.Parallel()
	perKind(t, nil, func(t *testing.T, h *harness, k kindInfo) {
		for _, tool := range []string{k.get, k.archive, k.restore, k.del} {
			r := h.call(tool, map[string]any{k.idArg: unknownID}).failed(t, unknownID, k.list, "archived: include")
			if tool != k.get {
				contains(t, tool, r.text, "Nothing was changed")
			}
		}
		// archive_run goes out at once (lifecycle.go) and Tallyfy refuses it; the others read
		// first; a permanent delete is never sent without a read.
		for _, w := range h.writesSince(0) {
			if strings.HasSuffix(w, "/delete") {
				t.Errorf("not-found delete sent: %v", w)
			}
		}
	})
}

func TestDeleteLiveSaysArchiveFirst(t *testing.T) {
	t.Parallel()
	perKindInModes(t, []tools.ConfirmMode{tools.ConfirmToken, tools.ConfirmOff}, func(t *testing.T, h *harness, k kindInfo, mode tools.ConfirmMode) {
		name := h.lookup(k.kind, k.live).Name
		h.call(k.del, map[string]any{k.idArg: k.live}).failed(t, "archive it first", k.archive, "nothing was deleted", name)
		if rec := h.lookup(k.kind, k.live); rec.Archived {
			t.Error("the refusal archived it")
		}
		if w := h.writesSince(0); len(w) != 0 {
			t.Errorf("refusal sent writes: %v", w)
		}
	})
}

func TestProcessTaskNamesTheRun(t *testing.T) {
	t.Parallel()
	forEachProtocol(t, func(t *testing.T, p protocol) {
		h := newHarness(t, withProto(p), withConfirm(tools.ConfirmOff))
		for _, tool := range []string{"archive_task", "restore_task", "delete_task"} {
			h.call(tool, map[string]any{"task_id": sandbox.IDs.ProcessTask}).failed(t,
				sandbox.IDs.ActiveRun, "get_run", "archive_run", "belongs to process", "It holds 3 tasks")
		}
		if w := h.writesSince(0); len(w) != 0 {
			t.Errorf("process-task refusals sent writes: %v", w)
		}
		if rec := h.lookup("task", sandbox.IDs.ProcessTask); rec.Archived {
			t.Error("process task archived")
		}
		// get_task still shows it, saying which process it is in.
		it, r := getItem(t, h, kinds[0], sandbox.IDs.ProcessTask)
		if it.Archived {
			t.Errorf("%+v", it)
		}
		contains(t, "get_task text", r.text, "inside process "+sandbox.IDs.ActiveRun)
	})
}

func TestUnauthorizedSaysWhereToMakeAToken(t *testing.T) {
	t.Parallel()
	forEachProtocol(t, func(t *testing.T, p protocol) {
		h := newHarness(t, withProto(p), withToken("wrong-token-5f3a9c"))
		for _, k := range kinds {
			h.call(k.get, map[string]any{k.idArg: k.live}).failed(t, "401", "Settings > Integrations > REST API", "TALLYFY_ACCESS_TOKEN")
			h.call(k.list, nil).failed(t, "401", "new personal access token")
			h.call(k.archive, map[string]any{k.idArg: k.live}).failed(t, "401", "Settings > Integrations")
			if h.lookup(k.kind, k.live).Archived {
				t.Errorf("%s archived with a bad token", k.kind)
			}
		}
		for _, rec := range h.audit.outcomes() {
			if rec.HTTPStatus != 401 || rec.Outcome != "failed" {
				t.Errorf("audit of a 401: %+v", rec)
			}
		}
	})
}

func TestRateLimitedSaysWhenToRetry(t *testing.T) {
	t.Parallel()
	perKind(t, []option{withMaxTries(1)}, func(t *testing.T, h *harness, k kindInfo) {
		h.sb.SetFaults(sandbox.Fault{Kind: "429", Param: "7"})
		h.call(k.get, map[string]any{k.idArg: k.live}).failed(t, "429", "Retry after 7 s")
		h.call(k.list, nil).failed(t, "Retry after 7 s")
		h.call(k.archive, map[string]any{k.idArg: k.live}).failed(t, "Retry after 7 s", "Nothing was changed")
		h.sb.SetFaults()
		if h.lookup(k.kind, k.live).Archived {
			t.Error("archived despite 429")
		}
		recs := h.audit.outcomes()
		if len(recs) != 1 || recs[0].HTTPStatus != 429 || recs[0].RequestID == "" || recs[0].Outcome != "failed" {
			t.Errorf("audit: %+v", recs)
		}
	})
}

// TestLongRetryAfterIsPassedOn: a Retry-After longer than the client waits out itself is not
// slept through (retries enabled), but passed on to the agent.
func TestLongRetryAfterIsPassedOn(t *testing.T) {
	t.Parallel()
	perKind(t, nil, func(t *testing.T, h *harness, k kindInfo) {
		h.sb.SetFaults(sandbox.Fault{Kind: "429", Param: "120"})
		h.call(k.get, map[string]any{k.idArg: k.live}).failed(t, "Retry after 120 s")
		if n := h.sb.Requests(); n != 1 {
			t.Errorf("a 120 s Retry-After was retried: %d requests", n)
		}
	})
}

func TestServerErrorGivesRequestID(t *testing.T) {
	t.Parallel()
	forEachProtocol(t, func(t *testing.T, p protocol) {
		h := newHarness(t, withProto(p), withMaxTries(1))
		h.sb.SetFaults(sandbox.Fault{Kind: "500"})
		r := h.call("get_run", map[string]any{"run_id": sandbox.IDs.ActiveRun}).failed(t, "server error (500", "Tallyfy request id sbx-", "Try again")
		if strings.Contains(r.text, "Server Error\"") || strings.Contains(r.text, "{") {
			t.Errorf("raw body leaked into the message: %s", r.text)
		}
		h.sb.SetFaults(sandbox.Fault{Kind: "html"})
		h.call("get_run", map[string]any{"run_id": sandbox.IDs.ActiveRun}).failed(t, "body was unusable", "get_run")
	})
}

// TestPanicIsRecovered: a handler that panics becomes a JSON-RPC error for that call; the
// server (and the test process) carries on. The production server hides tools that are not
// in the table, so the panicking handler replaces a table tool's.
func TestPanicIsRecovered(t *testing.T) {
	t.Parallel()
	forEachProtocol(t, func(t *testing.T, p protocol) {
		h := newHarness(t, withProto(p))
		row, _ := tools.ByName("get_template")
		h.srv.AddTool(tools.MCPTool(row), func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			panic("kaboom")
		})
		r := h.call("get_template", map[string]any{"template_id": sandbox.IDs.LiveTemplate})
		if r.err == nil {
			t.Fatalf("want a JSON-RPC error, got %+v", r.res)
		}
		if !errors.Is(r.err, mcp.ErrInternalError) || !strings.Contains(r.err.Error(), "panic recovered") {
			t.Errorf("error %v", r.err)
		}
		// Everything else still works.
		h.call("get_run", map[string]any{"run_id": sandbox.IDs.ActiveRun}).ok(t)
		lifecycle(t, h, "archive_run", "run_id", sandbox.IDs.ActiveRun)
	})
}

// deleteFault injects one fault on the permanent-delete request only.
func deleteFault(kind string) sandbox.Fault {
	return sandbox.Fault{Kind: kind, Method: "DELETE", PathContains: "/delete", Times: 1}
}

// TestAmbiguousDeleteAnsweredByReReading: when the delete gets no clear answer the server
// sends it once (never retried, even with retries enabled), reads the item again and
// reports what is true.
func TestAmbiguousDeleteAnsweredByReReading(t *testing.T) {
	t.Parallel()
	cases := []struct {
		fault   string
		deleted bool
		says    []string
	}{
		// The sandbox deleted, then dropped the connection unanswered.
		{"reset-after", true, []string{"permanently deleted"}},
		// Failed before doing anything.
		{"500", false, []string{"did not confirm the delete (500", "still there", "nothing was deleted", "safe to try again later"}},
		{"502", false, []string{"did not confirm the delete (502", "still there", "nothing was deleted"}},
		{"503", false, []string{"(503", "still there"}},
		{"reset-before", false, []string{"did not confirm the delete", "still there", "nothing was deleted"}},
	}
	forEachProtocol(t, func(t *testing.T, p protocol) {
		// MaxTries 4 and a budget of 1: a retry would show as a second request, and a
		// delete that did not happen must give its budget back.
		h := newHarness(t, withProto(p), withConfirm(tools.ConfirmOff), withMaxTries(4),
			withPolicy(tools.Policy{MaxDeletesPerHour: 1}))
		for _, c := range cases {
			t.Run(c.fault, func(t *testing.T) {
				h.eachKind(t, func(t *testing.T, h *harness, k kindInfo) {
					name := h.lookup(k.kind, k.archived).Name
					h.sb.SetFaults(deleteFault(c.fault))
					r := h.call(k.del, map[string]any{k.idArg: k.archived})
					if n := h.deleteCount(); n != 1 {
						t.Errorf("%d DELETE …/delete requests, want exactly 1 (never retried blindly)", n)
					}
					recs := h.audit.outcomes()
					if len(recs) != 1 {
						t.Fatalf("audit: %+v", recs)
					}
					if c.deleted {
						res := decode[schemas.DeleteResult](t, r.ok(t))
						if res.Status != "deleted" {
							t.Errorf("%+v", res)
						}
						if !h.gone(k.kind, k.archived) {
							t.Error("the sandbox did not delete; the test setup is wrong")
						}
						if recs[0].Outcome != "ok" || recs[0].Detail == "" {
							t.Errorf("audit should be ok with the lost answer in detail: %+v", recs[0])
						}
					} else {
						r.failed(t, append(c.says, name)...)
						if h.gone(k.kind, k.archived) {
							t.Fatal("deleted")
						}
						if recs[0].Outcome != "failed" {
							t.Errorf("audit %+v", recs[0])
						}
						// Budget given back and the fault spent: trying again works.
						h.call(k.del, map[string]any{k.idArg: k.archived}).ok(t)
						if !h.gone(k.kind, k.archived) {
							t.Error("second try did not delete")
						}
					}
					for _, s := range c.says {
						if !strings.Contains(strings.ToLower(r.text), strings.ToLower(s)) {
							t.Errorf("text lacks %q: %s", s, r.text)
						}
					}
				})
			})
		}
	})
}

// TestAmbiguousDeleteUnknown: the delete's answer is lost and reading again fails too: the
// server says it does not know, and how to find out.
func TestAmbiguousDeleteUnknown(t *testing.T) {
	t.Parallel()
	forEachProtocol(t, func(t *testing.T, p protocol) {
		var deleteSeen atomic.Bool
		// After the delete, every read fails.
		wrap := func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodGet && deleteSeen.Load() {
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(http.StatusInternalServerError)
					_, _ = w.Write([]byte(`{"error":true,"message":"Server Error","code":"SERVER_ERROR"}`))
					return
				}
				if r.Method == http.MethodDelete && strings.HasSuffix(r.URL.Path, "/delete") {
					deleteSeen.Store(true)
				}
				next.ServeHTTP(w, r)
			})
		}
		h := newHarness(t, withProto(p), withConfirm(tools.ConfirmOff), withMaxTries(1), withWrap(wrap))
		h.eachKind(t, func(t *testing.T, h *harness, k kindInfo) {
			deleteSeen.Store(false)
			h.sb.SetFaults(deleteFault("reset-after"))
			h.call(k.del, map[string]any{k.idArg: k.archived}).failed(t, "unknown whether", k.get, "before trying again")
			if n := h.deleteCount(); n != 1 {
				t.Errorf("%d delete requests", n)
			}
			if recs := h.audit.outcomes(); len(recs) != 1 || recs[0].Outcome != "unknown" {
				t.Errorf("audit %+v", recs)
			}
		})
	})
}

// TestUnusableDeleteAnswer: Tallyfy (or a proxy in front of it) answers the delete with a body
// that cannot be read: for templates, whose delete answers a JSON body, the server treats it
// as ambiguous and reports the truth.
func TestUnusableDeleteAnswer(t *testing.T) {
	t.Parallel()
	// Every kind: task and run deletes expect an empty body, so an HTML page must not pass for one.
	for _, k := range kinds {
		forEachProtocol(t, func(t *testing.T, p protocol) {
			for _, c := range []struct {
				fault   string
				deleted bool
			}{{"html", false}, {"truncated", true}} {
				h := newHarness(t, withProto(p), withConfirm(tools.ConfirmOff), withMaxTries(4))
				h.sb.SetFaults(deleteFault(c.fault))
				r := h.call(k.del, map[string]any{k.idArg: k.archived})
				if h.deleteCount() != 1 {
					t.Errorf("%s: %d delete requests", c.fault, h.deleteCount())
				}
				if c.deleted {
					if decode[schemas.DeleteResult](t, r.ok(t)).Status != "deleted" || !h.gone(k.kind, k.archived) {
						t.Errorf("%s: %s", c.fault, r.text)
					}
				} else {
					r.failed(t, "still there", "nothing was deleted")
					if h.gone(k.kind, k.archived) {
						t.Errorf("%s: gone", c.fault)
					}
				}
			}
		})
	}
}

// TestAmbiguousArchiveSettledByReading: a lifecycle call whose answer is lost is also
// settled by reading the item again.
func TestAmbiguousArchiveSettledByReading(t *testing.T) {
	t.Parallel()
	perKind(t, []option{withMaxTries(1)}, func(t *testing.T, h *harness, k kindInfo) {
		h.sb.SetFaults(sandbox.Fault{Kind: "reset-after", Method: "DELETE", Times: 1})
		res, _ := lifecycle(t, h, k.archive, k.idArg, k.live)
		if !res.Changed || res.Resource.State != "archived" || !h.lookup(k.kind, k.live).Archived {
			t.Errorf("%+v", res)
		}
		h.sb.SetFaults(sandbox.Fault{Kind: "500", Method: "PUT", Times: 1})
		h.call(k.restore, map[string]any{k.idArg: k.live}).failed(t, "server error (500", "Nothing was changed")
		if !h.lookup(k.kind, k.live).Archived {
			t.Error("restored despite the 500")
		}
		if recs := h.audit.outcomes(); len(recs) != 2 || recs[0].Outcome != "ok" || recs[1].Outcome != "failed" || recs[1].HTTPStatus != 500 {
			t.Errorf("audit %+v", recs)
		}
	})
}
