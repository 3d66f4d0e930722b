package sandbox

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// post sends a JSON body, as a client creating a task does.
func (e *env) post(path, token, body string) result {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Tallyfy-Client", "APIClient")
	resp, err := e.cl.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return result{status: resp.StatusCode, header: resp.Header, body: b}
}

// Each role gets exactly the refusals the sources give it (roles.go), and everything else works.
func TestRoles(t *testing.T) {
	tk, rn, tp := "/tasks/", "/runs/", "/checklists/"
	cases := []struct {
		token, method, path string
		status              int
	}{
		// Light: no process archive or unarchive, no template change, no permanent delete of
		// runs or templates; one-off tasks are theirs to archive, restore and delete.
		{LightToken, "DELETE", rn + IDs.ActiveRun, 403},
		{LightToken, "PUT", rn + IDs.ArchivedRun + "/activate", 403},
		{LightToken, "DELETE", tp + IDs.LiveTemplate, 403},
		{LightToken, "PUT", tp + IDs.ArchivedTemplate + "/restore", 403},
		{LightToken, "DELETE", rn + IDs.ArchivedRun + "/delete", 403},
		{LightToken, "DELETE", tp + IDs.ArchivedTemplate + "/delete", 403},
		{LightToken, "DELETE", tk + IDs.LiveTask, 204},
		{LightToken, "PUT", tk + IDs.LiveTask + "/restore", 200},
		{LightToken, "DELETE", tk + IDs.ArchivedTask + "/delete", 204},
		{LightToken, "GET", rn + IDs.ActiveRun, 200},
		// Standard: processes yes; templates only those they have rights on; deletes of runs
		// and templates no; one-off task deletes yes (no source says admin only).
		{MemberToken, "DELETE", tp + IDs.RestrictedTemplate, 403},
		{MemberToken, "DELETE", tp + IDs.LiveTemplate, 200},
		{MemberToken, "PUT", tp + IDs.LiveTemplate + "/restore", 200},
		{MemberToken, "DELETE", rn + IDs.CompleteRun, 200},
		{MemberToken, "DELETE", rn + IDs.CompleteRun + "/delete", 403},
		{MemberToken, "DELETE", tp + IDs.ArchivedTemplate + "/delete", 403},
		{MemberToken, "DELETE", tk + IDs.PerAssigneeTask, 204},
		{MemberToken, "DELETE", tk + IDs.PerAssigneeTask + "/delete", 204},
		// Admin: all of it.
		{AdminToken, "DELETE", tp + IDs.RestrictedTemplate, 200},
		{AdminToken, "DELETE", tp + IDs.RestrictedTemplate + "/delete", 200},
		{AdminToken, "DELETE", rn + IDs.CompleteRun + "/delete", 200},
	}
	e := newEnv(t)
	for _, c := range cases {
		r := e.req(c.method, org(c.path), c.token)
		if r.status != c.status {
			t.Errorf("%s %s %s: %d, want %d: %s", c.token, c.method, c.path, r.status, c.status, r.body)
		}
	}
	me := e.req("GET", "/me/organizations", LightToken)
	if !strings.Contains(string(me.body), `"id":"`+OrgID+`"`) || strings.Count(string(me.body), `"user_role":"Light"`) != 2 {
		t.Errorf("the Light token's organizations do not say Light in the sandbox org: %s", me.body)
	}
}

func TestCreateTask(t *testing.T) {
	e := newEnv(t)
	r := e.post(org("/tasks"), MemberToken, `{"name":"tallyfy-mcp check — safe to delete"}`)
	wantStatus(t, r, 201)
	data, _ := r.json(t)["data"].(map[string]any)
	id, _ := data["id"].(string)
	if !idPattern.MatchString(id) || data["title"] != "tallyfy-mcp check — safe to delete" || data["run_id"] != nil {
		t.Fatalf("created %v", data)
	}
	got := e.member("GET", org("/tasks/"+id)).json(t)["data"].(map[string]any)
	if got["is_oneoff_task"] != true || got["title"] != "tallyfy-mcp check — safe to delete" {
		t.Errorf("GET of the created task: %v", got)
	}
	wantStatus(t, e.post(org("/tasks"), MemberToken, `{"name":"  "}`), 422)
	wantStatus(t, e.post(org("/tasks"), MemberToken, `not json`), 422)
	// The drift check of the answer against the corpus (drift_test.go).
	corpus := loadCorpus(t)
	if d := drift(corpus["POST /tasks"], r.status, r.body); len(d) > 0 {
		t.Errorf("POST /tasks answers what no corpus file shows: %v", d)
	}
}
