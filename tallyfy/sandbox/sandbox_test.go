package sandbox

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// ---------------------------------------------------------------------------
// helpers

type result struct {
	status int
	header http.Header
	body   []byte
}

func (r result) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v: %q", err, r.body)
	}
	return m
}

func (r result) data(t *testing.T) map[string]any {
	t.Helper()
	d, ok := r.json(t)["data"].(map[string]any)
	if !ok {
		t.Fatalf("no data object in %s", r.body)
	}
	return d
}

func (r result) list(t *testing.T) []map[string]any {
	t.Helper()
	raw, ok := r.json(t)["data"].([]any)
	if !ok {
		t.Fatalf("no data array in %s", r.body)
	}
	out := make([]map[string]any, len(raw))
	for i, v := range raw {
		out[i] = v.(map[string]any)
	}
	return out
}

func (r result) pagination(t *testing.T) map[string]any {
	t.Helper()
	meta, ok := r.json(t)["meta"].(map[string]any)
	if !ok {
		t.Fatalf("no meta in %s", r.body)
	}
	return meta["pagination"].(map[string]any)
}

type env struct {
	t   *testing.T
	sb  *Sandbox
	srv *httptest.Server
	cl  *http.Client
}

func newEnv(t *testing.T, opts ...Option) *env {
	t.Helper()
	sb := New(opts...)
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	return &env{t: t, sb: sb, srv: srv, cl: srv.Client()}
}

func org(path string) string { return "/api/organizations/" + OrgID + path }

// req sends a request with the given token ("" = no Authorization) and the
// X-Tallyfy-Client header.
func (e *env) req(method, path, token string) result {
	e.t.Helper()
	return e.reqH(method, path, token, map[string]string{"X-Tallyfy-Client": "APIClient"})
}

func (e *env) reqH(method, path, token string, hdr map[string]string) result {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Accept", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := e.cl.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return result{status: resp.StatusCode, header: resp.Header, body: b}
}

func (e *env) admin(method, path string) result {
	e.t.Helper()
	return e.req(method, path, AdminToken)
}

func (e *env) member(method, path string) result {
	e.t.Helper()
	return e.req(method, path, MemberToken)
}

func wantStatus(t *testing.T, r result, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
}

func wantError(t *testing.T, r result, status int, code string) map[string]any {
	t.Helper()
	wantStatus(t, r, status)
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want application/json", ct)
	}
	m := r.json(t)
	if m["error"] != true || m["code"] != code {
		t.Fatalf("error body %s, want error=true code=%s", r.body, code)
	}
	if msg, _ := m["message"].(string); msg == "" {
		t.Fatalf("error body %s has no message", r.body)
	}
	return m
}

