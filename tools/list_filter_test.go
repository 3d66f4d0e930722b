package tools_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tallyfy-mcp/tallyfy-mcp/schemas"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
)

// lastUpdates lists every item of a kind (live and archived) as the sandbox serves it, with
// its last update, straight from the API behind the server's back.
func lastUpdates(t *testing.T, h *harness, k kindInfo) map[string]time.Time {
	t.Helper()
	api := h.api()
	ctx := context.Background()
	opts := tallyfy.ListOptions{Archived: tallyfy.ArchivedInclude, PerPage: 100}
	p, err := api.List(ctx, tallyfy.Kind(k.kind), opts)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]time.Time{}
	for _, it := range p.Items {
		e := it.Entity()
		ts, err := time.Parse(time.RFC3339Nano, e.LastUpdated)
		if err != nil {
			t.Fatalf("%s %s: last_updated %q: %v", k.kind, e.ID, e.LastUpdated, err)
		}
		out[e.ID] = ts
	}
	if len(out) < 3 {
		t.Fatalf("%s: only %d items seeded; the test needs 3 or more", k.kind, len(out))
	}
	return out
}

// middle returns a time with items of the kind on both sides of it.
func middle(t *testing.T, all map[string]time.Time) time.Time {
	t.Helper()
	var ts []time.Time
	for _, v := range all {
		ts = append(ts, v)
	}
	slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	m := ts[len(ts)/2]
	if !m.After(ts[0]) {
		t.Fatalf("seed dates do not spread: %v", ts)
	}
	return m
}

// listPage is the part of every list result these tests read.
type listPage struct {
	Items []struct {
		ID          string `json:"id"`
		LastUpdated string `json:"last_updated"`
		Status      string `json:"status"`
		TemplateID  string `json:"template_id"`
	}
	Page schemas.PageInfo
}

func (h *harness) listed(t *testing.T, k kindInfo, args map[string]any) (listPage, result) {
	t.Helper()
	r := h.call(k.list, args).ok(t)
	var wrapped map[string]json.RawMessage
	if err := json.Unmarshal(r.raw, &wrapped); err != nil {
		t.Fatal(err)
	}
	var p listPage
	if err := json.Unmarshal(wrapped["page_info"], &p.Page); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(wrapped[k.listKey], &p.Items); err != nil {
		t.Fatalf("%s: %v", k.listKey, err)
	}
	return p, r
}

// TestListUpdatedBounds: updated_before and updated_after keep exactly the items of Tallyfy's
// page whose last update lies in [after, before), for every kind, and say how many they left.
func TestListUpdatedBounds(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.eachKind(t, func(t *testing.T, h *harness, k kindInfo) {
		all := lastUpdates(t, h, k)
		pivot := middle(t, all)
		for _, tc := range []struct {
			name string
			args map[string]any
			keep func(time.Time) bool
		}{
			{"before", map[string]any{"updated_before": pivot.Format(time.RFC3339Nano)}, func(u time.Time) bool { return u.Before(pivot) }},
			{"after", map[string]any{"updated_after": pivot.Format(time.RFC3339Nano)}, func(u time.Time) bool { return !u.Before(pivot) }},
			{"between", map[string]any{"updated_after": pivot.Add(-24 * time.Hour).Format(time.RFC3339), "updated_before": pivot.Add(time.Second).Format(time.RFC3339)},
				func(u time.Time) bool {
					return !u.Before(pivot.Add(-24*time.Hour).Truncate(time.Second)) && u.Before(pivot.Add(time.Second).Truncate(time.Second))
				}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				tc.args["archived"] = "include"
				tc.args["per_page"] = 100
				p, r := h.listed(t, k, tc.args)
				var want, got []string
				for id, u := range all {
					if tc.keep(u) {
						want = append(want, id)
					}
				}
				for _, it := range p.Items {
					got = append(got, it.ID)
				}
				slices.Sort(want)
				slices.Sort(got)
				if !slices.Equal(got, want) {
					t.Errorf("kept %v, want %v", got, want)
				}
				if p.Page.FilteredOut != len(all)-len(want) {
					t.Errorf("filtered_out %d, want %d", p.Page.FilteredOut, len(all)-len(want))
				}
				if p.Page.Total != len(all) {
					t.Errorf("total %d, want Tallyfy's %d", p.Page.Total, len(all))
				}
				if p.Page.FilteredOut > 0 {
					contains(t, "text", r.text, "left out by updated_before/updated_after")
				}
			})
		}
	})
}

