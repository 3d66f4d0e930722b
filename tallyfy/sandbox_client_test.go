package tallyfy

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
)

// Every method against the sandbox: real HTTP on loopback, the sandbox following docs/tallyfy-api.md.

var sbxRequestID = regexp.MustCompile(`^sbx-[0-9]+$`)

func ids[T any](items []T, id func(*T) string) []string {
	out := make([]string, len(items))
	for i := range items {
		out[i] = id(&items[i])
	}
	return out
}

func taskID(t *Task) string         { return t.ID }
func runID(r *Run) string           { return r.ID }
func templateID(t *Template) string { return t.ID }

func TestSandboxTasks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := startSandbox(t)
	c := env.admin(t)
	ID := sandbox.IDs

	live, err := c.GetTask(ctx, ID.LiveTask)
	if err != nil {
		t.Fatalf("GetTask(live): %v", err)
	}
	if live.ID != ID.LiveTask || live.Title != "Renew SSL certificate for billing portal" || !live.IsOneoffTask || live.ArchivedAt != nil || live.RunID != nil {
		t.Errorf("GetTask(live) = %+v", live)
	}
	if e := live.Entity(); e.Kind != KindTask || !e.OneOff || e.Archived || e.Name != live.Title || e.LastUpdated == "" {
		t.Errorf("live task entity = %+v", e)
	}

	proc, err := c.GetTask(ctx, ID.ProcessTask)
	if err != nil {
		t.Fatalf("GetTask(process task): %v", err)
	}
	if proc.RunID == nil || *proc.RunID != ID.ActiveRun || proc.IsOneoffTask {
		t.Errorf("process task run_id = %v, is_oneoff = %v", proc.RunID, proc.IsOneoffTask)
	}
	if e := proc.Entity(); e.OneOff || e.RunID != ID.ActiveRun {
		t.Errorf("process task entity = %+v", e)
	}

	// An archived task is 404 on GET (sandbox INFERENCE) but found through the archived listing.
	_, err = c.GetTask(ctx, ID.ArchivedTask)
	if ae := asAPIError(t, err); ae.Status != 404 || ae.Code != "RESOURCE_NOT_FOUND" || !IsNotFound(err) {
		t.Errorf("GetTask(archived) = %v", err)
	}
	n := len(env.sb.RequestLog())
	found, err := findAs[Task](ctx, c, KindTask, ID.ArchivedTask)
	// Task list items carry no archived_at (docs list-org-tasks): the archived listing says it.
	if err != nil || found.ID != ID.ArchivedTask || !found.Entity().Archived || !found.Entity().ArchivedKnown {
		t.Fatalf("Find(task)(archived) = %+v, %v", found, err)
	}
	log := env.requestsSince(n)
	if len(log) != 2 || log[0] != "GET /api/organizations/"+sandbox.OrgID+"/tasks/"+ID.ArchivedTask ||
		!strings.HasPrefix(log[1], "GET /api/organizations/"+sandbox.OrgID+"/tasks?") ||
		!strings.Contains(log[1], "archived=only") || !strings.Contains(log[1], "is_oneoff=true") || !strings.Contains(log[1], "status=all") {
		// The narrowest filters: one-off tasks (the only ones the tools act on), of every status.
		t.Errorf("Find(task) requests = %q", log)
	}

	// Lists: default excludes archived and process tasks.
	def, err := c.ListTasks(ctx, ListOptions{PerPage: 100})
	if err != nil {
		t.Fatalf("ListTasks: %v", err)
	}
	for _, tk := range def.Items {
		if !tk.IsOneoffTask || tk.Entity().Archived || !tk.Entity().ArchivedKnown {
			t.Errorf("default list holds %s (one-off %v, archived_at %v)", tk.ID, tk.IsOneoffTask, tk.ArchivedAt)
		}
	}
	got := ids(def.Items, taskID)
	if !slices.Contains(got, ID.LiveTask) || slices.Contains(got, ID.ArchivedTask) || slices.Contains(got, ID.ProcessTask) {
		t.Errorf("default task list = %v", got)
	}
	if def.Pagination.Total != 7 || len(def.Items) != 7 || def.HasMore() {
		t.Errorf("default task list: %d items, pagination %+v (seed has 7 live one-off tasks, 2 of them per assignee)", len(def.Items), def.Pagination)
	}
	only, err := c.ListTasks(ctx, ListOptions{Archived: ArchivedOnly, PerPage: 100})
	if err != nil {
		t.Fatalf("ListTasks(only): %v", err)
	}
	for _, tk := range only.Items {
		if rec, _ := env.sb.Lookup("task", tk.ID); !rec.Archived || !tk.Entity().Archived {
			t.Errorf("archived=only list holds live task %s", tk.ID)
		}
	}
	if !slices.Contains(ids(only.Items, taskID), ID.ArchivedTask) || len(only.Items) != 2 {
		t.Errorf("archived-only tasks = %v", ids(only.Items, taskID))
	}
	incl, err := c.ListTasks(ctx, ListOptions{Archived: ArchivedInclude, PerPage: 100})
	if err != nil {
		t.Fatalf("ListTasks(include): %v", err)
	}
	if incl.Pagination.Total != def.Pagination.Total+only.Pagination.Total {
		t.Errorf("include total %d != exclude %d + only %d", incl.Pagination.Total, def.Pagination.Total, only.Pagination.Total)
	}
	// Tallyfy's q searches process and step names: a one-off task's title does not match
	// (list_tasks searches titles itself).
	q, err := c.ListTasks(ctx, ListOptions{Query: "  ssl certificate "})
	if err != nil {
		t.Fatalf("ListTasks(q): %v", err)
	}
	if got := ids(q.Items, taskID); len(got) != 0 {
		t.Errorf("ListTasks(q=ssl certificate) = %v, want none", got)
	}

	// Lifecycle: archive, find, restore, then a permanent delete.
	if err := c.ArchiveTask(ctx, ID.LiveTask); err != nil {
		t.Fatalf("ArchiveTask: %v", err)
	}
	if rec, ok := env.sb.Lookup("task", ID.LiveTask); !ok || !rec.Archived {
		t.Fatalf("after ArchiveTask the sandbox holds %+v, %v", rec, ok)
	}
	if _, err := c.GetTask(ctx, ID.LiveTask); !IsNotFound(err) {
		t.Errorf("GetTask(just archived) = %v, want 404", err)
	}
	e, err := c.Lookup(ctx, KindTask, ID.LiveTask)
	if err != nil || !e.Archived || !e.ArchivedKnown || e.ID != ID.LiveTask || e.Name != live.Title {
		t.Errorf("Lookup(archived task) = %+v, %v", e, err)
	}
	restored, err := c.RestoreTask(ctx, ID.LiveTask)
	if err != nil || restored == nil || restored.ArchivedAt != nil || restored.ID != ID.LiveTask {
		t.Fatalf("RestoreTask = %+v, %v", restored, err)
	}
	if rec, _ := env.sb.Lookup("task", ID.LiveTask); rec.Archived {
		t.Errorf("after RestoreTask the task is still archived")
	}
	_, err = c.RestoreTask(ctx, ID.LiveTask)
	if ae := asAPIError(t, err); ae.Status != 422 || ae.Code != "NOT_ARCHIVED" {
		t.Errorf("RestoreTask(live) = %v, want 422 NOT_ARCHIVED", err)
	}
	if err := c.DeleteTask(ctx, ID.ArchivedTask); err != nil {
		t.Fatalf("DeleteTask: %v", err)
	}
	if _, ok := env.sb.Lookup("task", ID.ArchivedTask); ok {
		t.Errorf("DeleteTask left the task in the sandbox")
	}
	if _, err := findAs[Task](ctx, c, KindTask, ID.ArchivedTask); !IsNotFound(err) {
		t.Errorf("Find(task)(deleted) = %v, want not found", err)
	}
	if err := c.DeleteTask(ctx, ID.ArchivedTask); !IsNotFound(err) {
		t.Errorf("DeleteTask(deleted) = %v, want 404", err)
	}
}

