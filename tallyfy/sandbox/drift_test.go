package sandbox

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

// The sandbox must not drift from what Tallyfy's published sources show: every field (and
// nested field) of every answer it gives, with its JSON type, must appear in some file of
// the contract corpus (tallyfy/testdata/contract, SOURCES.md) for the same endpoint, and its
// status and empty-or-not body must be one a corpus file for that endpoint shows. A null is
// accepted where the corpus has the field at all. Pagination (meta.*) is pooled across the
// list endpoints, and error bodies across every error file: neither depends on the endpoint.

type corpusFile struct {
	Endpoint string          `json:"endpoint"`
	Status   int             `json:"status"`
	Body     json.RawMessage `json:"body"`
}

// shapeSet maps a field path ("data.progress.percent", "data[].owners.users[].id") to the
// JSON types seen there.
type shapeSet map[string]map[string]bool

func (s shapeSet) add(path, typ string) {
	if s[path] == nil {
		s[path] = map[string]bool{}
	}
	s[path][typ] = true
}

// freeKeys are objects whose keys are data, not field names: their children are "*".
var freeKeys = []string{"errors", "deleted_references", "error.details"}

// shapesOf records every path and type of v under prefix.
func shapesOf(s shapeSet, prefix string, v any) {
	switch x := v.(type) {
	case map[string]any:
		s.add(prefix, "object")
		free := slices.ContainsFunc(freeKeys, func(k string) bool { return prefix == k || strings.HasSuffix(prefix, "."+k) })
		for k, c := range x {
			if free {
				k = "*"
			}
			shapesOf(s, join(prefix, k), c)
		}
	case []any:
		s.add(prefix, "array")
		for _, c := range x {
			shapesOf(s, prefix+"[]", c)
		}
	case string:
		s.add(prefix, "string")
	case float64:
		s.add(prefix, "number")
	case bool:
		s.add(prefix, "bool")
	case nil:
		s.add(prefix, "null")
	}
}

func join(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}

type corpusEndpoint struct {
	shapes   shapeSet
	statuses map[int]bool
	empty    bool // some file shows an empty body
	full     bool // some file shows a body
}

func loadCorpus(t *testing.T) map[string]*corpusEndpoint {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("..", "testdata", "contract", "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no contract corpus (%v)", err)
	}
	out := map[string]*corpusEndpoint{}
	meta := shapeSet{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var f corpusFile
		if err := json.Unmarshal(b, &f); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		ep := out[f.Endpoint]
		if ep == nil {
			ep = &corpusEndpoint{shapes: shapeSet{}, statuses: map[int]bool{}}
			out[f.Endpoint] = ep
		}
		ep.statuses[f.Status] = true
		if string(f.Body) == "null" {
			ep.empty = true
			continue
		}
		ep.full = true
		var v any
		if err := json.Unmarshal(f.Body, &v); err != nil {
			t.Fatalf("%s: body: %v", p, err)
		}
		shapesOf(ep.shapes, "", v)
		if m, ok := v.(map[string]any); ok && m["meta"] != nil {
			shapesOf(meta, "meta", m["meta"])
		}
	}
	for name, ep := range out {
		if strings.HasPrefix(name, "GET ") && !strings.HasSuffix(name, "{id}") {
			for path, types := range meta {
				for typ := range types {
					ep.shapes.add(path, typ)
				}
			}
		}
	}
	return out
}