// TestListUpdatedBoundsKeepPaging: a bounded list pages as Tallyfy pages: total and has_more
// are Tallyfy's, and each page's kept plus filtered_out is Tallyfy's page.
func TestListUpdatedBoundsKeepPaging(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	k := kinds[1] // runs: the largest seed
	all := lastUpdates(t, h, k)
	pivot := middle(t, all)
	seen := map[string]bool{}
	for page := 1; ; page++ {
		p, r := h.listed(t, k, map[string]any{"archived": "include", "per_page": 2, "page": page, "updated_before": pivot.Format(time.RFC3339Nano)})
		if p.Page.Total != len(all) || p.Page.Page != page {
			t.Fatalf("page %d: page_info %+v, want Tallyfy's total %d", page, p.Page, len(all))
		}
		if n := len(p.Items) + p.Page.FilteredOut; n != min(2, len(all)-2*(page-1)) {
			t.Errorf("page %d: %d kept + %d left out, want Tallyfy's page of %d", page, len(p.Items), p.Page.FilteredOut, min(2, len(all)-2*(page-1)))
		}
		if len(p.Items) == 0 && p.Page.HasMore && !strings.Contains(r.text, "call again with page=") {
			t.Errorf("page %d: an empty filtered page with more behind it does not say to go on:\n%s", page, r.text)
		}
		for _, it := range p.Items {
			seen[it.ID] = true
		}
		if !p.Page.HasMore {
			break
		}
		if page > 50 {
			t.Fatal("paging does not end")
		}
	}
	for id, u := range all {
		if seen[id] != u.Before(pivot) {
			t.Errorf("%s (updated %s): seen %v across the pages, want %v", id, u, seen[id], u.Before(pivot))
		}
	}
}

// TestListTasksQueryWithUpdatedBounds: list_tasks with a query pages its own matches; the
// bounds apply before that paging, so total counts kept matches.
func TestListTasksQueryWithUpdatedBounds(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	k := kinds[0]
	p, _ := h.listed(t, k, map[string]any{"query": "a", "archived": "include", "per_page": 100})
	if len(p.Items) < 2 {
		t.Fatalf("query a matched %d tasks; the test needs 2 or more", len(p.Items))
	}
	var stamps []time.Time
	for _, it := range p.Items {
		u, err := time.Parse(time.RFC3339Nano, it.LastUpdated)
		if err != nil {
			t.Fatal(err)
		}
		stamps = append(stamps, u)
	}
	slices.SortFunc(stamps, func(a, b time.Time) int { return a.Compare(b) })
	cut := stamps[len(stamps)-1]
	want := 0
	for _, u := range stamps {
		if !u.Before(cut) {
			want++
		}
	}
	q, _ := h.listed(t, k, map[string]any{"query": "a", "archived": "include", "per_page": 100, "updated_after": cut.Format(time.RFC3339Nano)})
	if len(q.Items) != want || q.Page.Total != want {
		t.Errorf("updated_after %s: %d items, total %d; want %d", cut, len(q.Items), q.Page.Total, want)
	}
}