func TestSandboxRuns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := startSandbox(t)
	c := env.admin(t)
	ID := sandbox.IDs

	r, err := c.GetRun(ctx, ID.ActiveRun)
	if err != nil || r.ID != ID.ActiveRun || r.Status != "active" || r.ArchivedAt != nil || r.Name == "" || r.ChecklistID != ID.LiveTemplate {
		t.Fatalf("GetRun(active) = %+v, %v", r, err)
	}
	// The sandbox serves progress as the object {complete, total, percent} (swagger Run).
	if r.Progress == nil || *r.Progress != 25 {
		t.Errorf("GetRun progress %v, want 25", show(r.Progress))
	}
	ar, err := c.GetRun(ctx, ID.ArchivedRun)
	if err != nil || ar.ArchivedAt == nil || !ar.Entity().Archived {
		t.Fatalf("GetRun(archived) = %+v, %v", ar, err)
	}
	// Find(run) of an archived run needs no listing: GET answers it.
	n := len(env.sb.RequestLog())
	if fr, err := findAs[Run](ctx, c, KindRun, ID.ArchivedRun); err != nil || fr.ID != ID.ArchivedRun {
		t.Errorf("Find(run)(archived) = %+v, %v", fr, err)
	}
	if log := env.requestsSince(n); len(log) != 1 {
		t.Errorf("Find(run)(archived) sent %q, want one GET", log)
	}

	def, err := c.ListRuns(ctx, ListOptions{PerPage: 100})
	if err != nil {
		t.Fatalf("ListRuns: %v", err)
	}
	if got := ids(def.Items, runID); !slices.Contains(got, ID.ActiveRun) || slices.Contains(got, ID.ArchivedRun) ||
		len(got) != env.sb.Count("run", false) {
		t.Errorf("default runs = %v", got)
	}
	only, err := c.ListRuns(ctx, ListOptions{Archived: ArchivedOnly})
	if err != nil {
		t.Fatalf("ListRuns(only): %v", err)
	}
	if got := ids(only.Items, runID); !slices.Contains(got, ID.ArchivedRun) || len(got) != env.sb.Count("run", true) {
		t.Errorf("archived-only runs = %v", got)
	}
	incl, err := c.ListRuns(ctx, ListOptions{Archived: ArchivedInclude, PerPage: 100})
	if err != nil {
		t.Fatalf("ListRuns(include): %v", err)
	}
	if got := ids(incl.Items, runID); !slices.Contains(got, ID.ArchivedRun) || !slices.Contains(got, ID.ActiveRun) {
		t.Errorf("include runs = %v", got)
	}
	q, err := c.ListRuns(ctx, ListOptions{Query: "jane cooper"})
	if err != nil {
		t.Fatalf("ListRuns(q): %v", err)
	}
	if got := ids(q.Items, runID); len(got) != 1 || got[0] != ID.ActiveRun {
		t.Errorf("ListRuns(q=jane cooper) = %v", got)
	}

	// Archive → archived run in the body, tasks cascade; archiving again is 404 in the sandbox.
	archived, err := c.ArchiveRun(ctx, ID.ActiveRun)
	if err != nil || archived == nil || archived.Status != "archived" || archived.ArchivedAt == nil || archived.ID != ID.ActiveRun {
		t.Fatalf("ArchiveRun = %+v, %v", archived, err)
	}
	if rec, _ := env.sb.Lookup("task", ID.ProcessTask); !rec.Archived {
		t.Errorf("archiving the run did not archive its task")
	}
	if _, err := c.ArchiveRun(ctx, ID.ActiveRun); !IsNotFound(err) {
		t.Errorf("ArchiveRun(archived) = %v, want 404", err)
	}
	act, err := c.ActivateRun(ctx, ID.ActiveRun)
	if err != nil || act == nil || act.ArchivedAt != nil || act.Status != "active" {
		t.Fatalf("ActivateRun = %+v, %v", act, err)
	}
	if e, err := c.Lookup(ctx, KindRun, ID.ActiveRun); err != nil || e.Archived || e.Status != "active" {
		t.Errorf("Lookup(activated run) = %+v, %v", e, err)
	}

	// Permanent delete: live → 422, member → 403, admin on archived → gone.
	err = c.DeleteRun(ctx, ID.ActiveRun)
	if ae := asAPIError(t, err); ae.Status != 422 || ae.Code != "NOT_ARCHIVED" || !strings.Contains(ae.Message, "archive it first") {
		t.Errorf("DeleteRun(live) = %v", err)
	}
	err = env.member(t).DeleteRun(ctx, ID.ArchivedRun)
	if ae := asAPIError(t, err); ae.Status != 403 || ae.Code != "FORBIDDEN" {
		t.Errorf("member DeleteRun = %v", err)
	}
	if _, ok := env.sb.Lookup("run", ID.ArchivedRun); !ok {
		t.Fatalf("a refused delete removed the run")
	}
	if err := c.DeleteRun(ctx, ID.ArchivedRun); err != nil {
		t.Fatalf("DeleteRun: %v", err)
	}
	if _, ok := env.sb.Lookup("run", ID.ArchivedRun); ok {
		t.Errorf("DeleteRun left the run")
	}
	if _, err := findAs[Run](ctx, c, KindRun, ID.ArchivedRun); !IsNotFound(err) {
		t.Errorf("Find(run)(deleted) = %v, want not found", err)
	}
}

