package tools_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tallyfy-mcp/tallyfy-mcp/schemas"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
)

// Every tool against every shape in the contract corpus (tallyfy/testdata/contract): the
// sandbox answers as usual, except the one request a corpus file is about, which gets that
// file's answer. The tool must succeed (or, for an error body, fail as a tool result that
// says what to do), and its structured result must fit its schema.

type corpusAnswer struct {
	Endpoint string          `json:"endpoint"`
	Status   int             `json:"status"`
	Body     json.RawMessage `json:"body"`
}

// corpusCall says which tool exercises an endpoint, on which seeded item.
type corpusCall struct {
	tool, idArg, id string
	method, suffix  string // the request the corpus answers: method and path suffix
	check           func(t *testing.T, r result)
	refuses         bool // the tool refuses (isError) after reading the answer; check reads the text
}

func corpusCalls() map[string]corpusCall {
	id := sandbox.IDs
	getTask := func(t *testing.T, r result) { decode[schemas.GetTaskResult](t, r) }
	getRun := func(t *testing.T, r result) { decode[schemas.GetRunResult](t, r) }
	getTemplate := func(t *testing.T, r result) { decode[schemas.GetTemplateResult](t, r) }
	lifecycle := func(t *testing.T, r result) {
		if res := decode[schemas.LifecycleResult](t, r); !res.Changed || res.Resource.Name == "" {
			t.Errorf("lifecycle result %+v", res)
		}
	}
	deleted := func(t *testing.T, r result) {
		if res := decode[schemas.DeleteResult](t, r); res.Status != "deleted" {
			t.Errorf("delete result %+v", res)
		}
	}
	return map[string]corpusCall{
		"GET /tasks/{id}":           {tool: "get_task", idArg: "task_id", id: id.LiveTask, method: "GET", suffix: "/tasks/" + id.LiveTask, check: getTask},
		"GET /tasks":                {tool: "list_tasks", method: "GET", suffix: "/tasks", check: func(t *testing.T, r result) { decode[schemas.ListTasksResult](t, r) }},
		"DELETE /tasks/{id}":        {tool: "archive_task", idArg: "task_id", id: id.PerAssigneeTask, method: "DELETE", suffix: "/tasks/" + id.PerAssigneeTask, check: lifecycle},
		"PUT /tasks/{id}/restore":   {tool: "restore_task", idArg: "task_id", id: id.ArchivedTask, method: "PUT", suffix: "/tasks/" + id.ArchivedTask + "/restore", check: lifecycle},
		"DELETE /tasks/{id}/delete": {tool: "delete_task", idArg: "task_id", id: id.ArchivedTask, method: "DELETE", suffix: "/tasks/" + id.ArchivedTask + "/delete", check: deleted},
		"GET /runs/{id}":            {tool: "get_run", idArg: "run_id", id: id.ActiveRun, method: "GET", suffix: "/runs/" + id.ActiveRun, check: getRun},
		"GET /runs":                 {tool: "list_runs", method: "GET", suffix: "/runs", check: func(t *testing.T, r result) { decode[schemas.ListRunsResult](t, r) }},
		// archive_run reads nothing first: its answer settles it. The docs example's archived_at
		// is from 2024, clearly older than the call, so it shows an earlier archive: a no-op.
		"DELETE /runs/{id}": {tool: "archive_run", idArg: "run_id", id: id.ActiveRun, method: "DELETE", suffix: "/runs/" + id.ActiveRun, check: func(t *testing.T, r result) {
			if res := decode[schemas.LifecycleResult](t, r); res.Changed || res.Resource.Name == "" || res.Resource.State != "archived" {
				t.Errorf("lifecycle result %+v", res)
			}
		}},
		"PUT /runs/{id}/activate":  {tool: "activate_run", idArg: "run_id", id: id.ArchivedRun, method: "PUT", suffix: "/runs/" + id.ArchivedRun + "/activate", check: lifecycle},
		"DELETE /runs/{id}/delete": {tool: "delete_run", idArg: "run_id", id: id.ArchivedRun, method: "DELETE", suffix: "/runs/" + id.ArchivedRun + "/delete", check: deleted},
		"GET /checklists/{id}":     {tool: "get_template", idArg: "template_id", id: id.LiveTemplate, method: "GET", suffix: "/checklists/" + id.LiveTemplate, check: getTemplate},
		"GET /checklists":          {tool: "list_templates", method: "GET", suffix: "/checklists", check: func(t *testing.T, r result) { decode[schemas.ListTemplatesResult](t, r) }},
		"DELETE /checklists/{id}": {tool: "archive_template", idArg: "template_id", id: id.LiveTemplate, method: "DELETE", suffix: "/checklists/" + id.LiveTemplate, check: func(t *testing.T, r result) {
			// deleted_references: {} (docs-2026-03) detaches nothing; the list shape names two.
			if res := decode[schemas.ArchiveTemplateResult](t, r); !res.Changed || res.Resource.Name == "" || (len(res.DeletedReferences) != 0 && len(res.DeletedReferences) != 2) {
				t.Errorf("archive_template result %+v", res)
			}
		}},
		"PUT /checklists/{id}/restore": {tool: "restore_template", idArg: "template_id", id: id.ArchivedTemplate, method: "PUT", suffix: "/checklists/" + id.ArchivedTemplate + "/restore", check: lifecycle},
		"DELETE /checklists/{id}/delete": {tool: "delete_template", idArg: "template_id", id: id.ArchivedTemplate, method: "DELETE",
			suffix: "/checklists/" + id.ArchivedTemplate + "/delete", check: deleted},
		// A task tool refusing a process task reads what the process holds.
		"GET /runs/{id}/tasks": {tool: "archive_task", idArg: "task_id", id: id.ProcessTask, method: "GET", suffix: "/runs/" + id.ActiveRun + "/tasks", refuses: true, check: func(t *testing.T, r result) {
			contains(t, "process-task refusal", r.text, "It holds ", "would act on all of them")
			if strings.Contains(r.text, "could not be read") {
				t.Errorf("the documented answer was not read: %s", r.text)
			}
		}},
		// Error bodies: get_run meets each one.
		"error": {tool: "get_run", idArg: "run_id", id: id.ActiveRun, method: "GET", suffix: "/runs/" + id.ActiveRun},
	}
}