// TestListRunsStatusAndTemplate: status and template_id reach Tallyfy as status and
// checklist_id, and the answer holds only matching runs.
func TestListRunsStatusAndTemplate(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	k := kinds[1]
	h.run(t, "status", func(t *testing.T) {
		mark := h.logLen()
		p, _ := h.listed(t, k, map[string]any{"status": "complete", "per_page": 100})
		if len(p.Items) == 0 {
			t.Fatal("no complete runs listed; the seed has some")
		}
		for _, it := range p.Items {
			if it.Status != "complete" {
				t.Errorf("run %s has status %q", it.ID, it.Status)
			}
		}
		if log := strings.Join(h.sb.RequestLog()[mark:], "\n"); !strings.Contains(log, "status=complete") {
			t.Errorf("status not sent to Tallyfy:\n%s", log)
		}
	})
	h.run(t, "template", func(t *testing.T) {
		all, _ := h.listed(t, k, map[string]any{"archived": "include", "per_page": 100})
		tpl := all.Items[0].TemplateID
		want := 0
		for _, it := range all.Items {
			if it.TemplateID == tpl {
				want++
			}
		}
		mark := h.logLen()
		p, _ := h.listed(t, k, map[string]any{"template_id": tpl, "archived": "include", "per_page": 100})
		if len(p.Items) != want || want == len(all.Items) {
			t.Errorf("template_id %s: %d runs, want %d of %d", tpl, len(p.Items), want, len(all.Items))
		}
		for _, it := range p.Items {
			if it.TemplateID != tpl {
				t.Errorf("run %s is from template %s", it.ID, it.TemplateID)
			}
		}
		if log := strings.Join(h.sb.RequestLog()[mark:], "\n"); !strings.Contains(log, "checklist_id="+tpl) {
			t.Errorf("template_id not sent as checklist_id:\n%s", log)
		}
	})
}

// TestListFilterRefusals: bad filters are refused with the argument's name and send nothing.
func TestListFilterRefusals(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, tc := range []struct {
		tool string
		args map[string]any
		want []string
	}{
		{"list_runs", map[string]any{"status": "archived"}, []string{"status"}},
		{"list_runs", map[string]any{"status": "bogus"}, []string{"status"}},
		{"list_runs", map[string]any{"template_id": "abc/../x"}, []string{"template_id"}},
		{"list_tasks", map[string]any{"updated_before": "yesterday"}, []string{"updated_before", "RFC 3339"}},
		{"list_templates", map[string]any{"updated_after": "2026-13-01"}, []string{"updated_after", "RFC 3339"}},
		{"list_runs", map[string]any{"updated_after": "2026-06-01T00:00:00Z", "updated_before": "2026-05-01T00:00:00Z"}, []string{"updated_after", "earlier than updated_before"}},
		{"list_tasks", map[string]any{"status": "active"}, []string{"status"}},
	} {
		mark := h.logLen()
		h.call(tc.tool, tc.args).failed(t, tc.want...)
		if n := h.logLen() - mark; n != 0 {
			t.Errorf("%s %v: %d requests sent to Tallyfy, want 0", tc.tool, tc.args, n)
		}
	}
}

// TestSelectPageMatchesList: bulk selection (fetch, as selectIDs pages) picks what the list tool shows, with
// the same paging, for a filter with Tallyfy's parameters and the server's bounds.
func TestSelectPageMatchesList(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	k := kinds[1]
	pivot := middle(t, lastUpdates(t, h, k))
	bound := pivot.Format(time.RFC3339Nano)
	for page := 1; page <= 3; page++ {
		p, _ := h.listed(t, k, map[string]any{"archived": "include", "per_page": 2, "page": page, "updated_before": bound})
		es, info, err := tools.SelectPage(context.Background(), h.api(), tallyfy.KindRun,
			schemas.ListArgs{Archived: "include", UpdatedBefore: bound}, "", "", page, 2)
		if err != nil {
			t.Fatal(err)
		}
		if info != p.Page {
			t.Errorf("page %d: selection paging %+v, list %+v", page, info, p.Page)
		}
		var got, want []string
		for _, e := range es {
			got = append(got, e.ID)
			if !e.ArchivedKnown || e.Name == "" || e.LastUpdated == "" {
				t.Errorf("selected %+v lacks its state, name or last update", e)
			}
		}
		for _, it := range p.Items {
			want = append(want, it.ID)
		}
		if !slices.Equal(got, want) {
			t.Errorf("page %d: selected %v, listed %v", page, got, want)
		}
	}
}
