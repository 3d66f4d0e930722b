package tallyfy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
)

// Look-ups and paging in an old organization (issue 18 points 3 and 5): a sandbox with a
// backlog of archived items, and the listing variants.

// startSandboxWith serves a sandbox built with opts on a loopback port.
func startSandboxWith(t testing.TB, opts ...sandbox.Option) *sbEnv {
	t.Helper()
	sb := sandbox.New(opts...)
	base, srv, err := sandbox.Listen("127.0.0.1:0", sb)
	if err != nil {
		t.Fatalf("sandbox.Listen: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return &sbEnv{sb: sb, base: base}
}

const unknownID = "0123456789abcdef0123456789abcdef"

// TestLookupBoundedInAnOldOrganization: an unknown ID costs one GET and at most
// ArchivedSearchPages pages of the archived listing, and ends in an ArchivedSearchError that
// says how far it looked, never a not-found (the item may be older) nor an unexpected error.
func TestLookupBoundedInAnOldOrganization(t *testing.T) {
	t.Parallel()
	const backlog = 3000
	env := startSandboxWith(t, sandbox.WithArchivedBacklog(backlog))
	c := env.admin(t)
	ctx := context.Background()
	for _, kind := range []Kind{KindTask, KindRun, KindTemplate} {
		n := len(env.sb.RequestLog())
		_, err := c.Lookup(ctx, kind, unknownID)
		var se *ArchivedSearchError
		if !errors.As(err, &se) || IsNotFound(err) {
			t.Fatalf("%s: Lookup(unknown) = %v, want an ArchivedSearchError", kind, err)
		}
		sent := env.requestsSince(n)
		if len(sent) != 1+DefaultArchivedSearchPages || se.Requests != len(sent) {
			t.Errorf("%s: %d requests sent, error says %d, want %d", kind, len(sent), se.Requests, 1+DefaultArchivedSearchPages)
		}
		if se.Exists || se.Searched != DefaultArchivedSearchPages*100 || se.Total < backlog || se.TimedOut || se.Unfiltered {
			t.Errorf("%s: %+v", kind, se)
		}
		want := "not among the " + se.Order + " 1000 archived "
		if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "searched in 11 requests") {
			t.Errorf("%s: %q does not say %q and the request count", kind, err, want)
		}
	}
	// The narrowest filters: one-off tasks only, every status, newest first.
	n := len(env.sb.RequestLog())
	_, _ = findAs[Task](ctx, c, KindTask, unknownID)
	for _, r := range env.requestsSince(n)[1:] {
		for _, p := range []string{"archived=only", "is_oneoff=true", "status=all", "sort=newest", "per_page=100"} {
			if !strings.Contains(r, p) {
				t.Errorf("archived task search %q lacks %s", r, p)
			}
		}
	}
	// Newer archived items are found within the bound; older ones are out of reach.
	_, recent, _ := sandbox.BacklogIDs(10)
	if r, err := findAs[Run](ctx, c, KindRun, recent); err != nil || !r.Entity().Archived {
		t.Errorf("Find(run)(recent archived) = %+v, %v", r, err)
	}
	_, _, oldTemplate := sandbox.BacklogIDs(backlog - 1)
	if _, err := findAs[Template](ctx, c, KindTemplate, oldTemplate); !errors.As(err, new(*ArchivedSearchError)) {
		t.Errorf("Find(template)(old archived) = %v, want an ArchivedSearchError", err)
	}
}

// TestLookupNotFoundWhenTheArchiveIsReadToTheEnd: a small archive is read to its end, so an
// unknown ID is Tallyfy's not-found.
func TestLookupNotFoundWhenTheArchiveIsReadToTheEnd(t *testing.T) {
	t.Parallel()
	env := startSandboxWith(t, sandbox.WithArchivedBacklog(150))
	c := env.admin(t)
	for _, kind := range []Kind{KindTask, KindRun, KindTemplate} {
		n := len(env.sb.RequestLog())
		if _, err := c.Lookup(context.Background(), kind, unknownID); !IsNotFound(err) {
			t.Errorf("%s: Lookup(unknown) = %v, want not found", kind, err)
		}
		// GET, two pages of the archived listing (the second short and the total reached), GET.
		if sent := env.requestsSince(n); len(sent) != 4 {
			t.Errorf("%s: requests %q", kind, sent)
		}
	}
}

// TestLookupBoundedInTime: the search stops at ArchivedSearchTimeout and says so.
func TestLookupBoundedInTime(t *testing.T) {
	t.Parallel()
	env := startSandboxWith(t, sandbox.WithArchivedBacklog(3000), sandbox.WithLatency(40*time.Millisecond))
	c := env.admin(t, func(cfg *Config) { cfg.ArchivedSearchTimeout = 150 * time.Millisecond })
	start := time.Now()
	_, err := findAs[Run](context.Background(), c, KindRun, unknownID)
	var se *ArchivedSearchError
	if !errors.As(err, &se) || !se.TimedOut || se.Requests >= 1+DefaultArchivedSearchPages {
		t.Fatalf("Find(run) = %v (%+v), want a search stopped by its time bound", err, se)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the search took %s", d)
	}
	if !strings.Contains(err.Error(), "time bound") {
		t.Errorf("%q does not say the time bound stopped it", err)
	}
}

// TestRunListingIgnoringArchived: under runs-ignore-archived an archived=only listing of runs
// returns live runs; each says so itself and is shown live, and a look-up of an archived run
// falls back to status=archived (docs list-processes) and finds it.
func TestRunListingIgnoringArchived(t *testing.T) {
	t.Parallel()
	env := startSandboxWith(t, sandbox.WithVariants(sandbox.VariantRunsIgnoreArchived, sandbox.VariantArchivedRunGet404))
	c := env.admin(t)
	ctx := context.Background()
	p, err := c.ListRuns(ctx, ListOptions{Archived: ArchivedOnly, PerPage: 100})
	if err != nil || len(p.Items) == 0 {
		t.Fatalf("ListRuns(only) = %+v, %v", p, err)
	}
	for _, r := range p.Items {
		if e := r.Entity(); !e.ArchivedKnown || e.Archived {
			t.Errorf("live run %s listed by archived=only is shown archived=%v known=%v", r.ID, e.Archived, e.ArchivedKnown)
		}
	}
	n := len(env.sb.RequestLog())
	got, err := findAs[Run](ctx, c, KindRun, sandbox.IDs.ArchivedRun)
	if err != nil || !got.Entity().Archived {
		t.Fatalf("Find(run)(archived) = %+v, %v", got, err)
	}
	if sent := env.requestsSince(n); len(sent) != 3 || !strings.Contains(sent[2], "status=archived") {
		t.Errorf("requests %q, want GET, archived=only, then status=archived", sent)
	}
}

// TestPagingDecidesFromTotal: has_more and total_pages come from total and the items seen,
// whatever total_pages says and whatever page size the list really serves.
func TestPagingDecidesFromTotal(t *testing.T) {
	t.Parallel()
	env := startSandboxWith(t, sandbox.WithArchivedBacklog(45), sandbox.WithVariants(sandbox.VariantTotalPagesOtherSize, sandbox.VariantTasksFixedPageSize))
	c := env.admin(t)
	ctx := context.Background()
	p, err := c.ListRuns(ctx, ListOptions{Archived: ArchivedOnly, PerPage: 20})
	if err != nil {
		t.Fatal(err)
	}
	// total_pages says 1 (computed with 100 a page); 20 of 46 were served.
	if p.Pagination.TotalPages != 1 || !p.HasMore() || p.TotalPages() != 3 {
		t.Errorf("runs page 1: %+v has_more %v total_pages %d, want has_more and 3 pages", p.Pagination, p.HasMore(), p.TotalPages())
	}
	last, err := c.ListRuns(ctx, ListOptions{Archived: ArchivedOnly, PerPage: 20, Page: 3})
	if err != nil || last.HasMore() || len(last.Items) == 0 {
		t.Errorf("runs page 3: %+v, %v", last, err)
	}
	// Tasks come 10 a page whatever per_page says: a loop that pages by total reads them all.
	seen := map[string]bool{}
	for page := 1; page < 20; page++ {
		tp, err := c.ListTasks(ctx, ListOptions{Archived: ArchivedInclude, PerPage: 100, Page: page})
		if err != nil {
			t.Fatal(err)
		}
		if len(tp.Items) > 10 || tp.PageSize != 10 {
			t.Fatalf("page %d: %d items, page size %d", page, len(tp.Items), tp.PageSize)
		}
		for _, x := range tp.Items {
			seen[x.ID] = true
		}
		if !tp.HasMore() {
			if len(seen) != tp.Pagination.Total {
				t.Errorf("stopped at page %d with %d of %d", page, len(seen), tp.Pagination.Total)
			}
			return
		}
	}
	t.Error("paging did not end")
}

// TestMembershipPagesByTotal: the membership walk decides from total and the items seen, and
// stops on an empty page, not a short one.
func TestMembershipPagesByTotal(t *testing.T) {
	t.Parallel()
	const mine = "ffffffffffffffffffffffffffffffff"
	orgs := func(from, n int) string {
		var b strings.Builder
		for i := range n {
			id := strconv.Itoa(1000000 + from + i)
			if from+i == 25 {
				id = mine
			}
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString(`{"id":"` + id + `","name":"Org ` + id + `"}`)
		}
		return b.String()
	}
	// A list that serves 10 a page whatever per_page says, and counts total_pages with 100.
	s := newStub(t, func(w http.ResponseWriter, r *http.Request) {
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		from := (page - 1) * 10
		reply(w, 200, `{"data":[`+orgs(from, max(min(10, 30-from), 0))+`],"meta":{"pagination":{"total":30,"count":10,"per_page":10,"current_page":`+strconv.Itoa(page)+`,"total_pages":1}}}`)
	})
	c := s.client(t, func(cfg *Config) { cfg.OrgID = mine })
	m, err := c.GetMembership(context.Background())
	if err != nil || m.OrgID != mine {
		t.Fatalf("GetMembership = %+v, %v (requests %d)", m, err, len(s.requests()))
	}
}

// TestPageOverTheBodyCapIsSplit: a page over MaxBodyBytes is asked again as two half pages,
// and the caller gets the page it asked for.
func TestPageOverTheBodyCapIsSplit(t *testing.T) {
	t.Parallel()
	env := startSandboxWith(t, sandbox.WithArchivedBacklog(300))
	big := env.admin(t)
	ctx := context.Background()
	whole, err := big.ListRuns(ctx, ListOptions{Archived: ArchivedOnly, PerPage: 100, Page: 2})
	if err != nil || len(whole.Items) != 100 {
		t.Fatalf("ListRuns = %v", err)
	}
	// A cap that holds 50 runs but not 100: measured on the sandbox's own answers.
	size := func(perPage int) int64 {
		req, _ := http.NewRequest(http.MethodGet, env.base+"/organizations/"+sandbox.OrgID+"/runs?archived=only&page=3&per_page="+strconv.Itoa(perPage), nil)
		req.Header.Set("Authorization", "Bearer "+sandbox.AdminToken)
		req.Header.Set("X-Tallyfy-Client", "APIClient")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		m, _ := io.Copy(io.Discard, resp.Body)
		return m
	}
	capped := env.admin(t, func(cfg *Config) { cfg.MaxBodyBytes = (size(50) + size(100)) / 2 })
	n := len(env.sb.RequestLog())
	got, err := capped.ListRuns(ctx, ListOptions{Archived: ArchivedOnly, PerPage: 100, Page: 2})
	if err != nil {
		t.Fatalf("ListRuns under the cap: %v", err)
	}
	if !slices.Equal(ids(got.Items, runID), ids(whole.Items, runID)) || got.HasMore() != whole.HasMore() || got.Pagination.Total != whole.Pagination.Total {
		t.Errorf("split page differs: %d items, has_more %v", len(got.Items), got.HasMore())
	}
	sent := env.requestsSince(n)
	if len(sent) != 3 || !strings.Contains(sent[1], "page=3&per_page=50") || !strings.Contains(sent[2], "page=4&per_page=50") {
		t.Errorf("requests %q, want per_page=100 then pages 3 and 4 of 50", sent)
	}
	// Under a cap no smaller page fits, the call fails with the cap's error.
	tiny := env.admin(t, func(cfg *Config) { cfg.MaxBodyBytes = 512 })
	var re *ResponseError
	if _, err := tiny.ListRuns(ctx, ListOptions{Archived: ArchivedOnly, PerPage: 100}); !errors.As(err, &re) || !re.TooLarge {
		t.Errorf("ListRuns under a tiny cap = %v", err)
	}
}

// TestCompletedOneOffTasksListed: task lists send status=all, so completed one-off tasks are
// seen even where Tallyfy's default hides them; a per-assignee task from the is_oneoff=true
// listing is one-off whatever its run_id.
func TestCompletedOneOffTasksListed(t *testing.T) {
	t.Parallel()
	env := startSandboxWith(t, sandbox.WithVariants(sandbox.VariantTasksHideCompleted))
	c := env.admin(t)
	p, err := c.ListTasks(context.Background(), ListOptions{PerPage: 100})
	if err != nil {
		t.Fatal(err)
	}
	var completed, perAssignee bool
	for _, x := range p.Items {
		completed = completed || x.Status == "completed"
		if x.ID == sandbox.IDs.PerAssigneeTask {
			perAssignee = x.Entity().OneOff
		}
	}
	if !completed || !perAssignee {
		t.Errorf("completed one-off listed %v, per-assignee task one-off %v", completed, perAssignee)
	}
	// The listing marks its items one-off even when they do not say (swagger Task, CLI Task).
	s := newStub(t, func(w http.ResponseWriter, r *http.Request) {
		reply(w, 200, `{"data":[{"id":"`+validID+`","title":"Timesheet","run_id":"`+unknownID+`"}],"meta":{"pagination":{"total":1,"count":1,"per_page":10,"current_page":1,"total_pages":1}}}`)
	})
	sp, err := s.client(t).ListTasks(context.Background(), ListOptions{})
	if err != nil || !sp.Items[0].Entity().OneOff || sp.Items[0].Entity().RunID != unknownID {
		t.Errorf("ListTasks item = %+v, %v, want one-off with its run_id", sp, err)
	}
}

// TestStatusAllRefusedFallsBack: a Tallyfy that refuses status=all on /tasks with a 422 naming
// status is asked again without it.
func TestStatusAllRefusedFallsBack(t *testing.T) {
	t.Parallel()
	s := newStub(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("status") == "all" {
			reply(w, 422, `{"error":true,"errors":{"status":["The selected status is invalid."]}}`)
			return
		}
		reply(w, 200, `{"data":[{"id":"`+validID+`","title":"T","is_oneoff_task":true}],"meta":{"pagination":{"total":1,"count":1,"per_page":10,"current_page":1,"total_pages":1}}}`)
	})
	p, err := s.client(t).ListTasks(context.Background(), ListOptions{})
	if err != nil || len(p.Items) != 1 {
		t.Fatalf("ListTasks = %+v, %v", p, err)
	}
	if got := s.requests(); len(got) != 2 || !strings.Contains(got[0].RawQuery, "status=all") || strings.Contains(got[1].RawQuery, "status=") {
		t.Errorf("requests %+v", got)
	}
}