func TestSandboxTemplates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := startSandbox(t)
	c := env.admin(t)
	ID := sandbox.IDs

	tpl, err := c.GetTemplate(ctx, ID.LiveTemplate)
	if err != nil || tpl.ID != ID.LiveTemplate || tpl.Title != "Employee Onboarding" || tpl.ArchivedAt != nil || tpl.StepsCount != nil {
		t.Fatalf("GetTemplate(live) = %+v, %v", tpl, err)
	}
	// Documented: an archived template is 404 on GET; Find goes to the archived listing.
	_, err = c.GetTemplate(ctx, ID.ArchivedTemplate)
	if ae := asAPIError(t, err); ae.Status != 404 || !ae.IsNotFound() || !sbxRequestID.MatchString(ae.RequestID) {
		t.Errorf("GetTemplate(archived) = %v", err)
	}
	n := len(env.sb.RequestLog())
	found, err := findAs[Template](ctx, c, KindTemplate, ID.ArchivedTemplate)
	if err != nil || found.ID != ID.ArchivedTemplate || !found.Entity().Archived || found.Title != "Legacy Expense Report (2023)" {
		t.Fatalf("Find(template)(archived) = %+v, %v", found, err)
	}
	want := []string{
		"GET /api/organizations/" + sandbox.OrgID + "/checklists/" + ID.ArchivedTemplate,
		"GET /api/organizations/" + sandbox.OrgID + "/checklists?archived=only&page=1&per_page=100",
	}
	if log := env.requestsSince(n); !slices.Equal(log, want) {
		t.Errorf("Find(template) requests = %q, want %q", log, want)
	}
	e, err := c.Lookup(ctx, KindTemplate, ID.ArchivedTemplate)
	if err != nil || !e.Archived || e.Kind != KindTemplate || e.Name != "Legacy Expense Report (2023)" || e.Fingerprint() == "" {
		t.Errorf("Lookup(archived template) = %+v, %v", e, err)
	}

	def, err := c.ListTemplates(ctx, ListOptions{})
	if err != nil {
		t.Fatalf("ListTemplates: %v", err)
	}
	if got := ids(def.Items, templateID); slices.Contains(got, ID.ArchivedTemplate) || len(got) != env.sb.Count("template", false) {
		t.Errorf("default templates = %v", got)
	}
	only, err := c.ListTemplates(ctx, ListOptions{Archived: ArchivedOnly})
	if err != nil {
		t.Fatalf("ListTemplates(only): %v", err)
	}
	if got := ids(only.Items, templateID); !slices.Equal(got, []string{ID.ArchivedTemplate}) {
		t.Errorf("archived-only templates = %v", got)
	}
	incl, err := c.ListTemplates(ctx, ListOptions{Archived: ArchivedInclude})
	if err != nil {
		t.Fatalf("ListTemplates(include): %v", err)
	}
	if incl.Pagination.Total != env.sb.Count("template", false)+env.sb.Count("template", true) {
		t.Errorf("include templates total = %d", incl.Pagination.Total)
	}
	q, err := c.ListTemplates(ctx, ListOptions{Query: "ONBOARDING", Archived: ArchivedInclude})
	if err != nil {
		t.Fatalf("ListTemplates(q): %v", err)
	}
	for _, it := range q.Items {
		if !strings.Contains(strings.ToLower(it.Title), "onboarding") {
			t.Errorf("q=ONBOARDING returned %q", it.Title)
		}
	}
	if len(q.Items) != 2 {
		t.Errorf("q=ONBOARDING returned %d templates, want 2", len(q.Items))
	}

	// Restore of a live template: 422; delete of a live template: 422.
	_, err = c.RestoreTemplate(ctx, ID.LiveTemplate)
	if ae := asAPIError(t, err); ae.Status != 422 {
		t.Errorf("RestoreTemplate(live) = %v", err)
	}
	_, err = c.DeleteTemplate(ctx, ID.LiveTemplate)
	if ae := asAPIError(t, err); ae.Status != 422 || ae.Code != "NOT_ARCHIVED" {
		t.Errorf("DeleteTemplate(live) = %v", err)
	}

	d, err := c.ArchiveTemplate(ctx, ID.LiveTemplate)
	if err != nil || d == nil || !strings.Contains(d.Message, "deleted") || string(d.DeletedReferences) != "{}" {
		t.Fatalf("ArchiveTemplate = %+v, %v", d, err)
	}
	if rec, _ := env.sb.Lookup("template", ID.LiveTemplate); !rec.Archived {
		t.Errorf("ArchiveTemplate did not archive")
	}
	rt, err := c.RestoreTemplate(ctx, ID.LiveTemplate)
	if err != nil || rt == nil || rt.ArchivedAt != nil || rt.ID != ID.LiveTemplate {
		t.Fatalf("RestoreTemplate = %+v, %v", rt, err)
	}

	_, err = env.member(t).DeleteTemplate(ctx, ID.ArchivedTemplate)
	if ae := asAPIError(t, err); ae.Status != 403 {
		t.Errorf("member DeleteTemplate = %v", err)
	}
	dd, err := c.DeleteTemplate(ctx, ID.ArchivedTemplate)
	if err != nil || dd == nil || !strings.Contains(dd.Message, "permanently deleted") {
		t.Fatalf("DeleteTemplate = %+v, %v", dd, err)
	}
	if _, ok := env.sb.Lookup("template", ID.ArchivedTemplate); ok {
		t.Errorf("DeleteTemplate left the template")
	}
	if _, err := findAs[Template](ctx, c, KindTemplate, ID.ArchivedTemplate); !IsNotFound(err) {
		t.Errorf("Find(template)(deleted) = %v, want not found", err)
	}
}

