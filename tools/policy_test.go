package tools_test

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tallyfy-mcp/tallyfy-mcp/schemas"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
)

func listedNames(t *testing.T, h *harness) []string {
	t.Helper()
	lt, err := h.c.ListTools(context.Background(), mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range lt.Tools {
		names = append(names, tl.Name)
	}
	slices.Sort(names)
	return names
}

func readTools() []string {
	return []string{"get_run", "get_task", "get_template", "list_runs", "list_tasks", "list_templates"}
}

// argsFor is a well-formed call of any tool that would change the sandbox if it ran.
func argsFor(tool string) map[string]any {
	if strings.HasPrefix(tool, "bulk_") {
		return map[string]any{"type": "run", "ids": []string{sandbox.IDs.ArchivedRun}, "plan_token": "tcf1.x.y"}
	}
	k := kindOf(tool)
	switch {
	case strings.HasPrefix(tool, "list_"):
		return nil
	case strings.HasPrefix(tool, "archive_"), strings.HasPrefix(tool, "get_"):
		return map[string]any{k.idArg: k.live}
	default: // restore / activate / delete
		return map[string]any{k.idArg: k.archived}
	}
}

func TestPolicyFilter(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		policy tools.Policy
		want   []string
	}{
		{"read-only", tools.Policy{ReadOnly: true}, readTools()},
		{"disable-permanent-delete", tools.Policy{DisablePermanentDelete: true}, func() []string {
			var out []string
			for _, n := range designNames() {
				if !strings.HasPrefix(n, "delete_") && n != "bulk_delete" {
					out = append(out, n)
				}
			}
			return out
		}()},
		{"tools", tools.Policy{Tools: []string{"get_task", "archive_task", "delete_task"}}, []string{"archive_task", "delete_task", "get_task"}},
		{"exclude wins over tools", tools.Policy{Tools: []string{"get_task", "archive_task"}, ExcludeTools: []string{"archive_task"}}, []string{"get_task"}},
		{"read-only wins over tools", tools.Policy{ReadOnly: true, Tools: []string{"get_task", "archive_task", "delete_run"}}, []string{"get_task"}},
		{"disable-permanent-delete wins over tools", tools.Policy{DisablePermanentDelete: true, Tools: []string{"delete_run", "list_runs"}}, []string{"list_runs"}},
		{"exclude only", tools.Policy{ExcludeTools: []string{"delete_run", "delete_template", "archive_run"}}, func() []string {
			var out []string
			for _, n := range designNames() {
				if !slices.Contains([]string{"delete_run", "delete_template", "archive_run"}, n) {
					out = append(out, n)
				}
			}
			return out
		}()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			forEachProtocol(t, func(t *testing.T, p protocol) {
				pol := c.policy
				pol.MaxDeletesPerHour = -1
				h := newHarness(t, withProto(p), withPolicy(pol), withConfirm(tools.ConfirmOff))
				want := slices.Sorted(slices.Values(c.want))
				if got := listedNames(t, h); !slices.Equal(got, want) {
					t.Errorf("tools/list: %v, want %v", got, want)
				}
				for _, name := range designNames() {
					if slices.Contains(want, name) {
						continue
					}
					before := h.sb.Requests()
					r := h.call(name, argsFor(name))
					if r.err == nil {
						t.Errorf("hidden tool %s was callable: isError=%v %s", name, r.res.IsError, r.text)
						continue
					}
					if !strings.Contains(r.err.Error(), "not found") {
						t.Errorf("hidden tool %s: %v", name, r.err)
					}
					if h.sb.Requests() != before {
						t.Errorf("hidden tool %s reached the sandbox", name)
					}
				}
				if w := h.writesSince(0); len(w) != 0 {
					t.Errorf("writes: %v", w)
				}
				// Each hidden lifecycle or delete tool called by name is audited as refused.
				hiddenActions := 0
				for _, name := range designNames() {
					if !slices.Contains(want, name) && !strings.HasPrefix(name, "list_") && !strings.HasPrefix(name, "get_") {
						hiddenActions++
					}
				}
				recs := h.audit.outcomes()
				if len(recs) != hiddenActions {
					t.Errorf("%d audit records for %d hidden lifecycle/delete calls: %+v", len(recs), hiddenActions, recs)
				}
				for _, rec := range recs {
					if rec.Outcome != "refused" || !strings.Contains(rec.Detail, "policy") || slices.Contains(want, rec.Tool) {
						t.Errorf("audit record of a hidden call: %+v", rec)
					}
				}
				// What is listed works.
				for _, name := range want {
					if strings.HasPrefix(name, "list_") || strings.HasPrefix(name, "get_") {
						h.call(name, argsFor(name)).ok(t)
					}
				}
			})
		})
	}
}

