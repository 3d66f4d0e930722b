package tools_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/tallyfy-mcp/tallyfy-mcp/schemas"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
)

// item is the kind-independent view of a get/list result entry. Known is false when the
// result says archived: null (an archived=include listing whose items carry no archived_at).
type item struct {
	ID, Name, Status string
	Archived, Known  bool
}

func newItem(id, name, status string, archived *bool) item {
	it := item{ID: id, Name: name, Status: status, Known: archived != nil}
	if archived != nil {
		it.Archived = *archived
	}
	return it
}

// getItem calls the kind's get tool and decodes the result into its schema type.
func getItem(t *testing.T, h *harness, k kindInfo, id string) (item, result) {
	t.Helper()
	r := h.call(k.get, map[string]any{k.idArg: id}).ok(t)
	switch k.kind {
	case "task":
		v := decode[schemas.GetTaskResult](t, r).Task
		return newItem(v.ID, v.Title, v.Status, v.Archived), r
	case "run":
		v := decode[schemas.GetRunResult](t, r).Run
		return newItem(v.ID, v.Name, v.Status, v.Archived), r
	default:
		v := decode[schemas.GetTemplateResult](t, r).Template
		return newItem(v.ID, v.Title, v.Status, v.Archived), r
	}
}

// listItems calls the kind's list tool and decodes the page.
func listItems(t *testing.T, h *harness, k kindInfo, args map[string]any) ([]item, schemas.PageInfo, result) {
	t.Helper()
	r := h.call(k.list, args).ok(t)
	var out []item
	var page schemas.PageInfo
	switch k.kind {
	case "task":
		v := decode[schemas.ListTasksResult](t, r)
		for _, x := range v.Tasks {
			if !x.OneOff {
				t.Errorf("list_tasks returned a process task: %+v", x)
			}
			out = append(out, newItem(x.ID, x.Title, x.Status, x.Archived))
		}
		page = v.Page
	case "run":
		v := decode[schemas.ListRunsResult](t, r)
		for _, x := range v.Runs {
			out = append(out, newItem(x.ID, x.Name, x.Status, x.Archived))
		}
		page = v.Page
	default:
		v := decode[schemas.ListTemplatesResult](t, r)
		for _, x := range v.Templates {
			out = append(out, newItem(x.ID, x.Title, x.Status, x.Archived))
		}
		page = v.Page
	}
	return out, page, r
}

func ids(items []item) []string {
	var out []string
	for _, it := range items {
		out = append(out, it.ID)
	}
	return out
}

func TestGet(t *testing.T) {
	t.Parallel()
	perKind(t, nil, func(t *testing.T, h *harness, k kindInfo) {
		for _, id := range []string{k.live, k.archived} {
			rec := h.lookup(k.kind, id)
			it, r := getItem(t, h, k, id)
			if it.ID != id || it.Name != rec.Name || !it.Known || it.Archived != rec.Archived {
				t.Errorf("%s %s: got %+v, sandbox has %+v", k.get, id, it, rec)
			}
			contains(t, "text", r.text, rec.Name, id)
			if strings.Contains(r.text, "archived") != rec.Archived {
				t.Errorf("text and archived=%v disagree: %s", rec.Archived, r.text)
			}
		}
		if n := len(h.audit.outcomes()); n != 0 {
			t.Errorf("read tools wrote %d audit records", n)
		}
		if w := h.writesSince(0); len(w) != 0 {
			t.Errorf("get sent writes: %v", w)
		}
	})
}