func TestSandboxLookupEachKind(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := startSandbox(t)
	c := env.member(t)
	ID := sandbox.IDs
	cases := []struct {
		kind     Kind
		id       string
		archived bool
	}{
		{KindTask, ID.LiveTask, false},
		{KindTask, ID.ArchivedTask, true},
		{KindRun, ID.CompleteRun, false},
		{KindRun, ID.ArchivedRun, true},
		{KindTemplate, ID.LiveTemplate, false},
		{KindTemplate, ID.ArchivedTemplate, true},
	}
	for _, tc := range cases {
		e, err := c.Lookup(ctx, tc.kind, tc.id)
		if err != nil {
			t.Errorf("Lookup(%s, %s): %v", tc.kind, tc.id, err)
			continue
		}
		rec, ok := env.sb.Lookup(string(tc.kind), tc.id)
		if !ok {
			t.Fatalf("sandbox does not know %s %s", tc.kind, tc.id)
		}
		if e.Kind != tc.kind || e.ID != tc.id || e.Archived != tc.archived || e.Name != rec.Name || e.LastUpdated != rec.LastUpdated {
			t.Errorf("Lookup(%s, %s) = %+v, sandbox has %+v", tc.kind, tc.id, e, rec)
		}
		if !e.ArchivedKnown {
			t.Errorf("Lookup(%s, %s): archived state unknown", tc.kind, tc.id)
		}
		// Only a run's GET shows archived_at; archived tasks and templates are seen through
		// list items, which carry none (docs list-org-tasks, list-templates).
		if tc.archived && tc.kind == KindRun && e.ArchivedAt == "" {
			t.Errorf("Lookup(%s, %s): archived run without ArchivedAt", tc.kind, tc.id)
		}
	}
	// Unknown (well-formed) ids are "not found" for every kind; an unknown kind is an error
	// without a request.
	for _, k := range []Kind{KindTask, KindRun, KindTemplate} {
		if _, err := c.Lookup(ctx, k, validID); !IsNotFound(err) {
			t.Errorf("Lookup(%s, unknown) = %v, want not found", k, err)
		}
	}
	before := env.sb.Requests()
	if _, err := c.Lookup(ctx, Kind("folder"), validID); err == nil || !strings.Contains(err.Error(), "unknown kind") {
		t.Errorf("Lookup(folder) = %v", err)
	}
	if env.sb.Requests() != before {
		t.Errorf("Lookup of an unknown kind sent a request")
	}
}