// drift lists what an answer has that no corpus file of its endpoint shows.
func drift(ep *corpusEndpoint, status int, body []byte) []string {
	var out []string
	if !ep.statuses[status] {
		out = append(out, "status "+itoa(status))
	}
	if len(body) == 0 {
		if !ep.empty {
			out = append(out, "an empty body")
		}
		return out
	}
	if !ep.full {
		return append(out, "a body (the corpus shows an empty one)")
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return append(out, "a body that is not JSON")
	}
	got := shapeSet{}
	shapesOf(got, "", v)
	for path, types := range got {
		known := ep.shapes[path]
		for typ := range types {
			if known == nil || (!known[typ] && typ != "null") {
				out = append(out, path+" ("+typ+")")
			}
		}
	}
	sort.Strings(out)
	return out
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestSandboxMatchesContractCorpus(t *testing.T) {
	corpus := loadCorpus(t)
	errorsEp := corpus["error"]
	if errorsEp == nil {
		t.Fatal("the corpus has no error bodies")
	}
	e := newEnv(t)
	type call struct {
		endpoint, method, path, token string
		status                        int // the status this call must get (the scenario is wrong otherwise)
	}
	tk, rn, tp := "/tasks/", "/runs/", "/checklists/"
	calls := []call{
		{"GET /tasks/{id}", "GET", tk + IDs.LiveTask, AdminToken, 200},
		{"GET /tasks/{id}", "GET", tk + IDs.ProcessTask, AdminToken, 200},
		{"GET /tasks/{id}", "GET", tk + IDs.PerAssigneeTask, AdminToken, 200},
		{"GET /tasks", "GET", "/tasks?is_oneoff=true", AdminToken, 200},
		{"GET /tasks", "GET", "/tasks?is_oneoff=true&archived=only", AdminToken, 200},
		{"GET /tasks", "GET", "/tasks?archived=true&per_page=3", AdminToken, 200},
		{"GET /runs/{id}", "GET", rn + IDs.ActiveRun, AdminToken, 200},
		{"GET /runs/{id}", "GET", rn + IDs.ArchivedRun, AdminToken, 200},
		{"GET /runs/{id}", "GET", rn + IDs.TimesheetsRun, AdminToken, 200},
		{"GET /runs/{id}/tasks", "GET", rn + IDs.ActiveRun + "/tasks?status=all&per_page=100", AdminToken, 200},
		{"GET /runs/{id}/tasks", "GET", rn + IDs.ArchivedRun + "/tasks", AdminToken, 200},
		{"GET /runs/{id}/tasks", "GET", rn + IDs.TimesheetsRun + "/tasks?status=all", MemberToken, 200},
		{"GET /runs", "GET", "/runs", AdminToken, 200},
		{"GET /runs", "GET", "/runs?archived=only", AdminToken, 200},
		{"GET /runs", "GET", "/runs?archived=true&per_page=100", AdminToken, 200},
		{"GET /checklists/{id}", "GET", tp + IDs.LiveTemplate, AdminToken, 200},
		{"GET /checklists", "GET", "/checklists", AdminToken, 200},
		{"GET /checklists", "GET", "/checklists?archived=only", AdminToken, 200},
		{"GET /checklists", "GET", "/checklists?archived=true&per_page=2&page=2", AdminToken, 200},
		// Who is calling: what tallyfy-mcp check reads.
		{"GET /me", "GET", "/api/me", AdminToken, 200},
		{"GET /me", "GET", "/me", MemberToken, 200},
		{"GET /me/organizations", "GET", "/api/me/organizations", AdminToken, 200},
		{"GET /me/organizations", "GET", "/me/organizations?page=1&per_page=100", MemberToken, 200},
		{"GET /me/organizations", "GET", "/me/organizations?page=2&per_page=1", AdminToken, 200},
		// Lifecycles, in an order that makes each one valid.
		{"DELETE /tasks/{id}", "DELETE", tk + IDs.PerAssigneeTask, MemberToken, 204},
		{"PUT /tasks/{id}/restore", "PUT", tk + IDs.PerAssigneeTask + "/restore", MemberToken, 200},
		{"DELETE /tasks/{id}", "DELETE", tk + IDs.LiveTask, MemberToken, 204},
		{"DELETE /tasks/{id}/delete", "DELETE", tk + IDs.LiveTask + "/delete", AdminToken, 204},
		{"DELETE /runs/{id}", "DELETE", rn + IDs.ActiveRun, MemberToken, 200},
		{"PUT /runs/{id}/activate", "PUT", rn + IDs.ActiveRun + "/activate", MemberToken, 200},
		{"PUT /runs/{id}/activate", "PUT", rn + IDs.CompleteRun + "/activate", MemberToken, 200},
		{"DELETE /runs/{id}/delete", "DELETE", rn + IDs.ArchivedRun + "/delete", AdminToken, 200},
		{"DELETE /checklists/{id}", "DELETE", tp + IDs.LiveTemplate, MemberToken, 200},
		{"PUT /checklists/{id}/restore", "PUT", tp + IDs.LiveTemplate + "/restore", MemberToken, 200},
		{"DELETE /checklists/{id}/delete", "DELETE", tp + IDs.ArchivedTemplate + "/delete", AdminToken, 200},
		// Error bodies.
		{"error", "GET", tk + IDs.LiveTask, AdminToken, 404},
		{"error", "GET", "/templates", AdminToken, 404},
		{"error", "GET", "/tasks?per_page=0", AdminToken, 422},
		{"error", "DELETE", rn + IDs.CompleteRun + "/delete", MemberToken, 403},
		{"error", "DELETE", rn + IDs.CompleteRun + "/delete", AdminToken, 422},
		{"error", "DELETE", tk + IDs.ProcessTask, AdminToken, 400},
		{"error", "GET", rn + IDs.ActiveRun, "", 401},
		{"error", "GET", "/api/me", "not-a-token", 401},
	}
	for _, c := range calls {
		path := org(c.path)
		if strings.HasPrefix(c.path, "/me") || strings.HasPrefix(c.path, "/api/me") { // not under an organization
			path = c.path
		}
		r := e.req(c.method, path, c.token)
		if r.status != c.status {
			t.Errorf("%s %s: status %d, want %d (the scenario is out of step): %s", c.method, c.path, r.status, c.status, r.body)
			continue
		}
		ep := corpus[c.endpoint]
		if ep == nil {
			t.Errorf("%s: no corpus file shows this endpoint", c.endpoint)
			continue
		}
		if c.endpoint == "error" {
			ep = &corpusEndpoint{shapes: errorsEp.shapes, statuses: map[int]bool{r.status: true}, full: true}
		}
		if d := drift(ep, r.status, r.body); len(d) > 0 {
			t.Errorf("%s %s answers what no corpus file for %q shows: %s", c.method, c.path, c.endpoint, strings.Join(d, ", "))
		}
	}
}

// TestDriftDetects: the check itself fails on a field or a type the corpus does not show.
func TestDriftDetects(t *testing.T) {
	corpus := loadCorpus(t)
	ep := corpus["GET /runs/{id}"]
	ok := []byte(`{"data":{"id":"x","name":"n","progress":{"percent":5},"archived_at":null}}`)
	if d := drift(ep, 200, ok); len(d) != 0 {
		t.Errorf("a documented shape drifts: %v", d)
	}
	for body, want := range map[string]string{
		`{"data":{"id":"x","progress":"25%"}}`:      "data.progress (string)",
		`{"data":{"id":"x","invented_field":true}}`: "data.invented_field (bool)",
		`{"data":{"id":"x","prerun":[{"nope":1}]}}`: "data.prerun[].nope (number)",
		`{"data":{"id":"x","progress":{"pct":25}}}`: "data.progress.pct (number)",
	} {
		if d := drift(ep, 200, []byte(body)); !slices.Contains(d, want) {
			t.Errorf("%s: drift %v, want %q in it", body, d, want)
		}
	}
	if d := drift(corpus["DELETE /tasks/{id}"], 200, []byte(`{"data":{}}`)); len(d) == 0 {
		t.Error("a 200 with a body to archive a task (the docs say 204, empty) does not drift")
	}
}