func wantEmpty(t *testing.T, r result, status int) {
	t.Helper()
	wantStatus(t, r, status)
	if len(r.body) != 0 {
		t.Fatalf("body %q, want empty", r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "" {
		t.Fatalf("Content-Type %q on an empty body", ct)
	}
}

func ids(items []map[string]any) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it["id"].(string)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

var hex32 = regexp.MustCompile(`^[a-f0-9]{32}$`)

// ---------------------------------------------------------------------------
// seed and identity

func TestSeedIDs(t *testing.T) {
	sum := md5.Sum([]byte("org:sandbox"))
	if OrgID != hex.EncodeToString(sum[:]) {
		t.Fatalf("OrgID %s is not hex(md5(\"org:sandbox\"))", OrgID)
	}
	all := []string{OrgID, IDs.LiveTask, IDs.ArchivedTask, IDs.ProcessTask, IDs.ActiveRun, IDs.CompleteRun,
		IDs.ArchivedRun, IDs.LiveTemplate, IDs.ArchivedTemplate}
	seen := map[string]bool{}
	for _, id := range all {
		if !hex32.MatchString(id) {
			t.Errorf("id %q is not 32 lowercase hex", id)
		}
		if seen[id] {
			t.Errorf("id %q repeated", id)
		}
		seen[id] = true
	}
	sb := New()
	checks := []struct {
		kind, id string
		archived bool
		status   string
	}{
		{"task", IDs.LiveTask, false, "in-progress"},
		{"task", IDs.ArchivedTask, true, "not-started"},
		{"task", IDs.ProcessTask, false, "in-progress"},
		{"run", IDs.ActiveRun, false, "active"},
		{"run", IDs.CompleteRun, false, "complete"},
		{"run", IDs.ArchivedRun, true, "archived"},
		{"template", IDs.LiveTemplate, false, "active"},
		{"template", IDs.ArchivedTemplate, true, "active"},
	}
	for _, c := range checks {
		r, ok := sb.Lookup(c.kind, c.id)
		if !ok || r.Archived != c.archived || r.Status != c.status || r.Kind != c.kind || r.ID != c.id || r.Name == "" || r.LastUpdated == "" {
			t.Errorf("Lookup(%s, %s) = %+v, %v", c.kind, c.id, r, ok)
		}
	}
	if n := sb.Count("template", false); n < 3 {
		t.Errorf("%d live templates, want >= 3", n)
	}
	if n := sb.Count("template", true); n < 1 {
		t.Errorf("%d archived templates, want >= 1", n)
	}
	if n := sb.Count("run", false) + sb.Count("run", true); n < 8 {
		t.Errorf("%d runs, want >= 8", n)
	}
	if n := sb.Count("run", true); n < 2 {
		t.Errorf("%d archived runs, want >= 2", n)
	}
	// Deterministic: two sandboxes serve identical bytes.
	a, b := newEnv(t), newEnv(t)
	for _, p := range []string{"/tasks?archived=true&per_page=100", "/runs?archived=true&per_page=100", "/checklists?archived=true&per_page=100"} {
		ra, rb := a.admin("GET", org(p)), b.admin("GET", org(p))
		// links hold the server's host; strip them.
		strip := regexp.MustCompile(`http://127\.0\.0\.1:\d+`)
		if strip.ReplaceAllString(string(ra.body), "") != strip.ReplaceAllString(string(rb.body), "") {
			t.Errorf("%s differs between two sandboxes", p)
		}
	}
}

func TestSeedShapes(t *testing.T) {
	e := newEnv(t)
	// Every seeded record's timestamps are 2026 ISO-8601 with Z, ids are hex.
	ts := regexp.MustCompile(`^2026-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)
	checkTS := func(kind string, m map[string]any, fields ...string) {
		for _, f := range fields {
			v, ok := m[f]
			if !ok {
				t.Errorf("%s %s: missing %s", kind, m["id"], f)
				continue
			}
			if v == nil {
				continue
			}
			if s, _ := v.(string); !ts.MatchString(s) {
				t.Errorf("%s %s: %s = %v", kind, m["id"], f, v)
			}
		}
	}
	// Task list items as docs list-org-tasks shows them: owners as user objects, no
	// archived_at (only the listing's archived= filter tells).
	tasks := e.admin("GET", org("/tasks?archived=true&per_page=100")).list(t)
	archivedIDs := ids(e.admin("GET", org("/tasks?archived=only&per_page=100")).list(t))
	oneoff, archivedOneoff, process, oneoffInRun := 0, 0, 0, 0
	for _, m := range tasks {
		checkTS("task", m, "started_at", "deadline", "created_at", "last_updated", "completed_at")
		if _, ok := m["archived_at"]; ok {
			t.Errorf("task list item %s carries archived_at (docs list-org-tasks shows none)", m["id"])
		}
		for _, f := range []string{"id", "increment_id", "title", "alias", "run_id", "checklist_id", "step_id", "is_oneoff_task",
			"status", "status_label", "task_type", "owners"} {
			if _, ok := m[f]; !ok {
				t.Errorf("task %s: missing %s", m["id"], f)
			}
		}
		if m["task_type"] != "task" {
			t.Errorf("task_type %v", m["task_type"])
		}
		switch m["status"] {
		case "not-started", "in-progress", "completed":
		default:
			t.Errorf("task status %v", m["status"])
		}
		own := m["owners"].(map[string]any)
		users, ok := own["users"].([]any)
		if !ok || len(users) == 0 || own["guests"] == nil || own["groups"] == nil {
			t.Errorf("owners %v", own)
		}
		for _, u := range users {
			if um, _ := u.(map[string]any); um["id"] == nil || um["full_name"] == "" {
				t.Errorf("owner %v is not a user object {id, full_name}", u)
			}
		}
		if m["is_oneoff_task"] == true {
			oneoff++
			if m["run_id"] != nil {
				oneoffInRun++ // created once per assignee: in a container run
			}
			if m["checklist_id"] != nil || m["step_id"] != nil {
				t.Errorf("one-off task %s has template links", m["id"])
			}
			if contains(archivedIDs, m["id"].(string)) {
				archivedOneoff++
			}
		} else {
			process++
			for _, f := range []string{"run_id", "checklist_id", "step_id"} {
				if s, _ := m[f].(string); !hex32.MatchString(s) {
					t.Errorf("process task %s: %s = %v", m["id"], f, m[f])
				}
			}
		}
	}
	if oneoff < 6 || archivedOneoff < 2 || process < 3 || oneoffInRun < 1 {
		t.Errorf("one-off %d (archived %d, in a run %d), process %d", oneoff, archivedOneoff, oneoffInRun, process)
	}

	runs := e.admin("GET", org("/runs?archived=true&per_page=100")).list(t)
	statuses := map[string]int{}
	for _, m := range runs {
		checkTS("run", m, "created_at", "started_at", "last_updated", "archived_at", "completed_at", "due_date")
		for _, f := range []string{"id", "increment_id", "checklist_id", "checklist_title", "name", "summary", "status", "progress",
			"whole_progress", "starred", "type", "is_public", "started_by", "owner_id", "due_date_passed"} {
			if _, ok := m[f]; !ok {
				t.Errorf("run %s: missing %s", m["id"], f)
			}
		}
		if _, ok := m["started_by"].(float64); !ok {
			t.Errorf("started_by %v is not a number", m["started_by"])
		}
		// progress as the swagger's Run shows it.
		if p, _ := m["progress"].(map[string]any); p == nil || p["percent"] == nil || p["complete"] == nil || p["total"] == nil {
			t.Errorf("run %s: progress %v is not {complete, total, percent}", m["id"], m["progress"])
		}
		if _, ok := m["prerun"].([]any); !ok {
			t.Errorf("run %s: prerun %v is not a list", m["id"], m["prerun"])
		}
		statuses[m["status"].(string)]++
	}
	if statuses["active"] < 2 || statuses["complete"] < 2 || statuses["archived"] < 2 || statuses["problem"] < 1 {
		t.Errorf("run statuses %v", statuses)
	}

	tpls := e.admin("GET", org("/checklists?archived=true&per_page=100")).list(t)
	for _, m := range tpls {
		// Template list items as docs list-templates shows them: no archived_at, owner_id
		// and created_by strings.
		checkTS("template", m, "created_at", "last_updated")
		if _, ok := m["archived_at"]; ok {
			t.Errorf("template list item %s carries archived_at (docs list-templates shows none)", m["id"])
		}
		if _, ok := m["owner_id"].(string); !ok {
			t.Errorf("template %s: owner_id %v is not a string", m["id"], m["owner_id"])
		}
		for _, f := range []string{"id", "title", "summary", "type", "status", "starred", "owner_id", "created_by",
			"steps_count", "is_pinned"} {
			if _, ok := m[f]; !ok {
				t.Errorf("template %s: missing %s", m["id"], f)
			}
		}
		if m["type"] != "procedure" {
			t.Errorf("template type %v", m["type"])
		}
	}
	if len(tpls) < 4 {
		t.Errorf("%d templates", len(tpls))
	}
}

// ---------------------------------------------------------------------------
// auth and routing

func TestAuth(t *testing.T) {
	e := newEnv(t)
	path := org("/tasks")
	cases := []struct {
		name   string
		hdr    map[string]string
		token  string
		status int
		code   string
	}{
		{"no bearer", map[string]string{"X-Tallyfy-Client": "APIClient"}, "", 401, "UNAUTHENTICATED"},
		{"bad token", map[string]string{"X-Tallyfy-Client": "APIClient"}, "nope", 401, "UNAUTHENTICATED"},
		{"basic auth", map[string]string{"X-Tallyfy-Client": "APIClient", "Authorization": "Basic " + AdminToken}, "", 401, "UNAUTHENTICATED"},
		{"empty bearer", map[string]string{"X-Tallyfy-Client": "APIClient", "Authorization": "Bearer "}, "", 401, "UNAUTHENTICATED"},
		{"no client header", map[string]string{}, AdminToken, 401, "UNAUTHENTICATED"},
		{"no client header, member", map[string]string{}, MemberToken, 401, "UNAUTHENTICATED"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.reqH("GET", path, c.token, c.hdr)
			m := wantError(t, r, c.status, c.code)
			if m["message"] != "Unauthenticated." {
				t.Errorf("message %v", m["message"])
			}
		})
	}
	// 401 comes before routing: even an unknown endpoint is 401 without a token.
	wantError(t, e.req("GET", "/api/nowhere", ""), 401, "UNAUTHENTICATED")

	// Lower-case scheme is accepted.
	r := e.reqH("GET", path, "", map[string]string{"X-Tallyfy-Client": "APIClient", "Authorization": "bearer " + MemberToken})
	wantStatus(t, r, 200)

	// Wrong organization: 403 on every endpoint, before id checks.
	other := strings.Repeat("0", 32)
	for _, p := range []string{"/tasks", "/tasks/" + IDs.LiveTask, "/runs", "/checklists/bad-id"} {
		r := e.admin("GET", "/api/organizations/"+other+p)
		m := wantError(t, r, 403, "FORBIDDEN")
		if m["message"] != "You don't have permission to access this organization." {
			t.Errorf("message %v", m["message"])
		}
	}
	wantError(t, e.admin("DELETE", "/api/organizations/not-an-org/runs/"+IDs.ArchivedRun+"/delete"), 403, "FORBIDDEN")
	if _, ok := e.sb.Lookup("run", IDs.ArchivedRun); !ok {
		t.Fatal("a wrong-org delete deleted the run")
	}
}

func TestRouting(t *testing.T) {
	e := newEnv(t)
	// With and without /api.
	wantStatus(t, e.admin("GET", "/organizations/"+OrgID+"/tasks"), 200)
	wantStatus(t, e.admin("GET", org("/tasks")), 200)
	wantStatus(t, e.admin("GET", "/organizations/"+OrgID+"/runs/"+IDs.ActiveRun), 200)

	notFound := []struct{ method, path string }{
		{"GET", org("/templates")},
		{"GET", org("/templates/" + IDs.LiveTemplate)},
		{"GET", org("/processes")},
		{"GET", org("/members")},
		{"POST", org("/runs")},
		{"PATCH", org("/runs/" + IDs.ActiveRun)},
		{"PUT", org("/runs/" + IDs.ActiveRun + "/restore")},           // runs have /activate, not /restore
		{"PUT", org("/checklists/" + IDs.LiveTemplate + "/activate")}, // templates have /restore
		{"GET", org("/tasks/")},
		{"GET", org("/tasks/" + IDs.LiveTask + "/delete")},
		{"DELETE", org("/tasks/" + IDs.LiveTask + "/../" + IDs.LiveTask + "/delete")},
		{"GET", "/api//organizations/" + OrgID + "/tasks"},
		{"GET", "/api"},
		{"GET", "/"},
	}
	for _, c := range notFound {
		r := e.admin(c.method, c.path)
		m := wantError(t, r, 404, "ENDPOINT_NOT_FOUND")
		if m["message"] != "API endpoint not found" {
			t.Errorf("%s %s: message %v", c.method, c.path, m["message"])
		}
	}
	if rec, _ := e.sb.Lookup("task", IDs.LiveTask); rec.Archived {
		t.Fatal("a not-found request changed state")
	}

	// X-Request-Id on every response, unique.
	seen := map[string]bool{}
	for _, r := range []result{e.admin("GET", org("/tasks")), e.req("GET", org("/tasks"), ""), e.admin("GET", "/nowhere"),
		e.admin("DELETE", org("/tasks/"+IDs.LiveTask))} {
		id := r.header.Get("X-Request-Id")
		if !strings.HasPrefix(id, "sbx-") || seen[id] {
			t.Errorf("X-Request-Id %q", id)
		}
		seen[id] = true
	}
}

func TestBadIDs(t *testing.T) {
	e := newEnv(t)
	bad := []string{
		"123",
		strings.ToUpper(IDs.LiveTask),
		IDs.LiveTask + "0",
		IDs.LiveTask[:31] + "g",
		IDs.LiveTask + "%2Fdelete",
		"%2E%2E",
	}
	for _, id := range bad {
		for _, p := range []struct{ method, path string }{
			{"GET", "/tasks/" + id}, {"DELETE", "/tasks/" + id}, {"PUT", "/tasks/" + id + "/restore"}, {"DELETE", "/tasks/" + id + "/delete"},
			{"GET", "/runs/" + id}, {"DELETE", "/runs/" + id}, {"PUT", "/runs/" + id + "/activate"}, {"DELETE", "/runs/" + id + "/delete"},
			{"GET", "/checklists/" + id}, {"DELETE", "/checklists/" + id}, {"PUT", "/checklists/" + id + "/restore"}, {"DELETE", "/checklists/" + id + "/delete"},
		} {
			r := e.admin(p.method, org(p.path))
			if r.status != 404 {
				t.Errorf("%s %s: status %d", p.method, p.path, r.status)
				continue
			}
			code := r.json(t)["code"]
			if id == "%2E%2E" && code == "ENDPOINT_NOT_FOUND" {
				continue // ".." is an unclean path, refused by routing
			}
			if code != "RESOURCE_NOT_FOUND" {
				t.Errorf("%s %s: code %v", p.method, p.path, code)
			}
		}
	}
	if rec, ok := e.sb.Lookup("task", IDs.LiveTask); !ok || rec.Archived {
		t.Fatalf("bad ids changed state: %+v %v", rec, ok)
	}
	// Unknown but well-formed ids.
	unknown := strings.Repeat("ab", 16)
	wantError(t, e.admin("GET", org("/tasks/"+unknown)), 404, "RESOURCE_NOT_FOUND")
	wantError(t, e.admin("GET", org("/runs/"+unknown)), 404, "RESOURCE_NOT_FOUND")
	m := wantError(t, e.admin("GET", org("/checklists/"+unknown)), 404, "RESOURCE_NOT_FOUND")
	if m["message"] != "Resource not found" {
		t.Errorf("message %v", m["message"])
	}
}

// ---------------------------------------------------------------------------
// reads

func TestGetOne(t *testing.T) {
	e := newEnv(t)
	r := e.admin("GET", org("/tasks/"+IDs.LiveTask))
	wantStatus(t, r, 200)
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	d := r.data(t)
	if d["id"] != IDs.LiveTask || d["is_oneoff_task"] != true || d["run_id"] != nil || d["archived_at"] != nil {
		t.Errorf("live task %v", d)
	}

	d = e.member("GET", org("/tasks/"+IDs.ProcessTask)).data(t)
	if d["run_id"] != IDs.ActiveRun || d["is_oneoff_task"] != false || d["step_id"] == nil {
		t.Errorf("process task %v", d)
	}
	run := e.admin("GET", org("/runs/"+IDs.ActiveRun)).data(t)
	if d["checklist_id"] != run["checklist_id"] || run["checklist_id"] != IDs.LiveTemplate {
		t.Errorf("process task checklist %v, run checklist %v", d["checklist_id"], run["checklist_id"])
	}
	if run["status"] != "active" || run["archived_at"] != nil || run["checklist_title"] != "Employee Onboarding" {
		t.Errorf("active run %v", run)
	}

	// Archived run: returned, status archived, archived_at set.
	d = e.admin("GET", org("/runs/"+IDs.ArchivedRun)).data(t)
	if d["status"] != "archived" || d["archived_at"] == nil {
		t.Errorf("archived run %v", d)
	}
	d = e.admin("GET", org("/runs/"+IDs.CompleteRun)).data(t)
	if p, _ := d["progress"].(map[string]any); d["status"] != "complete" || d["completed_at"] == nil || p["percent"] != float64(100) || p["complete"] != p["total"] {
		t.Errorf("complete run %v", d)
	}

	// A one-off task created once per assignee: is_oneoff_task true with its container's run_id.
	d = e.admin("GET", org("/tasks/"+IDs.PerAssigneeTask)).data(t)
	if d["is_oneoff_task"] != true || d["run_id"] != IDs.TimesheetsRun || d["step_id"] != nil {
		t.Errorf("per-assignee task %v", d)
	}

	d = e.admin("GET", org("/checklists/"+IDs.LiveTemplate)).data(t)
	if d["title"] != "Employee Onboarding" || d["archived_at"] != nil || d["type"] != "procedure" {
		t.Errorf("template %v", d)
	}
	// Archived template and archived task: 404 like unknown ones.
	wantError(t, e.admin("GET", org("/checklists/"+IDs.ArchivedTemplate)), 404, "RESOURCE_NOT_FOUND")
	wantError(t, e.admin("GET", org("/tasks/"+IDs.ArchivedTask)), 404, "RESOURCE_NOT_FOUND")
	// A process task of an archived run is archived with it.
	var samTask string
	for _, m := range e.admin("GET", org("/tasks?archived=only&is_oneoff=false")).list(t) {
		if m["run_id"] == IDs.ArchivedRun {
			samTask = m["id"].(string)
		}
	}
	if samTask == "" {
		t.Fatal("no archived process task of the archived run")
	}
	wantError(t, e.admin("GET", org("/tasks/"+samTask)), 404, "RESOURCE_NOT_FOUND")
}

// ---------------------------------------------------------------------------
// lifecycles

func TestTaskLifecycle(t *testing.T) {
	clock := time.Date(2026, 8, 1, 12, 0, 0, 0, time.UTC)
	e := newEnv(t, WithClock(func() time.Time { return clock }))
	task := org("/tasks/" + IDs.LiveTask)

	// Archive (member may): 204, empty.
	wantEmpty(t, e.member("DELETE", task), 204)
	rec, _ := e.sb.Lookup("task", IDs.LiveTask)
	if !rec.Archived || rec.LastUpdated != "2026-08-01T12:00:00Z" {
		t.Fatalf("after archive %+v", rec)
	}
	wantError(t, e.admin("GET", task), 404, "RESOURCE_NOT_FOUND")
	wantError(t, e.admin("DELETE", task), 404, "RESOURCE_NOT_FOUND") // archive twice
	only := ids(e.admin("GET", org("/tasks?archived=only&per_page=100")).list(t))
	if !contains(only, IDs.LiveTask) {
		t.Fatal("archived task not in archived=only")
	}
	if contains(ids(e.admin("GET", org("/tasks?per_page=100")).list(t)), IDs.LiveTask) {
		t.Fatal("archived task in the default list")
	}

	// Restore (member may): 200 {data}, archived_at null.
	clock = clock.Add(time.Minute)
	r := e.member("PUT", task+"/restore")
	wantStatus(t, r, 200)
	d := r.data(t)
	if d["id"] != IDs.LiveTask || d["archived_at"] != nil || d["last_updated"] != "2026-08-01T12:01:00Z" {
		t.Fatalf("restored %v", d)
	}
	m := wantError(t, e.member("PUT", task+"/restore"), 422, "NOT_ARCHIVED")
	if m["message"] != "The task is not archived." {
		t.Errorf("message %v", m["message"])
	}
	wantStatus(t, e.admin("GET", task), 200)

	// Process tasks cannot be archived, restored or hard-deleted.
	pt := org("/tasks/" + IDs.ProcessTask)
	m = wantError(t, e.admin("DELETE", pt), 400, "NOT_ONEOFF_TASK")
	if m["message"] != "Only one-off tasks can be archived; archive the process instead." {
		t.Errorf("message %v", m["message"])
	}
	wantError(t, e.admin("DELETE", pt+"/delete"), 400, "NOT_ONEOFF_TASK")
	wantError(t, e.admin("PUT", pt+"/restore"), 400, "NOT_ONEOFF_TASK")
	if rec, _ := e.sb.Lookup("task", IDs.ProcessTask); rec.Archived {
		t.Fatal("process task archived")
	}

	// Permanent delete: no source says admin only (roles.go), so a Standard member may.
	at := org("/tasks/" + IDs.ArchivedTask)
	wantEmpty(t, e.member("DELETE", at+"/delete"), 204)
	if _, ok := e.sb.Lookup("task", IDs.ArchivedTask); ok {
		t.Fatal("deleted task still found")
	}
	wantError(t, e.admin("DELETE", at+"/delete"), 404, "RESOURCE_NOT_FOUND")
	wantError(t, e.admin("PUT", at+"/restore"), 404, "RESOURCE_NOT_FOUND")
	wantError(t, e.admin("DELETE", at), 404, "RESOURCE_NOT_FOUND")

	// A live one-off task can be hard-deleted directly (inference.go).
	wantEmpty(t, e.admin("DELETE", task+"/delete"), 204)
	if _, ok := e.sb.Lookup("task", IDs.LiveTask); ok {
		t.Fatal("live task not deleted")
	}
}

func TestRunLifecycle(t *testing.T) {
	clock := time.Date(2026, 8, 2, 9, 30, 0, 0, time.UTC)
	e := newEnv(t, WithClock(func() time.Time { return clock }))
	run := org("/runs/" + IDs.ActiveRun)
	liveTasks := e.sb.Count("task", false)

	// Live run cannot be hard-deleted; member cannot at all.
	m := wantError(t, e.admin("DELETE", run+"/delete"), 422, "NOT_ARCHIVED")
	if m["message"] != "Process isn't archived yet — archive it first" {
		t.Errorf("message %v", m["message"])
	}
	wantError(t, e.member("DELETE", run+"/delete"), 403, "FORBIDDEN")

	// Archive (member may): 200 with the run.
	r := e.member("DELETE", run)
	wantStatus(t, r, 200)
	d := r.data(t)
	if d["id"] != IDs.ActiveRun || d["status"] != "archived" || d["archived_at"] != "2026-08-02T09:30:00Z" ||
		d["last_updated"] != "2026-08-02T09:30:00Z" {
		t.Fatalf("archived run %v", d)
	}
	// Its tasks are soft-deleted with it.
	wantError(t, e.admin("GET", org("/tasks/"+IDs.ProcessTask)), 404, "RESOURCE_NOT_FOUND")
	for _, m := range e.admin("GET", org("/tasks?per_page=100")).list(t) {
		if m["run_id"] == IDs.ActiveRun {
			t.Fatalf("task %s of the archived run still listed", m["id"])
		}
	}
	if n := e.sb.Count("task", false); n != liveTasks-3 {
		t.Fatalf("live tasks %d, want %d", n, liveTasks-3)
	}
	wantError(t, e.admin("DELETE", run), 404, "RESOURCE_NOT_FOUND") // archive twice
	wantStatus(t, e.admin("GET", run), 200)

	// Activate (member may): status back, tasks back.
	clock = clock.Add(time.Hour)
	r = e.member("PUT", run+"/activate")
	wantStatus(t, r, 200)
	d = r.data(t)
	if d["status"] != "active" || d["archived_at"] != nil || d["last_updated"] != "2026-08-02T10:30:00Z" {
		t.Fatalf("activated run %v", d)
	}
	if n := e.sb.Count("task", false); n != liveTasks {
		t.Fatalf("live tasks %d after activate, want %d", n, liveTasks)
	}
	wantStatus(t, e.admin("GET", org("/tasks/"+IDs.ProcessTask)), 200)
	// Activate a live run: 200 no-op.
	r = e.admin("PUT", run+"/activate")
	wantStatus(t, r, 200)
	if d := r.data(t); d["status"] != "active" || d["last_updated"] != "2026-08-02T10:30:00Z" {
		t.Fatalf("no-op activate changed the run: %v", d)
	}

	// Seeded archived runs go back to their pre-archive status.
	for _, m := range e.admin("GET", org("/runs?status=archived")).list(t) {
		d := e.admin("PUT", org("/runs/"+m["id"].(string)+"/activate")).data(t)
		want := "active"
		if strings.Contains(d["name"].(string), "Globex") {
			want = "complete"
		}
		if d["status"] != want {
			t.Errorf("%s activated to %v, want %s", d["name"], d["status"], want)
		}
	}
	if n := e.sb.Count("run", true); n != 0 {
		t.Fatalf("%d archived runs left", n)
	}

	// Archive then hard-delete: 200 with an empty body; tasks go too.
	wantStatus(t, e.admin("DELETE", run), 200)
	wantEmpty(t, e.admin("DELETE", run+"/delete"), 200)
	if _, ok := e.sb.Lookup("run", IDs.ActiveRun); ok {
		t.Fatal("deleted run still found")
	}
	if _, ok := e.sb.Lookup("task", IDs.ProcessTask); ok {
		t.Fatal("task of a deleted run still found")
	}
	wantError(t, e.admin("DELETE", run+"/delete"), 404, "RESOURCE_NOT_FOUND")
	wantError(t, e.admin("GET", run), 404, "RESOURCE_NOT_FOUND")
	wantError(t, e.admin("PUT", run+"/activate"), 404, "RESOURCE_NOT_FOUND")
	wantError(t, e.admin("DELETE", run), 404, "RESOURCE_NOT_FOUND")
}

func TestTemplateLifecycle(t *testing.T) {
	e := newEnv(t)
	tpl := org("/checklists/" + IDs.LiveTemplate)

	m := wantError(t, e.admin("DELETE", tpl+"/delete"), 422, "NOT_ARCHIVED")
	_ = m
	wantError(t, e.member("DELETE", tpl+"/delete"), 403, "FORBIDDEN")
	wantError(t, e.admin("PUT", tpl+"/restore"), 422, "NOT_ARCHIVED")

	r := e.member("DELETE", tpl)
	wantStatus(t, r, 200)
	if string(r.body) != `{"message":"The Template was deleted, and references were also deleted from:","deleted_references":{}}` {
		t.Fatalf("archive body %s", r.body)
	}
	wantError(t, e.admin("GET", tpl), 404, "RESOURCE_NOT_FOUND")
	wantError(t, e.admin("DELETE", tpl), 404, "RESOURCE_NOT_FOUND")
	// Runs launched from it keep running.
	wantStatus(t, e.admin("GET", org("/runs/"+IDs.ActiveRun)), 200)

	r = e.member("PUT", tpl+"/restore")
	wantStatus(t, r, 200)
	if d := r.data(t); d["id"] != IDs.LiveTemplate || d["archived_at"] != nil {
		t.Fatalf("restored %v", d)
	}
	wantStatus(t, e.admin("GET", tpl), 200)

	at := org("/checklists/" + IDs.ArchivedTemplate)
	wantError(t, e.member("DELETE", at+"/delete"), 403, "FORBIDDEN")
	r = e.admin("DELETE", at+"/delete")
	wantStatus(t, r, 200)
	if string(r.body) != `{"message":"The Template was permanently deleted, and references were also deleted from:","deleted_references":{}}` {
		t.Fatalf("delete body %s", r.body)
	}
	if _, ok := e.sb.Lookup("template", IDs.ArchivedTemplate); ok {
		t.Fatal("deleted template still found")
	}
	wantError(t, e.admin("DELETE", at+"/delete"), 404, "RESOURCE_NOT_FOUND")
	wantError(t, e.admin("PUT", at+"/restore"), 404, "RESOURCE_NOT_FOUND")
}

// ---------------------------------------------------------------------------
// lists

func TestListFilters(t *testing.T) {
	e := newEnv(t)
	count := func(path string) int {
		t.Helper()
		r := e.admin("GET", org(path))
		wantStatus(t, r, 200)
		return len(r.list(t))
	}
	liveT, archT := e.sb.Count("template", false), e.sb.Count("template", true)
	for q, want := range map[string]int{
		"": liveT, "?archived=false": liveT, "?archived=0": liveT, "?archived=": liveT,
		"?archived=true": liveT + archT, "?archived=1": liveT + archT, "?archived=yes": liveT + archT,
		"?archived=only": archT, "?archived=ONLY": archT,
	} {
		if n := count("/checklists" + q); n != want {
			t.Errorf("checklists%s: %d, want %d", q, n, want)
		}
	}
	liveR, archR := e.sb.Count("run", false), e.sb.Count("run", true)
	for q, want := range map[string]int{
		"": liveR, "?archived=true&per_page=100": liveR + archR, "?archived=only": archR,
		"?status=archived": archR, "?status=archived&archived=false": archR,
		"?status=complete": 2, "?status=problem": 1, "?status=active": 5, "?status=starred": 2,
		"?status=active&archived=only": 0, "?checklist_id=" + IDs.LiveTemplate + "&archived=true": 3,
	} {
		if n := count("/runs" + q); n != want {
			t.Errorf("runs%s: %d, want %d", q, n, want)
		}
	}
	for q, want := range map[string]int{
		"?is_oneoff=true&per_page=100":               7, // 5 + 2 created once per assignee
		"?is_oneoff=true&archived=only":              2,
		"?is_oneoff=false&per_page=100":              4,
		"?is_oneoff=false&archived=only":             1,
		"?archived=true&per_page=100":                14,
		"?per_page=100":                              11,
		"?q=SSL":                                     0, // q searches process and step names, not a one-off task's title
		"?q=ssl%20certificate":                       0,
		"?q=LAPTOP":                                  1, // a process task's title is its step name
		"?q=jane%20COOPER":                           3, // q also matches the process name (§2.2)
		"?q=headcount":                               0,
		"?q=headcount&archived=only":                 0,
		"?status=complete&per_page=100":              3,
		"?is_oneoff=true&status=complete&archived=1": 3,
	} {
		if n := count("/tasks" + q); n != want {
			t.Errorf("tasks%s: %d, want %d", q, n, want)
		}
	}
	if n := count("/checklists?q=ONBOARDING"); n != 2 {
		t.Errorf("q=ONBOARDING: %d templates", n)
	}
	if n := count("/runs?q=invoice&archived=true"); n != 3 {
		t.Errorf("q=invoice: %d runs", n)
	}
	for _, m := range e.admin("GET", org("/tasks?is_oneoff=true&archived=only")).list(t) {
		if rec, _ := e.sb.Lookup("task", m["id"].(string)); !rec.Archived || m["is_oneoff_task"] != true {
			t.Errorf("task %v", m)
		}
	}

	// Templates: pinned first.
	if first := e.admin("GET", org("/checklists")).list(t)[0]; first["is_pinned"] != true {
		t.Errorf("first template %v is not pinned", first["title"])
	}
	// Runs: created_at descending.
	runs := e.admin("GET", org("/runs?archived=true&per_page=100")).list(t)
	for i := 1; i < len(runs); i++ {
		if runs[i-1]["created_at"].(string) < runs[i]["created_at"].(string) {
			t.Errorf("runs not ordered by created_at desc at %d", i)
		}
	}
}

func TestPaging(t *testing.T) {
	e := newEnv(t)
	total := e.sb.Count("run", false) + e.sb.Count("run", true) // 10

	r := e.admin("GET", org("/runs?archived=true&per_page=4"))
	p := r.pagination(t)
	if p["total"] != float64(total) || p["count"] != float64(4) || p["per_page"] != float64(4) ||
		p["current_page"] != float64(1) || p["total_pages"] != float64(3) {
		t.Fatalf("page 1: %v", p)
	}
	links := p["links"].(map[string]any)
	if _, ok := links["previous"]; ok {
		t.Errorf("page 1 has previous: %v", links)
	}
	next := links["next"].(string)
	if !strings.HasPrefix(next, e.srv.URL+"/api/organizations/"+OrgID+"/runs?") || !strings.Contains(next, "page=2") ||
		!strings.Contains(next, "per_page=4") || !strings.Contains(next, "archived=true") {
		t.Errorf("next %q", next)
	}

	// Follow next links through every page: all ids, once each.
	var all []string
	url := e.srv.URL + "/api/organizations/" + OrgID + "/runs?archived=true&per_page=4"
	for pages := 0; url != "" && pages < 10; pages++ {
		r := e.admin("GET", strings.TrimPrefix(url, e.srv.URL))
		all = append(all, ids(r.list(t))...)
		p := r.pagination(t)
		url = ""
		if l, ok := p["links"].(map[string]any); ok {
			if n, ok := l["next"].(string); ok {
				url = n
			}
		}
	}
	if len(all) != total {
		t.Fatalf("paged through %d runs, want %d", len(all), total)
	}
	seen := map[string]bool{}
	for _, id := range all {
		if seen[id] {
			t.Fatalf("run %s on two pages", id)
		}
		seen[id] = true
	}

	p = e.admin("GET", org("/runs?archived=true&per_page=4&page=2")).pagination(t)
	l := p["links"].(map[string]any)
	if l["next"] == nil || l["previous"] == nil {
		t.Errorf("page 2 links %v", l)
	}
	p = e.admin("GET", org("/runs?archived=true&per_page=4&page=3")).pagination(t)
	l = p["links"].(map[string]any)
	if l["next"] != nil || l["previous"] == nil || p["count"] != float64(total-8) {
		t.Errorf("page 3: %v", p)
	}

	// One page only: links is an empty array.
	r = e.admin("GET", org("/checklists"))
	if !strings.Contains(string(r.body), `"links":[]`) {
		t.Errorf("single page body %s", r.body)
	}
	if p := r.pagination(t); p["total_pages"] != float64(1) || p["current_page"] != float64(1) {
		t.Errorf("single page %v", p)
	}
	// Empty result: total_pages 1, links [].
	r = e.admin("GET", org("/checklists?q=zzz"))
	if p := r.pagination(t); p["total"] != float64(0) || p["total_pages"] != float64(1) || len(r.list(t)) != 0 ||
		!strings.Contains(string(r.body), `"links":[]`) {
		t.Errorf("empty list %s", r.body)
	}
	// Past the end: empty data.
	r = e.admin("GET", org("/runs?page=99"))
	if len(r.list(t)) != 0 || r.pagination(t)["current_page"] != float64(99) {
		t.Errorf("page 99: %s", r.body)
	}
	// Bad page: first page.
	if p := e.admin("GET", org("/runs?page=abc")).pagination(t); p["current_page"] != float64(1) {
		t.Errorf("page=abc: %v", p)
	}
	// Default per_page 10; clamp to 100.
	if p := e.admin("GET", org("/tasks")).pagination(t); p["per_page"] != float64(10) {
		t.Errorf("default per_page %v", p["per_page"])
	}
	if p := e.admin("GET", org("/tasks?per_page=500")).pagination(t); p["per_page"] != float64(100) {
		t.Errorf("per_page=500 gives %v", p["per_page"])
	}
	for _, v := range []string{"abc", "0", "-1", "2.5"} {
		r := e.admin("GET", org("/tasks?per_page="+v))
		wantStatus(t, r, 422)
		if string(r.body) != `{"error":true,"errors":{"per_page":["The per page must be an integer between 1 and 100."]}}` {
			t.Errorf("per_page=%s: %s", v, r.body)
		}
	}
	// without_pagination returns everything.
	r = e.admin("GET", org("/tasks?archived=true&without_pagination=true"))
	if n := len(r.list(t)); n != e.sb.Count("task", false)+e.sb.Count("task", true) {
		t.Errorf("without_pagination: %d tasks", n)
	}
	// Paths without /api build links without it.
	r = e.admin("GET", "/organizations/"+OrgID+"/runs?archived=true&per_page=4")
	if n := r.pagination(t)["links"].(map[string]any)["next"].(string); !strings.HasPrefix(n, e.srv.URL+"/organizations/") {
		t.Errorf("next %q", n)
	}
}

// ---------------------------------------------------------------------------
// Reset, Lookup, Count, Requests, RequestLog, clock, Listen

func TestResetLookupCount(t *testing.T) {
	e := newEnv(t)
	before := [6]int{e.sb.Count("task", false), e.sb.Count("task", true), e.sb.Count("run", false),
		e.sb.Count("run", true), e.sb.Count("template", false), e.sb.Count("template", true)}
	wantStatus(t, e.admin("DELETE", org("/runs/"+IDs.ArchivedRun+"/delete")), 200)
	wantStatus(t, e.admin("DELETE", org("/checklists/"+IDs.LiveTemplate)), 200)
	wantStatus(t, e.admin("DELETE", org("/tasks/"+IDs.LiveTask)), 204)
	if _, ok := e.sb.Lookup("run", IDs.ArchivedRun); ok {
		t.Fatal("deleted run found")
	}
	if n := e.sb.Count("template", true); n != before[5]+1 {
		t.Fatalf("archived templates %d", n)
	}
	if _, ok := e.sb.Lookup("nonsense", IDs.LiveTask); ok {
		t.Fatal("unknown kind found")
	}
	if _, ok := e.sb.Lookup("run", IDs.LiveTask); ok {
		t.Fatal("task id found as a run")
	}
	if e.sb.Count("nonsense", false) != 0 {
		t.Fatal("count of unknown kind")
	}
	e.sb.Reset()
	after := [6]int{e.sb.Count("task", false), e.sb.Count("task", true), e.sb.Count("run", false),
		e.sb.Count("run", true), e.sb.Count("template", false), e.sb.Count("template", true)}
	if before != after {
		t.Fatalf("counts after Reset %v, want %v", after, before)
	}
	if rec, ok := e.sb.Lookup("run", IDs.ArchivedRun); !ok || !rec.Archived {
		t.Fatalf("archived run after Reset: %+v %v", rec, ok)
	}
	if rec, _ := e.sb.Lookup("task", IDs.LiveTask); rec.Archived {
		t.Fatal("task still archived after Reset")
	}
	if e.sb.Requests() != 0 || len(e.sb.RequestLog()) != 0 {
		t.Fatal("Reset kept the request log")
	}
	wantStatus(t, e.admin("GET", org("/checklists/"+IDs.LiveTemplate)), 200)
}

func TestRequestsAndLog(t *testing.T) {
	e := newEnv(t)
	if e.sb.Requests() != 0 {
		t.Fatal("fresh sandbox has requests")
	}
	e.admin("GET", org("/tasks?archived=only&q=a%20b"))
	e.req("GET", org("/tasks"), "")                                       // 401
	e.admin("GET", "/api/organizations/"+strings.Repeat("1", 32)+"/runs") // 403
	e.admin("DELETE", org("/tasks/"+IDs.LiveTask))
	e.admin("GET", "/nowhere")
	if n := e.sb.Requests(); n != 5 {
		t.Fatalf("Requests() = %d, want 5", n)
	}
	want := []string{
		"GET /api/organizations/" + OrgID + "/tasks?archived=only&q=a%20b",
		"GET /api/organizations/" + OrgID + "/tasks",
		"GET /api/organizations/" + strings.Repeat("1", 32) + "/runs",
		"DELETE /api/organizations/" + OrgID + "/tasks/" + IDs.LiveTask,
		"GET /nowhere",
	}
	got := e.sb.RequestLog()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("RequestLog:\n%q\nwant\n%q", got, want)
	}
}

func TestListen(t *testing.T) {
	sb := New()
	base, srv, err := Listen("127.0.0.1:0", sb)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if !regexp.MustCompile(`^http://127\.0\.0\.1:\d+/api$`).MatchString(base) {
		t.Fatalf("base URL %q", base)
	}
	req, _ := http.NewRequest("GET", base+"/organizations/"+OrgID+"/checklists/"+IDs.LiveTemplate, nil)
	req.Header.Set("Authorization", "Bearer "+MemberToken)
	req.Header.Set("X-Tallyfy-Client", "APIClient")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if _, _, err := Listen("256.0.0.1:0", sb); err == nil {
		t.Fatal("Listen on a bad address succeeded")
	}
}

// ---------------------------------------------------------------------------
// concurrency

func TestConcurrency(t *testing.T) {
	e := newEnv(t)
	e.cl.Transport.(*http.Transport).MaxIdleConnsPerHost = 64
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			var reqs []struct{ method, path string }
			switch i % 5 {
			case 0:
				reqs = append(reqs, struct{ method, path string }{"DELETE", "/runs/" + IDs.ActiveRun}, struct{ method, path string }{"PUT", "/runs/" + IDs.ActiveRun + "/activate"})
			case 1:
				reqs = append(reqs, struct{ method, path string }{"DELETE", "/checklists/" + IDs.LiveTemplate}, struct{ method, path string }{"PUT", "/checklists/" + IDs.LiveTemplate + "/restore"})
			case 2:
				reqs = append(reqs, struct{ method, path string }{"DELETE", "/tasks/" + IDs.LiveTask}, struct{ method, path string }{"PUT", "/tasks/" + IDs.LiveTask + "/restore"})
			case 3:
				reqs = append(reqs, struct{ method, path string }{"GET", "/tasks?archived=true"}, struct{ method, path string }{"GET", "/runs?archived=only"})
			case 4:
				reqs = append(reqs, struct{ method, path string }{"GET", "/runs/" + IDs.ActiveRun}, struct{ method, path string }{"GET", "/checklists?q=o"})
			}
			for _, rq := range reqs {
				req, _ := http.NewRequest(rq.method, e.srv.URL+org(rq.path), nil)
				req.Header.Set("Authorization", "Bearer "+MemberToken)
				req.Header.Set("X-Tallyfy-Client", "APIClient")
				resp, err := e.cl.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				switch resp.StatusCode {
				case 200, 204, 404, 422:
				default:
					t.Errorf("%s %s: %d", rq.method, rq.path, resp.StatusCode)
				}
			}
			_, _ = e.sb.Lookup("run", IDs.ActiveRun)
			_ = e.sb.Count("task", false)
			_ = e.sb.RequestLog()
		}(i)
	}
	wg.Wait()
	if n := e.sb.Requests(); n != 100 {
		t.Fatalf("Requests() = %d, want 100", n)
	}
	// Every goroutine ended with an activate/restore, so all is live again,
	// and the run's tasks follow the run.
	if rec, _ := e.sb.Lookup("run", IDs.ActiveRun); rec.Archived || rec.Status != "active" {
		t.Fatalf("run %+v", rec)
	}
	if rec, _ := e.sb.Lookup("task", IDs.ProcessTask); rec.Archived {
		t.Fatalf("process task %+v", rec)
	}
	if rec, _ := e.sb.Lookup("template", IDs.LiveTemplate); rec.Archived {
		t.Fatalf("template %+v", rec)
	}
}