// identityEndpoints are called by `tallyfy-mcp check` (preflight/identity_corpus_test.go;
// POST /tasks by check --live only), for callers' audit names and for the caller's role
// (role.go), never by a tool's own verb.
var identityEndpoints = map[string]bool{"GET /me": true, "GET /me/organizations": true, "POST /tasks": true}

func TestToolsOnContractCorpus(t *testing.T) {
	t.Parallel()
	paths, err := filepath.Glob(filepath.Join("..", "tallyfy", "testdata", "contract", "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no contract corpus (%v)", err)
	}
	calls := corpusCalls()
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var ans corpusAnswer
		if err := json.Unmarshal(b, &ans); err != nil {
			t.Fatal(err)
		}
		if identityEndpoints[ans.Endpoint] {
			continue // no tool's verb calls these: preflight, server and role tests cover their answers
		}
		c, ok := calls[ans.Endpoint]
		if !ok {
			t.Errorf("%s: no tool exercises endpoint %q", p, ans.Endpoint)
			continue
		}
		t.Run(strings.TrimSuffix(filepath.Base(p), ".json"), func(t *testing.T) {
			t.Parallel()
			var served atomic.Int32
			wrap := func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.Method == c.method && strings.HasSuffix(r.URL.Path, "/organizations/"+sandbox.OrgID+c.suffix) {
						served.Add(1)
						if string(ans.Body) != "null" && ans.Status != http.StatusNoContent {
							w.Header().Set("Content-Type", "application/json")
							w.WriteHeader(ans.Status)
							_, _ = w.Write(ans.Body)
							return
						}
						w.WriteHeader(ans.Status)
						return
					}
					next.ServeHTTP(w, r)
				})
			}
			h := newHarness(t, withConfirm(tools.ConfirmOff), withMaxTries(1), withWrap(wrap))
			args := map[string]any{}
			if c.idArg != "" {
				args[c.idArg] = c.id
			}
			for _, archived := range listModes(c) {
				if archived != "" {
					args["archived"] = archived
				}
				r := h.call(c.tool, args)
				if ans.Endpoint == "error" {
					r.failed(t)
					if r.raw != nil && strings.Contains(string(r.raw), `"run"`) {
						t.Errorf("an error answer produced a run: %s", r.raw)
					}
					continue
				}
				if c.refuses { // not r.failed: the docs' title "Welcome Call" trips its missing-stop check
					if r.err != nil || r.res == nil || !r.res.IsError {
						t.Fatalf("want an isError refusal, got %v: %s", r.err, r.text)
					}
					c.check(t, r)
					continue
				}
				c.check(t, r.ok(t))
			}
			if served.Load() == 0 {
				t.Errorf("the corpus answer was never asked for (%s %s)", c.method, c.suffix)
			}
		})
	}
}

// listModes is every archived= mode for a list tool, one call for any other.
func listModes(c corpusCall) []string {
	if strings.HasPrefix(c.tool, "list_") {
		return []string{"exclude", "include", "only"}
	}
	return []string{""}
}

// The richer shapes the sandbox serves (tallyfy/sandbox/inference.go, "Response shapes"),
// through the tools.

