package tools_test

import (
	"strings"
	"testing"

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
		if w := h.writesSince(0); len(w) != 0 {
			t.Errorf("not-found calls sent writes: %v", w)
		}
	})
}

func TestDeleteLiveSaysArchiveFirst(t *testing.T) {
	t.Parallel()
	for _, mode := range []tools.ConfirmMode{tools.ConfirmToken, tools.ConfirmOff} {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			perKind(t, []option{withConfirm(mode)}, func(t *testing.T, h *harness, k kindInfo) {
				name := h.lookup(k.kind, k.live).Name
				h.call(k.del, map[string]any{k.idArg: k.live}).failed(t, "archive it first", k.archive, "nothing was deleted", name)
				if rec := h.lookup(k.kind, k.live); rec.Archived {
					t.Error("the refusal archived it")
				}
				if w := h.writesSince(0); len(w) != 0 {
					t.Errorf("refusal sent writes: %v", w)
				}
			})
		})
	}
}

func TestProcessTaskNamesTheRun(t *testing.T) {
	t.Parallel()
	forEachProtocol(t, func(t *testing.T, p protocol) {
		h := newHarness(t, withProto(p), withConfirm(tools.ConfirmOff))
		for _, tool := range []string{"archive_task", "restore_task", "delete_task"} {
			h.call(tool, map[string]any{"task_id": sandbox.IDs.ProcessTask}).failed(t,
				sandbox.IDs.ActiveRun, "get_run", "archive_run", "belongs to process")
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

func TestMemberTokenCannotDeletePermanently(t *testing.T) {
	t.Parallel()
	perKind(t, []option{withToken(sandbox.MemberToken)}, func(t *testing.T, h *harness, k kindInfo) {
		first := h.call(k.del, map[string]any{k.idArg: k.archived}).ok(t)
		tok := decode[schemas.DeleteResult](t, first).ConfirmToken
		h.call(k.del, map[string]any{k.idArg: k.archived, "confirm_token": tok}).failed(t,
			"403", "administrator", "Tallyfy request id sbx-")
		if h.gone(k.kind, k.archived) {
			t.Fatal("deleted with a member token")
		}
		// A member may still archive and restore.
		lifecycle(t, h, k.archive, k.idArg, k.live)
		if !h.lookup(k.kind, k.live).Archived {
			t.Error("member could not archive")
		}
		recs := h.audit.outcomes()
		last := recs[len(recs)-2]
		if last.Outcome != "failed" || last.HTTPStatus != 403 || !strings.HasPrefix(last.RequestID, "sbx-") {
			t.Errorf("audit of the refused delete: %+v", last)
		}
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
		for _, rec := range h.audit.all() {
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