func TestSandboxListOptions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := startSandbox(t)
	c := env.admin(t)
	org := "/api/organizations/" + sandbox.OrgID

	p1, err := c.ListRuns(ctx, ListOptions{Page: 1, PerPage: 4})
	if err != nil {
		t.Fatalf("ListRuns page 1: %v", err)
	}
	live := env.sb.Count("run", false)
	wantPages := (live + 3) / 4
	if p1.Pagination != (Pagination{Total: live, Count: 4, PerPage: 4, CurrentPage: 1, TotalPages: wantPages}) || !p1.HasMore() {
		t.Errorf("page 1 pagination = %+v (live runs %d)", p1.Pagination, live)
	}
	last, err := c.ListRuns(ctx, ListOptions{Page: wantPages, PerPage: 4})
	if err != nil {
		t.Fatalf("ListRuns last page: %v", err)
	}
	if last.HasMore() || last.Pagination.CurrentPage != wantPages || len(last.Items) != live-4*(wantPages-1) {
		t.Errorf("last page = %d items, %+v", len(last.Items), last.Pagination)
	}
	seen := map[string]bool{}
	for _, r := range append(p1.Items, last.Items...) {
		if seen[r.ID] {
			t.Errorf("run %s on two pages", r.ID)
		}
		seen[r.ID] = true
	}
	// A single page answers `links: []`; it must decode all the same.
	all, err := c.ListTemplates(ctx, ListOptions{PerPage: 100})
	if err != nil || all.HasMore() || all.Pagination.TotalPages != 1 {
		t.Errorf("single page = %+v, %v", all, err)
	}
	// per_page above the maximum is clamped by the client; zero and negatives are left out.
	n := len(env.sb.RequestLog())
	if _, err := c.ListTemplates(ctx, ListOptions{PerPage: 1000, Page: -3}); err != nil {
		t.Errorf("ListTemplates(per_page 1000): %v", err)
	}
	if _, err := c.ListTasks(ctx, ListOptions{Query: "a&b=c", Archived: ArchivedInclude, Page: 2, PerPage: 3}); err != nil {
		t.Errorf("ListTasks: %v", err)
	}
	if _, err := c.ListRuns(ctx, ListOptions{Archived: ArchivedExclude, Query: "   "}); err != nil {
		t.Errorf("ListRuns: %v", err)
	}
	want := []string{
		"GET " + org + "/checklists?per_page=100",
		"GET " + org + "/tasks?archived=true&is_oneoff=true&page=2&per_page=3&q=a%26b%3Dc&status=all",
		"GET " + org + "/runs",
	}
	if got := env.requestsSince(n); !slices.Equal(got, want) {
		t.Errorf("list requests = %q\nwant %q", got, want)
	}
	// A bad Archived value is refused before any request.
	before := env.sb.Requests()
	if _, err := c.ListRuns(ctx, ListOptions{Archived: "all"}); err == nil || !strings.Contains(err.Error(), "archived") {
		t.Errorf("ListRuns(archived=all) = %v", err)
	}
	if env.sb.Requests() != before {
		t.Errorf("a bad Archived value sent a request")
	}
}