// TestPolicyHandlerRecheck: a server that forgot the filter still cannot run a hidden tool;
// the handler itself refuses, naming the flag.
func TestPolicyHandlerRecheck(t *testing.T) {
	t.Parallel()
	cases := []struct {
		policy tools.Policy
		tool   string
		why    string
	}{
		{tools.Policy{ReadOnly: true}, "archive_run", "--read-only"},
		{tools.Policy{ReadOnly: true}, "delete_run", "--read-only"},
		{tools.Policy{DisablePermanentDelete: true}, "delete_template", "--disable-permanent-delete"},
		{tools.Policy{Tools: []string{"get_task"}}, "restore_task", "not in --tools"},
		{tools.Policy{ExcludeTools: []string{"archive_template"}}, "archive_template", "--exclude-tools"},
	}
	forEachProtocol(t, func(t *testing.T, p protocol) {
		for _, c := range cases {
			pol := c.policy
			pol.MaxDeletesPerHour = -1
			h := newHarness(t, withProto(p), withPolicy(pol), withConfirm(tools.ConfirmOff))
			bare := bareClient(t, h, p)
			h.callWith(bare, c.tool, argsFor(c.tool)).failed(t, c.tool, "not available", c.why, "Nothing was changed")
			if h.sb.Requests() != 0 {
				t.Errorf("%s under %+v reached the sandbox", c.tool, c.policy)
			}
			if recs := h.audit.outcomes(); len(recs) != 1 || recs[0].Outcome != "refused" || recs[0].Tool != c.tool {
				t.Errorf("audit %+v", recs)
			}
		}
	})
}

func TestPolicyValidate(t *testing.T) {
	t.Parallel()
	for _, p := range []tools.Policy{{Tools: []string{"nope"}}, {ExcludeTools: []string{"delete_everything"}}} {
		err := p.Validate()
		if err == nil {
			t.Fatalf("%+v validated", p)
		}
		for _, n := range designNames() {
			if !strings.Contains(err.Error(), n) {
				t.Errorf("error does not list valid name %s: %v", n, err)
			}
		}
		if _, err := tools.New(tools.Options{Client: newHarness(t).api(), Policy: p}); err == nil {
			t.Errorf("tools.New accepted %+v", p)
		}
	}
	if err := (tools.Policy{Tools: []string{"get_task"}, ExcludeTools: []string{"delete_run"}}).Validate(); err != nil {
		t.Errorf("valid policy: %v", err)
	}
}

