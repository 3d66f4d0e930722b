package tallyfy

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// Tolerant decoding: every documented shape of a used field is read, an undocumented one
// becomes unknown and is reported (path and JSON type, never the value), and only identity
// fails a decode.

func TestRunProgressShapes(t *testing.T) {
	t.Parallel()
	const marker = "SECRET-VALUE-42"
	cases := []struct {
		name, progress string
		want           *float64
		issue          string // the JSON type reported, "" for none
	}{
		{"number (docs archive-process)", `75`, ptr(75.0), ""},
		{"numeric string", `"62.5"`, ptr(62.5), ""},
		{"object with percent (swagger Run)", `{"complete":1,"total":4,"percent":25}`, ptr(25.0), ""},
		{"object without percent", `{"complete":3,"total":4}`, ptr(75.0), ""},
		{"object with a string percent", `{"percent":"40"}`, ptr(40.0), ""},
		{"object of nothing done", `{"complete":0,"total":0}`, ptr(0.0), ""},
		{"empty object (docs get-process)", `{}`, nil, ""},
		{"null", `null`, nil, ""},
		{"absent", ``, nil, ""},
		{"bool", `true`, nil, "bool"},
		{"array", `[1,2]`, nil, "array"},
		{"word", `"` + marker + `"`, nil, "string"},
		{"object of other keys", `{"done":"` + marker + `"}`, nil, "object"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			body := `{"data":{"id":"` + validID + `","name":"N","status":"active"`
			if tc.progress != "" {
				body += `,"progress":` + tc.progress
			}
			body += `}}`
			s := newStub(t, func(w http.ResponseWriter, r *http.Request) { reply(w, 200, body) })
			var logs bytes.Buffer
			c := s.client(t, func(c *Config) { c.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
			var issues []ShapeIssue
			r, err := c.GetRun(WithShapeReporter(context.Background(), func(is ShapeIssue) { issues = append(issues, is) }), validID)
			if err != nil {
				t.Fatal(err)
			}
			if !sameNumber(r.Progress, tc.want) {
				t.Errorf("progress = %v, want %v", show(r.Progress), show(tc.want))
			}
			if tc.issue == "" {
				if len(issues) != 0 || logs.Len() != 0 {
					t.Errorf("a documented shape was reported: %v %s", issues, logs.String())
				}
				return
			}
			if len(issues) != 1 || !strings.HasPrefix(issues[0].Path, "run.progress") || issues[0].Found != tc.issue {
				t.Errorf("issues = %+v, want one for run.progress found %s", issues, tc.issue)
			}
			l := logs.String()
			if !strings.Contains(l, "level=WARN") || !strings.Contains(l, "field=run.progress") || !strings.Contains(l, "json_type="+tc.issue) {
				t.Errorf("warning log = %q", l)
			}
			if strings.Contains(l, marker) || strings.Contains(l, "N\"") {
				t.Errorf("the warning carries a value: %q", l)
			}
		})
	}
}

func TestUndocumentedShapesBecomeUnknown(t *testing.T) {
	t.Parallel()
	// Every used field of a task in a shape no source shows, plus unused fields in any shape.
	body := `{"data":[` +
		`{"id":"` + validID + `","title":"T","run_id":7,"is_oneoff_task":"yes","status":["x"],"deadline":12,` +
		`"created_at":{},"last_updated":true,"completed_at":[],"archived_at":5,` +
		`"owners":"everyone","owner_id":{"a":1},"started_by":[1,2],"prerun":"x","whole_progress":"?"},` +
		`{"id":"` + validID + `","title":"U","run_id":7,"is_oneoff_task":"yes","owners":{"users":[{"id":1,"full_name":"A","email":"a@b"}]}}` +
		`]}`
	s := newStub(t, func(w http.ResponseWriter, r *http.Request) { reply(w, 200, body) })
	var mu sync.Mutex
	seen := map[string]string{}
	ctx := WithShapeReporter(context.Background(), func(is ShapeIssue) {
		mu.Lock()
		defer mu.Unlock()
		if _, dup := seen[is.Path]; dup {
			t.Errorf("%s reported twice in one call", is.Path)
		}
		seen[is.Path] = is.Found
	})
	p, err := s.client(t).ListTasks(ctx, ListOptions{Archived: ArchivedInclude})
	if err != nil {
		t.Fatal(err)
	}
	tk := p.Items[0]
	if tk.Title != "T" || tk.RunID != nil || tk.OneoffKnown || tk.Status != "" || tk.Deadline != nil || tk.CreatedAt != "" || tk.ArchivedAt != nil {
		t.Errorf("task = %+v", tk)
	}
	if e := tk.Entity(); e.ArchivedKnown {
		t.Errorf("archived_at 5 in an include listing: want unknown, got %+v", e)
	}
	want := map[string]string{"tasks[].run_id": "number", "tasks[].is_oneoff_task": "string", "tasks[].status": "array",
		"tasks[].deadline": "number", "tasks[].created_at": "object", "tasks[].last_updated": "bool",
		"tasks[].completed_at": "array", "tasks[].archived_at": "number"}
	for path, typ := range want {
		if seen[path] != typ {
			t.Errorf("%s: reported %q, want %q", path, seen[path], typ)
		}
	}
	if len(seen) != len(want) {
		t.Errorf("reported %v, want exactly %v (unused fields are never reported)", seen, want)
	}
}

func TestOneOffDecidedByFlag(t *testing.T) {
	t.Parallel()
	run := "0123456789abcdef0123456789abcdef"
	cases := []struct {
		name, fields string
		oneOff       bool
	}{
		{"flag true with a run_id (per-assignee one-off task)", `"is_oneoff_task":true,"run_id":"` + run + `"`, true},
		{"flag true without run_id", `"is_oneoff_task":true,"run_id":null`, true},
		{"flag false without run_id", `"is_oneoff_task":false,"run_id":null`, false},
		{"flag false with run_id", `"is_oneoff_task":false,"run_id":"` + run + `"`, false},
		{"no flag, run_id (swagger Task)", `"run_id":"` + run + `"`, false},
		{"no flag, null run_id (CLI Task)", `"run_id":null`, true},
		{"no flag, empty run_id", `"run_id":""`, true},
		{"no flag, no run_id", ``, true},
	}
	for _, tc := range cases {
		body := `{"data":{"id":"` + validID + `","title":"T","archived_at":null`
		if tc.fields != "" {
			body += "," + tc.fields
		}
		body += "}}"
		s := newStub(t, func(w http.ResponseWriter, r *http.Request) { reply(w, 200, body) })
		tk, err := s.client(t).GetTask(context.Background(), validID)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if e := tk.Entity(); e.OneOff != tc.oneOff {
			t.Errorf("%s: one-off %v, want %v", tc.name, e.OneOff, tc.oneOff)
		}
	}
}

// TestArchivedOnlyListingDecides: an item of an archived=only listing that says nothing is
// archived, one that says is what it says (a listing may ignore its archived parameter); of an
// exclude listing, live when it says nothing.
func TestArchivedOnlyListingDecides(t *testing.T) {
	t.Parallel()
	// Template list items as docs list-templates shows them: no archived_at; one with
	// archived_at null, which stays live even in an archived=only listing.
	body := `{"data":[{"id":"` + validID + `","title":"A"},{"id":"` + validID + `","title":"B","archived_at":null}]}`
	s := newStub(t, func(w http.ResponseWriter, r *http.Request) { reply(w, 200, body) })
	c := s.client(t)
	for _, tc := range []struct {
		archived       Archived
		known, archive bool
	}{{ArchivedOnly, true, true}, {ArchivedExclude, true, false}, {"", true, false}} {
		p, err := c.ListTemplates(context.Background(), ListOptions{Archived: tc.archived})
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range p.Items {
			want := tc.archive && it.Title == "A" // B's archived_at null is its own word: live
			if e := it.Entity(); e.ArchivedKnown != tc.known || e.Archived != want {
				t.Errorf("archived=%q: %s known %v archived %v", tc.archived, it.Title, e.ArchivedKnown, e.Archived)
			}
		}
	}
	p, err := c.ListTemplates(context.Background(), ListOptions{Archived: ArchivedInclude})
	if err != nil {
		t.Fatal(err)
	}
	if a, b := p.Items[0].Entity(), p.Items[1].Entity(); a.ArchivedKnown || !b.ArchivedKnown || b.Archived {
		t.Errorf("include: %+v / %+v, want unknown / live", a, b)
	}
}

// TestFindSettlesArchivedState: a GET that says nothing about the archived state (no
// archived_at, as the CLI's Task shows) is settled by the archived listing.
func TestFindSettlesArchivedState(t *testing.T) {
	t.Parallel()
	for _, listed := range []bool{true, false} {
		s := newStub(t, func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("archived") == "only" {
				if listed {
					reply(w, 200, `{"data":[{"id":"`+validID+`","title":"T"}]}`)
				} else {
					reply(w, 200, `{"data":[]}`)
				}
				return
			}
			reply(w, 200, `{"data":{"id":"`+validID+`","title":"T","run_id":null}}`)
		})
		c := s.client(t)
		e, err := c.Lookup(context.Background(), KindTask, validID)
		if err != nil || !e.ArchivedKnown || e.Archived != listed || !e.OneOff {
			t.Errorf("listed %v: Lookup = %+v, %v", listed, e, err)
		}
		if n := len(s.requests()); n != 2 {
			t.Errorf("listed %v: %d requests, want the GET and one archived listing", listed, n)
		}
	}
	// A run's status says it: no listing needed.
	s := newStub(t, func(w http.ResponseWriter, r *http.Request) {
		reply(w, 200, `{"data":{"id":"`+validID+`","name":"R","status":"archived"}}`)
	})
	e, err := s.client(t).Lookup(context.Background(), KindRun, validID)
	if err != nil || !e.Archived || !e.ArchivedKnown || len(s.requests()) != 1 {
		t.Errorf("run with status archived: %+v, %v, %d requests", e, err, len(s.requests()))
	}
}