// TestSandboxErrorMapping checks every error status the sandbox produces, decoded into
// *APIError with status, code, message and the X-Request-Id.
func TestSandboxErrorMapping(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := startSandbox(t)
	ID := sandbox.IDs
	admin, member := env.admin(t), env.member(t)
	badToken := newTestClient(t, fastConfig(env.base, "not-a-valid-token", sandbox.OrgID))
	otherOrg := newTestClient(t, fastConfig(env.base, sandbox.AdminToken, "ffffffffffffffffffffffffffffffff"))
	wrongBase := newTestClient(t, fastConfig(strings.TrimSuffix(env.base, "/api")+"/v9", sandbox.AdminToken, sandbox.OrgID))

	cases := []struct {
		name     string
		call     func() error
		status   int
		code     string
		msg      string
		notFound bool
	}{
		{"401 bad token", func() error { return discard(badToken.GetRun(ctx, ID.ActiveRun)) }, 401, "UNAUTHENTICATED", "Unauthenticated.", false},
		{"403 member permanent delete template", func() error { return discard(member.DeleteTemplate(ctx, ID.ArchivedTemplate)) }, 403, "FORBIDDEN", "administrators", false},
		{"403 member permanent delete run", func() error { return member.DeleteRun(ctx, ID.ArchivedRun) }, 403, "FORBIDDEN", "administrators", false},
		{"403 wrong org", func() error { return discard(otherOrg.GetTemplate(ctx, ID.LiveTemplate)) }, 403, "FORBIDDEN", "organization", false},
		{"404 resource", func() error { return discard(admin.GetRun(ctx, validID)) }, 404, "RESOURCE_NOT_FOUND", "Resource not found", true},
		{"404 endpoint", func() error { return discard(wrongBase.GetRun(ctx, ID.ActiveRun)) }, 404, "ENDPOINT_NOT_FOUND", "API endpoint not found", false},
		{"422 delete live run", func() error { return admin.DeleteRun(ctx, ID.CompleteRun) }, 422, "NOT_ARCHIVED", "archive it first", false},
		{"422 delete live template", func() error { return discard(admin.DeleteTemplate(ctx, ID.LiveTemplate)) }, 422, "NOT_ARCHIVED", "archive it first", false},
		{"400 archive process task", func() error { return admin.ArchiveTask(ctx, ID.ProcessTask) }, 400, "NOT_ONEOFF_TASK", "one-off", false},
	}
	for _, tc := range cases {
		before := env.sb.Requests()
		err := tc.call()
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		ae := asAPIError(t, err)
		if ae.Status != tc.status || ae.Code != tc.code || !strings.Contains(ae.Message, tc.msg) {
			t.Errorf("%s: got %d %q %q", tc.name, ae.Status, ae.Code, ae.Message)
		}
		if !sbxRequestID.MatchString(ae.RequestID) || !strings.Contains(err.Error(), "[request "+ae.RequestID+"]") {
			t.Errorf("%s: request id %q, error %q", tc.name, ae.RequestID, err)
		}
		if IsNotFound(err) != tc.notFound || ae.IsNotFound() != tc.notFound || StatusOf(err) != tc.status {
			t.Errorf("%s: IsNotFound %v, StatusOf %d", tc.name, IsNotFound(err), StatusOf(err))
		}
		if strings.Contains(err.Error(), sandbox.AdminToken) || strings.Contains(err.Error(), sandbox.MemberToken) {
			t.Errorf("%s: error carries the token: %v", tc.name, err)
		}
		if ae.Method == "" || !strings.HasPrefix(ae.Path, "/organizations/") {
			t.Errorf("%s: method %q path %q", tc.name, ae.Method, ae.Path)
		}
		// None of these is retried.
		if d := env.sb.Requests() - before; d != 1 {
			t.Errorf("%s: %d requests, want 1", tc.name, d)
		}
	}
	if StatusOf(errors.New("plain")) != 0 || IsNotFound(errors.New("plain")) {
		t.Errorf("StatusOf/IsNotFound of a plain error")
	}
}