func TestProtect(t *testing.T) {
	t.Parallel()
	var protect []string
	for _, k := range kinds {
		// Uppercase IDs protect too: entries are normalized (tool arguments are lowercase).
		protect = append(protect, strings.ToUpper(k.live), " "+k.archived)
	}
	pol := tools.Policy{Protect: protect, MaxDeletesPerHour: -1}
	perKind(t, []option{withPolicy(pol), withConfirm(tools.ConfirmOff)}, func(t *testing.T, h *harness, k kindInfo) {
		h.call(k.archive, map[string]any{k.idArg: k.live}).failed(t, "protected", "--protect", k.live, "Nothing was changed")
		h.call(k.del, map[string]any{k.idArg: k.archived}).failed(t, "protected", k.archived)
		if h.lookup(k.kind, k.live).Archived || h.gone(k.kind, k.archived) {
			t.Fatal("a protected item changed")
		}
		if w := h.writesSince(0); len(w) != 0 {
			t.Errorf("writes: %v", w)
		}
		// Restoring a protected item is allowed (it only brings it back).
		res, _ := lifecycle(t, h, k.restore, k.idArg, k.archived)
		if !res.Changed || h.lookup(k.kind, k.archived).Archived {
			t.Errorf("restore of protected: %+v", res)
		}
		for _, rec := range h.audit.outcomes()[:2] {
			if rec.Outcome != "refused" || rec.Detail != "protected" {
				t.Errorf("audit %+v", rec)
			}
		}
		// Another item of the same kind is not protected.
		res, _ = lifecycle(t, h, k.archive, k.idArg, k.other)
		if !res.Changed || !h.lookup(k.kind, k.other).Archived {
			t.Errorf("unprotected %s: %+v", k.kind, res)
		}
	})
	// The token flow refuses before issuing a token.
	forEachProtocol(t, func(t *testing.T, p protocol) {
		h := newHarness(t, withProto(p), withPolicy(pol))
		for _, k := range kinds {
			r := h.call(k.del, map[string]any{k.idArg: k.archived}).failed(t, "protected")
			if strings.Contains(r.text, "confirm_token") {
				t.Errorf("a token was issued for a protected item: %s", r.text)
			}
		}
	})
}

// TestProtectRefusesNonIDs: a protected entry that is not an ID stops the toolset, naming it.
func TestProtectRefusesNonIDs(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"Onboarding - Jane", kinds[0].live + "/delete", kinds[0].live[:31], ""} {
		_, err := tools.NormalizeProtectedIDs([]string{kinds[1].live, bad})
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", bad)) {
			t.Errorf("NormalizeProtectedIDs(%q): %v", bad, err)
		}
	}
	got, err := tools.NormalizeProtectedIDs([]string{strings.ToUpper(kinds[1].live), kinds[1].live, " " + kinds[2].live + " "})
	if err != nil || !slices.Equal(got, []string{kinds[1].live, kinds[2].live}) {
		t.Errorf("NormalizeProtectedIDs: %v, %v", got, err)
	}
}