func TestStatusFilters(t *testing.T) {
	now := time.Date(2026, 7, 7, 0, 0, 0, 0, time.UTC)
	e := newEnv(t, WithClock(func() time.Time { return now }))
	count := func(path string) int {
		t.Helper()
		r := e.admin("GET", org(path))
		wantStatus(t, r, 200)
		return len(r.list(t))
	}
	for q, want := range map[string]int{
		"overdue": 3, "due_soon": 3, "inprogress": 3, "active": 8, "incomplete": 8, "complete": 3, "hasproblem": 0,
	} {
		if n := count("/tasks?per_page=100&status=" + q); n != want {
			t.Errorf("tasks status=%s: %d, want %d", q, n, want)
		}
	}
	if n := count("/runs?status=delayed"); n != 2 { // Q2 review and the week 27 timesheets
		t.Errorf("runs status=delayed: %d", n)
	}
	if n := count("/runs?status=issue"); n != 0 {
		t.Errorf("runs status=issue: %d", n)
	}
	d := e.admin("GET", org("/runs?status=problem")).list(t)[0]
	if d["due_date_passed"] != true {
		t.Errorf("problem run %v", d)
	}
	if d := e.admin("GET", org("/runs/"+IDs.CompleteRun)).data(t); d["due_date_passed"] != false {
		t.Errorf("a complete run is never late: %v", d)
	}
	labels := map[string]string{}
	for _, m := range e.admin("GET", org("/tasks?archived=true&per_page=100")).list(t) {
		labels[m["status"].(string)] = m["status_label"].(string)
	}
	if labels["completed"] != "Completed" || labels["in-progress"] != "In Progress" || labels["not-started"] != "Not Started" {
		t.Errorf("labels %v", labels)
	}
}
