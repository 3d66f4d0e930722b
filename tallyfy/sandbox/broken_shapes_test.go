package sandbox

import (
	"net/http"
	"testing"
)

func TestParseBrokenShape(t *testing.T) {
	t.Parallel()
	for spec, want := range map[string]string{
		"run.progress":                  "run.progress=array",
		" task.title=number ":           "task.title=number",
		"template.title=object":         "template.title=object",
		"organization.user_role=object": "organization.user_role=object",
		"me.first_name=number":          "me.first_name=number",
	} {
		b, err := ParseBrokenShape(spec)
		if err != nil || b.String() != want {
			t.Errorf("ParseBrokenShape(%q) = %v, %v; want %s", spec, b, err, want)
		}
	}
	for _, bad := range []string{"", "progress", "run.", "user.id", "run.progress=date", "run.a.b", "organization.user_role.name"} {
		if b, err := ParseBrokenShape(bad); err == nil {
			t.Errorf("ParseBrokenShape(%q) = %v, want an error", bad, b)
		}
	}
}

func TestBrokenShapeServed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, WithBrokenShape(BrokenShape{Kind: kindRun, Field: "progress", Type: "array"}))

	runs := e.admin("GET", org("/runs?archived=true"))
	wantStatus(t, runs, http.StatusOK)
	items := runs.list(t)
	if len(items) == 0 {
		t.Fatal("no runs listed")
	}
	for _, it := range items {
		if _, ok := it["progress"].([]any); !ok {
			t.Errorf("run %v progress = %#v, want an array", it["id"], it["progress"])
		}
		if it["name"] == nil || it["id"] == nil {
			t.Errorf("run lost its other fields: %v", it)
		}
	}
	if _, ok := runs.pagination(t)["total"]; !ok {
		t.Error("the list lost its pagination")
	}
	one := e.admin("GET", org("/runs/"+IDs.ActiveRun))
	if _, ok := one.data(t)["progress"].([]any); !ok {
		t.Errorf("GET run progress = %#v, want an array", one.data(t)["progress"])
	}
	// Other kinds and error answers are untouched.
	tasks := e.admin("GET", org("/tasks?is_oneoff=true"))
	for _, it := range tasks.list(t) {
		if _, ok := it["progress"]; ok {
			t.Errorf("a task got a progress field: %v", it)
		}
	}
	wantError(t, e.admin("GET", org("/runs/"+IDs.LiveTemplate)), http.StatusNotFound, "RESOURCE_NOT_FOUND")
	if _, ok := e.admin("GET", "/api/me/organizations").list(t)[0]["user_role"].(string); !ok {
		t.Error("a run's broken shape reached the organizations")
	}
}

func TestBrokenShapeServedOnIdentity(t *testing.T) {
	t.Parallel()
	e := newEnv(t,
		WithBrokenShape(BrokenShape{Kind: kindOrganization, Field: "user_role", Type: "object"}),
		WithBrokenShape(BrokenShape{Kind: kindMe, Field: "first_name", Type: "number"}))
	orgs := e.admin("GET", "/api/me/organizations?per_page=100")
	wantStatus(t, orgs, http.StatusOK)
	items := orgs.list(t)
	if len(items) != 2 {
		t.Fatalf("want 2 organizations, got %v", items)
	}
	for _, it := range items {
		if _, ok := it["user_role"].(map[string]any); !ok || it["id"] == nil || it["user_status"] != "active" {
			t.Errorf("organization %v: user_role = %#v, want an object and the other fields kept", it["id"], it["user_role"])
		}
	}
	if _, ok := orgs.pagination(t)["total"]; !ok {
		t.Error("the list lost its pagination")
	}
	me := e.admin("GET", "/api/me").data(t)
	if _, ok := me["first_name"].(float64); !ok || me["id"] == nil || me["email"] == nil {
		t.Errorf("GET /me = %v, want first_name a number and the rest kept", me)
	}
	// Records and errors are untouched.
	for _, it := range e.admin("GET", org("/runs")).list(t) {
		if _, ok := it["user_role"]; ok {
			t.Errorf("a run got a user_role: %v", it)
		}
	}
	wantStatus(t, e.req("GET", "/api/me", "not-a-token"), http.StatusUnauthorized)
}