func TestListArchivedFilter(t *testing.T) {
	t.Parallel()
	perKind(t, nil, func(t *testing.T, h *harness, k kindInfo) {
		all := map[string]any{"per_page": 100}

		live, page, r := listItems(t, h, k, all)
		if !slices.Contains(ids(live), k.live) || slices.Contains(ids(live), k.archived) {
			t.Errorf("default (exclude): want %s and not %s in %v", k.live, k.archived, ids(live))
		}
		for _, it := range live {
			if it.Archived || !it.Known {
				t.Errorf("default list shows archived %+v", it)
			}
		}
		if page.Total != len(live) || page.HasMore {
			t.Errorf("page info %+v for %d items", page, len(live))
		}
		contains(t, "text", r.text, h.lookup(k.kind, k.live).Name, k.live)

		excl, _, _ := listItems(t, h, k, map[string]any{"per_page": 100, "archived": "exclude"})
		if !slices.Equal(ids(excl), ids(live)) {
			t.Errorf("archived=exclude %v differs from the default %v", ids(excl), ids(live))
		}

		incl, _, _ := listItems(t, h, k, map[string]any{"per_page": 100, "archived": "include"})
		if !slices.Contains(ids(incl), k.live) || !slices.Contains(ids(incl), k.archived) {
			t.Errorf("include: want both %s and %s in %v", k.live, k.archived, ids(incl))
		}

		only, _, r := listItems(t, h, k, map[string]any{"per_page": 100, "archived": "only"})
		if !slices.Contains(ids(only), k.archived) || slices.Contains(ids(only), k.live) {
			t.Errorf("only: want %s and not %s in %v", k.archived, k.live, ids(only))
		}
		for _, it := range only {
			if !it.Archived || !it.Known {
				t.Errorf("archived=only shows live %+v", it)
			}
		}
		// An include listing says what it knows: a run's status always tells, but template and
		// task list items may carry no archived_at (docs list-templates, list-org-tasks), and
		// then the result says archived: null rather than guess.
		for _, it := range incl {
			rec := h.lookup(k.kind, it.ID)
			if it.Known && it.Archived != rec.Archived {
				t.Errorf("include shows %+v, sandbox has archived=%v", it, rec.Archived)
			}
			if k.kind == "run" && !it.Known {
				t.Errorf("include shows a run without its archived state: %+v", it)
			}
		}
		if len(incl) != len(live)+len(only) {
			t.Errorf("include has %d items, exclude %d + only %d", len(incl), len(live), len(only))
		}
		contains(t, "text", r.text, "archived")
	})
}

func TestListQuery(t *testing.T) {
	t.Parallel()
	queries := map[string]string{"task": "ssl", "run": "JANE", "template": "Onboarding"}
	perKind(t, nil, func(t *testing.T, h *harness, k kindInfo) {
		q := queries[k.kind]
		items, page, r := listItems(t, h, k, map[string]any{"query": q})
		if len(items) == 0 || !slices.Contains(ids(items), k.live) {
			t.Fatalf("query %q: want %s among %v", q, k.live, ids(items))
		}
		for _, it := range items {
			if !strings.Contains(strings.ToLower(it.Name), strings.ToLower(q)) {
				t.Errorf("query %q matched %q", q, it.Name)
			}
		}
		all, _, _ := listItems(t, h, k, map[string]any{"per_page": 100})
		if len(items) >= len(all) || page.Total != len(items) {
			t.Errorf("query %q: %d items (total %d) of %d: did not filter", q, len(items), page.Total, len(all))
		}
		contains(t, "text", r.text, h.lookup(k.kind, k.live).Name)

		none, _, r := listItems(t, h, k, map[string]any{"query": "zzz-no-such-thing"})
		if len(none) != 0 {
			t.Errorf("nonsense query found %v", ids(none))
		}
		contains(t, "empty-list text", r.text, "No ", "zzz-no-such-thing", "archived ones are hidden")
	})
}