// TestSandboxAcceptsTheClientsIDs: the sandbox's ID format (its own copy: it cannot import
// this package) is the client's.
func TestSandboxAcceptsTheClientsIDs(t *testing.T) {
	if sandbox.IDPattern != IDPattern {
		t.Errorf("sandbox IDs %s, client IDs %s", sandbox.IDPattern, IDPattern)
	}
}

// TestSandboxProcessTasks: GET /runs/{id}/tasks lists exactly the run's tasks (an archived
// run's too) with the total, and is 404 for a run that does not exist.
func TestSandboxProcessTasks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := startSandbox(t)
	c := env.member(t)
	ID := sandbox.IDs

	p, all, err := c.ProcessTasks(ctx, ID.ActiveRun)
	if err != nil || !all {
		t.Fatalf("ProcessTasks(active run): %v", err)
	}
	if len(p.Items) < 2 || p.Pagination.Total != len(p.Items) || !slices.Contains(ids(p.Items, taskID), ID.ProcessTask) {
		t.Fatalf("ProcessTasks(active run) = %d items, total %d: %v", len(p.Items), p.Pagination.Total, ids(p.Items, taskID))
	}
	for _, x := range p.Items {
		if x.RunID == nil || *x.RunID != ID.ActiveRun || x.Title == "" {
			t.Errorf("item not of the run: %+v", x)
		}
	}
	// An archived run's tasks (archived with it) are listed too.
	arch, _, err := c.ProcessTasks(ctx, ID.ArchivedRun)
	if err != nil || len(arch.Items) == 0 || arch.Pagination.Total != len(arch.Items) {
		t.Fatalf("ProcessTasks(archived run) = %+v, %v", arch, err)
	}
	_, _, err = c.ProcessTasks(ctx, strings.Repeat("0", 32))
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 404 {
		t.Errorf("ProcessTasks(unknown) err = %v, want a 404", err)
	}
	var bad *InvalidIDError
	if _, _, err := c.ProcessTasks(ctx, "../me"); !errors.As(err, &bad) {
		t.Errorf("ProcessTasks(bad id) err = %v, want InvalidIDError", err)
	}
}
