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
		"GET /tasks/{id}":              {tool: "get_task", idArg: "task_id", id: id.LiveTask, method: "GET", suffix: "/tasks/" + id.LiveTask, check: getTask},
		"GET /tasks":                   {tool: "list_tasks", method: "GET", suffix: "/tasks", check: func(t *testing.T, r result) { decode[schemas.ListTasksResult](t, r) }},
		"DELETE /tasks/{id}":           {tool: "archive_task", idArg: "task_id", id: id.PerAssigneeTask, method: "DELETE", suffix: "/tasks/" + id.PerAssigneeTask, check: lifecycle},
		"PUT /tasks/{id}/restore":      {tool: "restore_task", idArg: "task_id", id: id.ArchivedTask, method: "PUT", suffix: "/tasks/" + id.ArchivedTask + "/restore", check: lifecycle},
		"DELETE /tasks/{id}/delete":    {tool: "delete_task", idArg: "task_id", id: id.ArchivedTask, method: "DELETE", suffix: "/tasks/" + id.ArchivedTask + "/delete", check: deleted},
		"GET /runs/{id}":               {tool: "get_run", idArg: "run_id", id: id.ActiveRun, method: "GET", suffix: "/runs/" + id.ActiveRun, check: getRun},
		"GET /runs":                    {tool: "list_runs", method: "GET", suffix: "/runs", check: func(t *testing.T, r result) { decode[schemas.ListRunsResult](t, r) }},
		"DELETE /runs/{id}":            {tool: "archive_run", idArg: "run_id", id: id.ActiveRun, method: "DELETE", suffix: "/runs/" + id.ActiveRun, check: lifecycle},
		"PUT /runs/{id}/activate":      {tool: "activate_run", idArg: "run_id", id: id.ArchivedRun, method: "PUT", suffix: "/runs/" + id.ArchivedRun + "/activate", check: lifecycle},
		"DELETE /runs/{id}/delete":     {tool: "delete_run", idArg: "run_id", id: id.ArchivedRun, method: "DELETE", suffix: "/runs/" + id.ArchivedRun + "/delete", check: deleted},
		"GET /checklists/{id}":         {tool: "get_template", idArg: "template_id", id: id.LiveTemplate, method: "GET", suffix: "/checklists/" + id.LiveTemplate, check: getTemplate},
		"GET /checklists":              {tool: "list_templates", method: "GET", suffix: "/checklists", check: func(t *testing.T, r result) { decode[schemas.ListTemplatesResult](t, r) }},
		"DELETE /checklists/{id}":      {tool: "archive_template", idArg: "template_id", id: id.LiveTemplate, method: "DELETE", suffix: "/checklists/" + id.LiveTemplate, check: lifecycle},
		"PUT /checklists/{id}/restore": {tool: "restore_template", idArg: "template_id", id: id.ArchivedTemplate, method: "PUT", suffix: "/checklists/" + id.ArchivedTemplate + "/restore", check: lifecycle},
		"DELETE /checklists/{id}/delete": {tool: "delete_template", idArg: "template_id", id: id.ArchivedTemplate, method: "DELETE",
			suffix: "/checklists/" + id.ArchivedTemplate + "/delete", check: deleted},
		// Error bodies: get_run meets each one.
		"error": {tool: "get_run", idArg: "run_id", id: id.ActiveRun, method: "GET", suffix: "/runs/" + id.ActiveRun},
	}
}

// identityEndpoints are read by `tallyfy-mcp check` (preflight/identity_corpus_test.go) and for
// callers' audit names (server), never by a tool.
var identityEndpoints = map[string]bool{"GET /me": true, "GET /me/organizations": true}

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
			continue // no tool reads who the caller is: preflight and server test these answers
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