func TestListPaging(t *testing.T) {
	t.Parallel()
	perKind(t, nil, func(t *testing.T, h *harness, k kindInfo) {
		all, _, _ := listItems(t, h, k, map[string]any{"per_page": 100, "archived": "include"})
		if len(all) < 3 {
			t.Fatalf("need at least 3 %ss to page, have %d", k.kind, len(all))
		}
		var seen []string
		pages := (len(all) + 1) / 2
		for pg := 1; pg <= pages; pg++ {
			items, info, r := listItems(t, h, k, map[string]any{"per_page": 2, "page": pg, "archived": "include"})
			if info.Page != pg || info.PerPage != 2 || info.Total != len(all) || info.TotalPages != pages {
				t.Errorf("page %d: page info %+v (want %d items in %d pages)", pg, info, len(all), pages)
			}
			if want := pg < pages; info.HasMore != want {
				t.Errorf("page %d of %d: has_more %v", pg, pages, info.HasMore)
			}
			if info.HasMore {
				contains(t, "text", r.text, fmt.Sprintf("page=%d", pg+1))
			} else if strings.Contains(r.text, "More:") {
				t.Errorf("last page text offers more: %s", r.text)
			}
			contains(t, "text", r.text, fmt.Sprintf("page %d of %d", pg, pages))
			if len(items) > 2 || len(items) == 0 {
				t.Errorf("page %d has %d items", pg, len(items))
			}
			seen = append(seen, ids(items)...)
		}
		slices.Sort(seen)
		want := ids(all)
		slices.Sort(want)
		if !slices.Equal(seen, want) {
			t.Errorf("paging saw %v, want every item once: %v", seen, want)
		}
		past, info, pastRes := listItems(t, h, k, map[string]any{"per_page": 2, "page": pages + 1, "archived": "include"})
		if len(past) != 0 || info.HasMore {
			t.Errorf("page past the end: %v %+v", ids(past), info)
		}
		contains(t, "text", pastRes.text, fmt.Sprintf("Page %d is past the end", pages+1))
		if strings.Contains(pastRes.text, "hidden") || strings.Contains(pastRes.text, "No ") {
			t.Errorf("a page past the end reads as if nothing matched: %s", pastRes.text)
		}
	})
}

// lifecycle calls an archive/restore tool and decodes its result.
func lifecycle(t *testing.T, h *harness, tool, idArg, id string) (schemas.LifecycleResult, result) {
	t.Helper()
	r := h.call(tool, map[string]any{idArg: id}).ok(t)
	return decode[schemas.LifecycleResult](t, r), r
}

func TestArchiveRestoreRoundTrip(t *testing.T) {
	t.Parallel()
	perKind(t, nil, func(t *testing.T, h *harness, k kindInfo) {
		before := h.lookup(k.kind, k.live)

		// Archive a live item.
		res, r := lifecycle(t, h, k.archive, k.idArg, k.live)
		if !res.Changed || !res.Reversible || res.Action != "archive" {
			t.Errorf("archive: %+v", res)
		}
		if res.Resource.Type != k.kind || res.Resource.ID != k.live || res.Resource.Name != before.Name || res.Resource.State != "archived" {
			t.Errorf("archive resource: %+v", res.Resource)
		}
		if res.Undo.Tool != k.restore || len(res.Undo.Arguments) != 1 || res.Undo.Arguments[k.idArg] != k.live {
			t.Errorf("archive undo: %+v, want %s{%s: %s}", res.Undo, k.restore, k.idArg, k.live)
		}
		contains(t, "archive text", r.text, before.Name, "archived", k.restore)
		if !h.lookup(k.kind, k.live).Archived {
			t.Fatal("sandbox: not archived")
		}

		// Archive again: success, changed false, nothing changed in Tallyfy (decided from the
		// read, or for archive_run from Tallyfy's refusal: lifecycle.go).
		mark := h.logLen()
		stamp := h.lookup(k.kind, k.live)
		res, r = lifecycle(t, h, k.archive, k.idArg, k.live)
		if res.Changed || !res.Reversible || res.Resource.State != "archived" || res.Undo.Tool != k.restore {
			t.Errorf("archive of archived: %+v", res)
		}
		contains(t, "noop text", r.text, "already archived")
		if w := h.writesSince(mark); len(w) > 1 {
			t.Errorf("archiving an archived %s sent writes: %v", k.kind, w)
		}
		if now := h.lookup(k.kind, k.live); now != stamp {
			t.Errorf("archiving an archived %s changed it: %+v, was %+v", k.kind, now, stamp)
		}

		// Restore by following the undo the result gave.
		mark = h.logLen()
		res, r = lifecycle(t, h, res.Undo.Tool, k.idArg, res.Undo.Arguments[k.idArg])
		if !res.Changed || !res.Reversible || res.Resource.State != "live" || res.Undo.Tool != k.archive || res.Undo.Arguments[k.idArg] != k.live {
			t.Errorf("restore: %+v", res)
		}
		wantAction := map[string]string{"task": "restore", "run": "activate", "template": "restore"}[k.kind]
		if res.Action != wantAction {
			t.Errorf("restore action %q, want %q", res.Action, wantAction)
		}
		contains(t, "restore text", r.text, before.Name, "live", k.archive)
		after := h.lookup(k.kind, k.live)
		if after.Archived || after.Status != before.Status {
			t.Errorf("sandbox after restore: %+v, before archive %+v", after, before)
		}
		if w := h.writesSince(mark); len(w) != 1 {
			t.Errorf("restore sent %d writes, want 1: %v", len(w), w)
		}

		// Restore again: success, changed false, nothing changed in Tallyfy.
		mark = h.logLen()
		stamp = h.lookup(k.kind, k.live)
		res, r = lifecycle(t, h, k.restore, k.idArg, k.live)
		if res.Changed || res.Resource.State != "live" || res.Undo.Tool != k.archive {
			t.Errorf("restore of live: %+v", res)
		}
		contains(t, "noop text", r.text, "already live", "nothing changed")
		if w := h.writesSince(mark); len(w) > 1 {
			t.Errorf("restoring a live %s sent writes: %v", k.kind, w)
		}
		if now := h.lookup(k.kind, k.live); now != stamp {
			t.Errorf("restoring a live %s changed it: %+v, was %+v", k.kind, now, stamp)
		}

		// The seeded archived item restores too, and the undo puts it back.
		res, _ = lifecycle(t, h, k.restore, k.idArg, k.archived)
		if !res.Changed || h.lookup(k.kind, k.archived).Archived {
			t.Errorf("restore seeded archived: %+v", res)
		}
		res, _ = lifecycle(t, h, res.Undo.Tool, k.idArg, k.archived)
		if !res.Changed || !h.lookup(k.kind, k.archived).Archived {
			t.Errorf("undo of restore: %+v", res)
		}
	})
}