// TestProcessTasksStatusAllRefused: a process's task list refused status=all is asked again
// without it, and the caller is told completed tasks may be missing.
func TestProcessTasksStatusAllRefused(t *testing.T) {
	t.Parallel()
	s := newStub(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("status") == "all" {
			reply(w, 422, `{"error":true,"errors":{"status":["The selected status is invalid."]}}`)
			return
		}
		reply(w, 200, `{"data":[{"id":"`+validID+`","title":"T","run_id":"`+validID+`"}],"meta":{"pagination":{"total":1,"count":1,"per_page":100,"current_page":1,"total_pages":1}}}`)
	})
	p, all, err := s.client(t).ProcessTasks(context.Background(), validID)
	if err != nil || len(p.Items) != 1 || all {
		t.Fatalf("ProcessTasks = %+v, all statuses %v, %v", p, all, err)
	}
	got := s.requests()
	if len(got) != 2 || !strings.HasSuffix(got[0].EscapedPath, "/runs/"+validID+"/tasks") || !strings.Contains(got[0].RawQuery, "status=all") || strings.Contains(got[1].RawQuery, "status=") {
		t.Errorf("requests %+v", got)
	}
}

// TestArchivedSearchWithoutStatusAll: the archived task search also asks again without
// status=all when Tallyfy refuses it.
func TestArchivedSearchWithoutStatusAll(t *testing.T) {
	t.Parallel()
	s := newStub(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case !strings.Contains(r.URL.RawQuery, "archived=only"):
			reply(w, 404, `{"error":true,"message":"Resource not found","code":"RESOURCE_NOT_FOUND"}`)
		case r.URL.Query().Get("status") == "all":
			reply(w, 422, `{"error":true,"errors":{"status":["The selected status is invalid."]}}`)
		default:
			reply(w, 200, `{"data":[{"id":"`+validID+`","title":"T","is_oneoff_task":true}],"meta":{"pagination":{"total":1,"count":1,"per_page":100,"current_page":1,"total_pages":1}}}`)
		}
	})
	got, err := findAs[Task](context.Background(), s.client(t), KindTask, validID)
	if err != nil || !got.Entity().Archived {
		t.Fatalf("Find(task) = %+v, %v", got, err)
	}
}