// archiveAll archives more items so budget tests have enough to delete.
func archiveAll(t *testing.T, h *harness) {
	t.Helper()
	ctx := context.Background()
	api := h.api()
	for _, id := range []string{sandbox.IDs.LiveTask} {
		if _, err := api.Archive(ctx, tallyfy.KindTask, id); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{sandbox.IDs.ActiveRun, sandbox.IDs.CompleteRun} {
		if _, err := api.Archive(ctx, tallyfy.KindRun, id); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDeleteBudget(t *testing.T) {
	t.Parallel()
	forEachProtocol(t, func(t *testing.T, p protocol) {
		h := newHarness(t, withProto(p), withConfirm(tools.ConfirmOff), withPolicy(tools.Policy{MaxDeletesPerHour: 2}))
		archiveAll(t, h)
		del := func(id string) result { return h.call("delete_run", map[string]any{"run_id": id}) }
		start := h.clock.Now()
		del(sandbox.IDs.ArchivedRun).ok(t)
		h.clock.Advance(10 * time.Minute)
		del(sandbox.IDs.ActiveRun).ok(t)
		h.clock.Advance(5 * time.Minute)
		r := del(sandbox.IDs.CompleteRun).failed(t, "budget", "2 permanent deletes per hour", "--max-deletes-per-hour", "nothing was deleted")
		m := regexp.MustCompile(`allowed from (\S+) \(in ([0-9hms]+)\)`).FindStringSubmatch(r.text)
		if m == nil {
			t.Fatalf("budget text does not say when it frees: %s", r.text)
		}
		freeAt, err := time.Parse(time.RFC3339, m[1])
		if err != nil {
			t.Fatal(err)
		}
		if d := freeAt.Sub(start.Add(time.Hour)); d < -time.Second || d > 3*time.Second {
			t.Errorf("frees at %s, want an hour after the first delete (%s)", freeAt, start.Add(time.Hour))
		}
		if in, _ := time.ParseDuration(m[2]); in < 44*time.Minute || in > 45*time.Minute+time.Second {
			t.Errorf("frees in %s, want about 45m", m[2])
		}
		if h.gone("run", sandbox.IDs.CompleteRun) {
			t.Fatal("deleted over budget")
		}
		// Archiving is not budgeted.
		lifecycle(t, h, "archive_task", "task_id", sandbox.IDs.ArchivedTask)
		// Once the first delete is an hour old, one more is allowed, and only one.
		h.clock.Advance(46 * time.Minute)
		del(sandbox.IDs.CompleteRun).ok(t)
		h.call("delete_task", map[string]any{"task_id": sandbox.IDs.ArchivedTask}).failed(t, "budget")
		if !h.gone("run", sandbox.IDs.CompleteRun) || h.gone("task", sandbox.IDs.ArchivedTask) {
			t.Error("sandbox state after the window moved")
		}
		var outcomes []string
		for _, rec := range h.audit.outcomes() {
			outcomes = append(outcomes, rec.Tool+":"+string(rec.Outcome))
		}
		want := []string{"delete_run:ok", "delete_run:ok", "delete_run:refused", "archive_task:noop", "delete_run:ok", "delete_task:refused"}
		if !slices.Equal(outcomes, want) {
			t.Errorf("audit outcomes %v, want %v", outcomes, want)
		}
	})
}

func TestDeleteBudgetTokenFlow(t *testing.T) {
	t.Parallel()
	forEachProtocol(t, func(t *testing.T, p protocol) {
		h := newHarness(t, withProto(p), withPolicy(tools.Policy{MaxDeletesPerHour: 1}))
		archiveAll(t, h)
		k := kinds[1]
		// Two confirmations issued while the budget is free; only one delete can spend it.
		t1 := askToken(t, h, k, sandbox.IDs.ArchivedRun).ConfirmToken
		t2 := askToken(t, h, k, sandbox.IDs.ActiveRun).ConfirmToken
		h.call(k.del, map[string]any{k.idArg: sandbox.IDs.ArchivedRun, "confirm_token": t1}).ok(t)
		h.call(k.del, map[string]any{k.idArg: sandbox.IDs.ActiveRun, "confirm_token": t2}).failed(t, "budget")
		if h.gone("run", sandbox.IDs.ActiveRun) {
			t.Fatal("second delete went through")
		}
		// A spent budget refuses even the first call of the token flow.
		h.call(k.del, map[string]any{k.idArg: sandbox.IDs.CompleteRun}).failed(t, "budget")
	})
}

func TestDeleteBudgetZero(t *testing.T) {
	t.Parallel()
	forEachProtocol(t, func(t *testing.T, p protocol) {
		for _, mode := range []tools.ConfirmMode{tools.ConfirmOff, tools.ConfirmToken} {
			h := newHarness(t, withProto(p), withConfirm(mode), withPolicy(tools.Policy{MaxDeletesPerHour: 0}))
			for _, k := range kinds {
				h.call(k.del, map[string]any{k.idArg: k.archived}).failed(t, "disabled", "--max-deletes-per-hour 0", "archiving is still possible")
				if h.gone(k.kind, k.archived) {
					t.Fatalf("%s deleted with a zero budget", k.kind)
				}
				lifecycle(t, h, k.archive, k.idArg, k.live)
			}
			if h.deleteCount() != 0 {
				t.Error("delete requests sent")
			}
			h.clock.Advance(2 * time.Hour)
			h.call("delete_run", map[string]any{"run_id": sandbox.IDs.ArchivedRun}).failed(t, "disabled")
		}
	})
}

func TestDeleteBudgetSharedAcrossSessions(t *testing.T) {
	t.Parallel()
	forEachProtocol(t, func(t *testing.T, p protocol) {
		h := newHarness(t, withProto(p), withConfirm(tools.ConfirmOff), withPolicy(tools.Policy{MaxDeletesPerHour: 2}))
		archiveAll(t, h)
		a := h.c
		b := h.connect(p.version, nil, "second-client")
		h.callWith(a, "delete_run", map[string]any{"run_id": sandbox.IDs.ArchivedRun}).ok(t)
		h.callWith(b, "delete_run", map[string]any{"run_id": sandbox.IDs.ActiveRun}).ok(t)
		h.callWith(b, "delete_run", map[string]any{"run_id": sandbox.IDs.CompleteRun}).failed(t, "budget")
		h.callWith(a, "delete_task", map[string]any{"task_id": sandbox.IDs.ArchivedTask}).failed(t, "budget")
		if h.gone("run", sandbox.IDs.CompleteRun) || h.gone("task", sandbox.IDs.ArchivedTask) {
			t.Fatal("over budget")
		}
		recs := h.audit.outcomes()
		if len(recs) != 4 || recs[0].Session == recs[1].Session || recs[1].ClientName != "second-client" {
			t.Errorf("audit sessions: %+v", recs)
		}
	})
}

// TestDeleteBudgetConcurrent: many sessions deleting at once never overspend.
func TestDeleteBudgetConcurrent(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withConfirm(tools.ConfirmOff), withPolicy(tools.Policy{MaxDeletesPerHour: 2}))
	archiveAll(t, h)
	targets := []struct{ tool, arg, id string }{
		{"delete_run", "run_id", sandbox.IDs.ArchivedRun}, {"delete_run", "run_id", sandbox.IDs.ActiveRun},
		{"delete_run", "run_id", sandbox.IDs.CompleteRun}, {"delete_task", "task_id", sandbox.IDs.ArchivedTask},
		{"delete_task", "task_id", sandbox.IDs.LiveTask}, {"delete_template", "template_id", sandbox.IDs.ArchivedTemplate},
	}
	results := make(chan result, len(targets))
	for _, tg := range targets {
		c := h.connect("", nil, "racer")
		go func() { results <- h.callWith(c, tg.tool, map[string]any{tg.arg: tg.id}) }()
	}
	ok := 0
	for range targets {
		r := <-results
		if r.err != nil {
			t.Fatal(r.err)
		}
		if !r.res.IsError {
			ok++
			if decode[schemas.DeleteResult](t, r).Status != "deleted" {
				t.Error(r.text)
			}
		}
	}
	if ok != 2 || h.deleteCount() != 2 {
		t.Errorf("%d deletes succeeded, %d sent; the budget is 2", ok, h.deleteCount())
	}
}

func TestUnknownToolNameSuggestsTheNearest(t *testing.T) {
	for _, tc := range []struct{ given, want string }{
		{"archve_task", "archive_task"},
		{"delete_runs", "delete_run"},
		{"LIST_TASKS", "list_tasks"},
		{"bulk_delet", "bulk_delete"},
		{"foo", ""},
		{"purge_everything", ""},
	} {
		if got := tools.NearestToolName(tc.given); got != tc.want {
			t.Errorf("NearestToolName(%q) = %q, want %q", tc.given, got, tc.want)
		}
	}
	err := tools.Policy{ExcludeTools: []string{"archve_task"}}.Validate()
	if err == nil || !strings.Contains(err.Error(), `did you mean "archive_task"?`) {
		t.Fatalf("Validate: %v, want a did-you-mean for archive_task", err)
	}
	if err := (tools.Policy{Tools: []string{"foo"}}).Validate(); err == nil || strings.Contains(err.Error(), "did you mean") {
		t.Fatalf("Validate(foo): %v, want an error without a guess", err)
	}
}