// TestActivateRunRestoresStatus: a process comes back with the status it had before it was
// archived, not just "active".
func TestActivateRunRestoresStatus(t *testing.T) {
	t.Parallel()
	forEachProtocol(t, func(t *testing.T, p protocol) {
		h := newHarness(t, withProto(p))
		id := sandbox.IDs.CompleteRun
		if s := h.lookup("run", id).Status; s != "complete" {
			t.Fatalf("seed: complete run has status %q", s)
		}
		lifecycle(t, h, "archive_run", "run_id", id)
		if rec := h.lookup("run", id); !rec.Archived || rec.Status != "archived" {
			t.Fatalf("after archive_run: %+v", rec)
		}
		res, _ := lifecycle(t, h, "activate_run", "run_id", id)
		if rec := h.lookup("run", id); rec.Archived || rec.Status != "complete" {
			t.Errorf("after activate_run: %+v, want status complete", rec)
		}
		if res.Resource.Status != "complete" {
			t.Errorf("activate_run result status %q, want complete", res.Resource.Status)
		}
		// Its tasks went with it and came back with it.
		it, _ := getItem(t, h, kinds[0], sandbox.IDs.ProcessTask)
		if it.Archived {
			t.Errorf("process task still archived: %+v", it)
		}
	})
}

// An archived template reads as archived, in its status too: Tallyfy's template status is its
// publishing state, and "active" beside archived: true would read as live (issue 20).
func TestArchivedTemplateStatusIsNotActive(t *testing.T) {
	h := newHarness(t)
	for _, args := range []map[string]any{{"archived": "only"}, {"archived": "include"}} {
		res := decode[schemas.ListTemplatesResult](t, h.call("list_templates", args).ok(t))
		archived := 0
		for _, v := range res.Templates {
			if v.Archived != nil && *v.Archived {
				archived++
				if v.Status != "archived" {
					t.Errorf("%v: archived template %s has status %q", args, v.ID, v.Status)
				}
				got := decode[schemas.GetTemplateResult](t, h.call("get_template", map[string]any{"template_id": v.ID}).ok(t))
				if got.Template.Status != "archived" {
					t.Errorf("get_template %s: status %q beside archived", v.ID, got.Template.Status)
				}
			}
		}
		if archived == 0 {
			t.Fatalf("%v: the sandbox lists no archived template: the test shows nothing", args)
		}
	}
}