// TestSettleListedLabelsWithinBounds: an archived=include page of templates (no archived_at on
// list items) is labelled from the archived listing: every item of a small organization, and
// in an old one the items the bounded search reaches; the rest stay unknown and are counted,
// never guessed live (issue 20).
func TestSettleListedLabelsWithinBounds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	small := startSandboxWith(t).admin(t)
	p, err := small.List(ctx, KindTemplate, ListOptions{Archived: ArchivedInclude, PerPage: 100})
	if err != nil {
		t.Fatal(err)
	}
	note, err := small.Settle(ctx, KindTemplate, p.Items)
	if err != nil || note.Unknown != 0 || note.Requests != 1 {
		t.Fatalf("small organization: note %+v, err %v: want every item settled in one request", note, err)
	}
	archived := 0
	for i := range p.Items {
		e := p.Items[i].Entity()
		if !e.ArchivedKnown {
			t.Errorf("%s left unknown", e.ID)
		}
		if want, err := small.Lookup(ctx, KindTemplate, e.ID); err != nil || want.Archived != e.Archived {
			t.Errorf("%s labelled archived=%v, Lookup says %+v (%v)", e.ID, e.Archived, want, err)
		}
		if e.Archived {
			archived++
		}
	}
	if archived == 0 {
		t.Fatal("no archived template in the include page: the test shows nothing")
	}

	const backlog = 1500
	env := startSandboxWith(t, sandbox.WithArchivedBacklog(backlog))
	old := env.admin(t)
	all, err := old.List(ctx, KindTemplate, ListOptions{Archived: ArchivedInclude, PerPage: 100, Page: 15})
	if err != nil || len(all.Items) == 0 {
		t.Fatalf("page 15 of the include listing: %v (%d items)", err, len(all.Items))
	}
	n := len(env.sb.RequestLog())
	note, err = old.Settle(ctx, KindTemplate, all.Items)
	if err != nil {
		t.Fatal(err)
	}
	if sent := len(env.requestsSince(n)); sent != DefaultArchivedSearchPages || note.Requests != sent {
		t.Errorf("%d requests sent, note says %d, want the bound %d", sent, note.Requests, DefaultArchivedSearchPages)
	}
	unknown := 0
	for i := range all.Items {
		e := all.Items[i].Entity()
		if !e.ArchivedKnown {
			unknown++
			continue
		}
		if !e.Archived {
			t.Errorf("%s labelled live, though the archived listing was not read to its end", e.ID)
		}
	}
	if unknown == 0 || unknown != note.Unknown || note.Searched != DefaultArchivedSearchPages*100 {
		t.Errorf("unknown %d, note %+v: want the items past the bound counted as unknown", unknown, note)
	}
}
