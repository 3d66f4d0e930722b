package tools_test

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tallyfy-mcp/tallyfy-mcp/schemas"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
)

func listTasks(t *testing.T, h *harness, args map[string]any) (schemas.ListTasksResult, result) {
	t.Helper()
	r := h.call("list_tasks", args).ok(t)
	return decode[schemas.ListTasksResult](t, r), r
}

func taskIDs(v schemas.ListTasksResult) []string {
	out := make([]string, len(v.Tasks))
	for i, x := range v.Tasks {
		out[i] = x.ID
	}
	return out
}

// The sandbox's q follows Tallyfy's docs (process and step names only), so these titles are
// found by list_tasks' own title search.
func TestListTasksFindsOneOffTitles(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ids := sandbox.IDs

	v, r := listTasks(t, h, map[string]any{"query": "SSL certificate"})
	if !slices.Contains(taskIDs(v), ids.LiveTask) || v.SearchIncomplete || v.Page.Total != len(v.Tasks) {
		t.Errorf("query SSL certificate: %+v", v)
	}
	contains(t, "text", r.text, "Renew SSL certificate")
	if strings.Contains(r.text, "search_incomplete") {
		t.Errorf("a complete search says it was cut short: %s", r.text)
	}
	// Both Tallyfy's search and the plain one-off listing were read.
	var withQ, plain bool
	for _, l := range h.sb.RequestLog() {
		if strings.Contains(l, "/tasks?") && strings.Contains(l, "is_oneoff=true") {
			withQ = withQ || strings.Contains(l, "q=SSL")
			plain = plain || !strings.Contains(l, "q=")
		}
	}
	if !withQ || !plain {
		t.Errorf("requests %v: want one with q and one without", h.sb.RequestLog())
	}

	// Archived ones are searched when asked for, and only then.
	v, _ = listTasks(t, h, map[string]any{"query": "headcount", "archived": "only"})
	if got := taskIDs(v); len(got) != 1 || got[0] != ids.ArchivedTask || v.Tasks[0].Archived == nil || !*v.Tasks[0].Archived {
		t.Errorf("archived query headcount: %v", got)
	}
	v, r = listTasks(t, h, map[string]any{"query": "headcount"})
	if len(v.Tasks) != 0 {
		t.Errorf("live query headcount found %v", taskIDs(v))
	}
	contains(t, "text", r.text, "archived ones are hidden")
}

// fakeOneOffTasks serves n one-off tasks on GET …/tasks?is_oneoff=true, paged as asked; the
// titles of those at the given positions contain "needle". Tallyfy's q matches none of them.
// Every other request goes to the sandbox.
func fakeOneOffTasks(n int, needles map[int]string, reads *atomic.Int64) func(http.Handler) http.Handler {
	id := func(i int) string {
		sum := md5.Sum([]byte("fake-task:" + strconv.Itoa(i)))
		return hex.EncodeToString(sum[:])
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			q := r.URL.Query()
			if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/tasks") || q.Get("is_oneoff") != "true" {
				next.ServeHTTP(w, r)
				return
			}
			reads.Add(1)
			total := n
			if q.Get("q") != "" {
				total = 0
			}
			page, _ := strconv.Atoi(q.Get("page"))
			per, _ := strconv.Atoi(q.Get("per_page"))
			page, per = max(page, 1), max(per, 1)
			var items []map[string]any
			for i := (page - 1) * per; i < min(page*per, total); i++ {
				title := fmt.Sprintf("Routine task %d", i)
				if s, ok := needles[i]; ok {
					title = s
				}
				items = append(items, map[string]any{"id": id(i), "title": title, "run_id": nil, "is_oneoff_task": true,
					"status": "not-started", "owners": map[string]any{"users": []int{1001}}, "created_at": "2026-01-01T00:00:00Z",
					"last_updated": "2026-01-02T00:00:00Z", "archived_at": nil})
			}
			if items == nil {
				items = []map[string]any{}
			}
			body, _ := json.Marshal(map[string]any{"data": items, "meta": map[string]any{"pagination": map[string]any{
				"total": total, "count": len(items), "per_page": per, "current_page": page, "total_pages": max((total+per-1)/per, 1)}}})
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(body)
		})
	}
}

func TestListTasksTitleSearchIsBounded(t *testing.T) {
	t.Parallel()
	var reads atomic.Int64
	needles := map[int]string{20: "Find the needle early", 750: "Find the needle late"}
	h := newHarness(t, withWrap(fakeOneOffTasks(1234, needles, &reads)))

	v, r := listTasks(t, h, map[string]any{"query": "NEEDLE"})
	if len(v.Tasks) != 1 || v.Tasks[0].Title != "Find the needle early" || !v.SearchIncomplete {
		t.Fatalf("bounded search: %+v", v)
	}
	contains(t, "text", r.text, "search_incomplete", "first 500 of 1234", "list_tasks without query", "per_page=100, page=6")
	// Five pages of titles and one page of Tallyfy's search: no more.
	if n := reads.Load(); n != 6 {
		t.Errorf("%d task list requests, want 6", n)
	}

	// Following the advice finds the rest.
	found := false
	for page := 6; page <= 13 && !found; page++ {
		w, _ := listTasks(t, h, map[string]any{"per_page": 100, "page": page})
		for _, x := range w.Tasks {
			found = found || x.Title == "Find the needle late"
		}
	}
	if !found {
		t.Error("paging on without query as told did not reach the late match")
	}
}

// Matches are paged with the caller's page and per_page: pages are disjoint and add up.
func TestListTasksQueryPaging(t *testing.T) {
	t.Parallel()
	var reads atomic.Int64
	needles := map[int]string{}
	for i := 0; i < 230; i += 9 { // 26 matches spread over three pages of titles
		needles[i] = fmt.Sprintf("Needle %03d", i)
	}
	h := newHarness(t, withWrap(fakeOneOffTasks(230, needles, &reads)))
	var all []string
	for page := 1; page <= 3; page++ {
		v, _ := listTasks(t, h, map[string]any{"query": "needle", "per_page": 10, "page": page})
		if v.Page.Total != 26 || v.Page.TotalPages != 3 || v.Page.Page != page || v.Page.HasMore != (page < 3) || v.SearchIncomplete {
			t.Errorf("page %d: %+v", page, v.Page)
		}
		for _, x := range v.Tasks {
			if slices.Contains(all, x.ID) {
				t.Errorf("page %d repeats %s", page, x.Title)
			}
			all = append(all, x.ID)
		}
	}
	if len(all) != 26 {
		t.Errorf("%d matches over three pages, want 26", len(all))
	}
	v, r := listTasks(t, h, map[string]any{"query": "needle", "per_page": 10, "page": 4})
	if len(v.Tasks) != 0 || v.Page.HasMore {
		t.Errorf("past the end: %+v", v)
	}
	contains(t, "text", r.text, "Page 4 is past the end: there are 26 one-off tasks on 3 page(s)")
}