// TestPerAssigneeOneOffTask: a one-off task created once per assignee carries its
// container's run_id with is_oneoff_task true; it is a one-off task to every tool.
func TestPerAssigneeOneOffTask(t *testing.T) {
	t.Parallel()
	forEachProtocol(t, func(t *testing.T, p protocol) {
		h := newHarness(t, withProto(p), withConfirm(tools.ConfirmOff))
		id, run := sandbox.IDs.PerAssigneeTask, sandbox.IDs.TimesheetsRun
		r := h.call("get_task", map[string]any{"task_id": id}).ok(t)
		v := decode[schemas.GetTaskResult](t, r).Task
		if !v.OneOff || v.RunID != run || v.Archived == nil || *v.Archived {
			t.Errorf("get_task = %+v, want one-off, run_id %s, live", v, run)
		}
		if strings.Contains(r.text, "inside process") {
			t.Errorf("get_task text calls it a process task: %s", r.text)
		}
		listed := decode[schemas.ListTasksResult](t, h.call("list_tasks", map[string]any{"per_page": 100}).ok(t)).Tasks
		found := false
		for _, x := range listed {
			found = found || x.ID == id
		}
		if !found {
			t.Errorf("list_tasks does not list %s", id)
		}

		res := decode[schemas.LifecycleResult](t, h.call("archive_task", map[string]any{"task_id": id}).ok(t))
		if !res.Changed || res.Resource.State != "archived" || !h.lookup("task", id).Archived {
			t.Errorf("archive_task = %+v", res)
		}
		res = decode[schemas.LifecycleResult](t, h.call("restore_task", map[string]any{"task_id": id}).ok(t))
		if !res.Changed || res.Resource.State != "live" || h.lookup("task", id).Archived {
			t.Errorf("restore_task = %+v", res)
		}
		h.call("archive_task", map[string]any{"task_id": id}).ok(t)
		del := decode[schemas.DeleteResult](t, h.call("delete_task", map[string]any{"task_id": id}).ok(t))
		if del.Status != "deleted" || !h.gone("task", id) {
			t.Errorf("delete_task = %+v", del)
		}
		// Its container run is untouched.
		if rec := h.lookup("run", run); rec.Archived {
			t.Errorf("the container run changed: %+v", rec)
		}
	})
}

// TestRunProgressObject: the sandbox sends progress as {complete, total, percent}.
func TestRunProgressObject(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	r := h.call("get_run", map[string]any{"run_id": sandbox.IDs.ActiveRun}).ok(t)
	if v := decode[schemas.GetRunResult](t, r).Run; v.Progress == nil || *v.Progress != 25 {
		t.Errorf("progress = %v, want 25", v.Progress)
	}
	contains(t, "get_run text", r.text, "25% done")
	// archive_run's answer has progress as a bare number (docs archive-process).
	res := decode[schemas.LifecycleResult](t, h.call("archive_run", map[string]any{"run_id": sandbox.IDs.ActiveRun}).ok(t))
	if !res.Changed || res.Resource.Status != "archived" {
		t.Errorf("archive_run = %+v", res)
	}
}

// TestIncludeListingLabelsEachItem: template list items carry no archived_at, so a listing
// that mixes live and archived ones reads the archived listing alongside (bounded) and labels
// each item from it, as the item's own get would (issue 20); restore still works, as it decides
// from the archived listing.
func TestIncludeListingLabelsEachItem(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	r := h.call("list_templates", map[string]any{"archived": "include", "per_page": 100}).ok(t)
	archived := 0
	for _, x := range decode[schemas.ListTemplatesResult](t, r).Templates {
		if x.Archived == nil {
			t.Errorf("%s: archived unknown in an include listing, though the archived listing settles it", x.ID)
			continue
		}
		if want := h.lookup("template", x.ID).Archived; *x.Archived != want {
			t.Errorf("%s: labelled archived=%v, the sandbox holds archived=%v", x.ID, *x.Archived, want)
		}
		if *x.Archived {
			archived++
		}
	}
	if archived == 0 {
		t.Fatal("the include listing holds no archived template: the test shows nothing")
	}
	if strings.Contains(r.text, "did not say") {
		t.Errorf("list text says some state is unknown: %s", r.text)
	}
	only := decode[schemas.ListTemplatesResult](t, h.call("list_templates", map[string]any{"archived": "only"}).ok(t)).Templates
	if len(only) == 0 || only[0].Archived == nil || !*only[0].Archived {
		t.Fatalf("archived=only: %+v", only)
	}
	got := decode[schemas.GetTemplateResult](t, h.call("get_template", map[string]any{"template_id": sandbox.IDs.ArchivedTemplate}).ok(t)).Template
	if got.Archived == nil || !*got.Archived {
		t.Errorf("get_template(archived) = %+v", got)
	}
	res := decode[schemas.LifecycleResult](t, h.call("restore_template", map[string]any{"template_id": sandbox.IDs.ArchivedTemplate}).ok(t))
	if !res.Changed || res.Resource.State != "live" || h.lookup("template", sandbox.IDs.ArchivedTemplate).Archived {
		t.Errorf("restore_template = %+v", res)
	}
}
