package sandbox

import (
	"net/http"
	"testing"
)

func TestParseBrokenShape(t *testing.T) {
	t.Parallel()
	for spec, want := range map[string]string{
		"run.progress":          "run.progress=array",
		" task.title=number ":   "task.title=number",
		"template.title=object": "template.title=object",
	} {
		b, err := ParseBrokenShape(spec)
		if err != nil || b.String() != want {
			t.Errorf("ParseBrokenShape(%q) = %v, %v; want %s", spec, b, err, want)
		}
	}
	for _, bad := range []string{"", "progress", "run.", "user.id", "run.progress=date", "run.a.b"} {
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
}
