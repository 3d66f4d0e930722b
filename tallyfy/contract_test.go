package tallyfy

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The contract corpus (testdata/contract, sources in its SOURCES.md): one answer per endpoint
// and published source. Every file is served over loopback HTTP and decoded by the real
// client; the fields the tools use must come out right, and no documented shape may be
// reported as undocumented.

// contractFile is one corpus file: the endpoint it answers, the status and the body (null:
// an empty body).
type contractFile struct {
	Endpoint string          `json:"endpoint"`
	Status   int             `json:"status"`
	Note     string          `json:"note"`
	Body     json.RawMessage `json:"body"`
}

func loadContract(t *testing.T) map[string]contractFile {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "contract", "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no contract files (%v)", err)
	}
	out := make(map[string]contractFile, len(paths))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var f contractFile
		if err := json.Unmarshal(b, &f); err != nil || f.Endpoint == "" || f.Status == 0 {
			t.Fatalf("%s: not a contract file (endpoint, status, body): %v", p, err)
		}
		out[strings.TrimSuffix(filepath.Base(p), ".json")] = f
	}
	return out
}

// serveContract answers every request with f.
func serveContract(t *testing.T, f contractFile, mods ...func(*Config)) *Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Request-Id", "req-contract")
		w.WriteHeader(f.Status)
		if string(f.Body) != "null" && f.Status != http.StatusNoContent {
			_, _ = w.Write(f.Body)
		}
	}))
	t.Cleanup(srv.Close)
	return newTestClient(t, fastConfig(srv.URL, testToken, testOrg), append(mods, func(c *Config) { c.MaxTries = 1 })...)
}

func ptr[T any](v T) *T { return &v }

// contractWant is what the tools must read out of one file. A nil pointer expects unknown.
type contractWant struct {
	id, name string
	oneOff   bool
	runID    string
	status   string
	archived *bool // nil: unknown (the item carries nothing that tells)
	progress *float64
	steps    *float64
	total    int // lists: pagination total
	items    int // lists: items on the page, when more than one (the first is checked)
	empty    bool
	// references: archive-template answers, how many deleted_references entries are read out
	references int
	// identity (what tallyfy-mcp check reads): GET /me, and the membership GET
	// /me/organizations gives for the organization orgID
	userName, email string
	orgID, role     string
	orgStatus       string
	// errors
	errStatus int
	errCode   string
	errMsg    string
	errField  string
}

var contractWants = map[string]contractWant{
	// tasks
	"get-task.docs":                    {id: "task_id_abc", name: "Review Proposal", runID: "run_id_xyz", status: "active", archived: ptr(false)},
	"get-task.swagger":                 {id: "3f1e0b6f2ad4c1e1a8b5c9d2e7f60a11", name: "Send the signed contract", runID: "b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7", status: "in-progress", archived: ptr(false)},
	"get-task.swagger-standalone":      {id: "4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d", name: "Order new laptops", oneOff: true, status: "not-started", archived: ptr(false)},
	"get-task.mcp-per-assignee":        {id: "5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e", name: "Submit your timesheet", oneOff: true, runID: "6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f", status: "active", archived: ptr(false)},
	"get-task.cli":                     {id: "7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a", name: "Approve the budget", oneOff: true, status: "not-started"},
	"list-tasks.docs":                  {id: "task_id_abc", name: "Review Proposal", runID: "run_id_xyz", status: "active", total: 50},
	"list-process-tasks.docs":          {id: "task_id_1", name: "Welcome Call", runID: "PROCESS_RUN_ID", status: "active", total: 2, items: 2},
	"list-process-tasks.docs-complete": {id: "task_id_3", name: "Send Welcome Pack", runID: "PROCESS_RUN_ID", status: "completed", total: 1},
	"list-tasks.swagger":               {id: "3f1e0b6f2ad4c1e1a8b5c9d2e7f60a11", name: "Send the signed contract", oneOff: true, runID: "b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7", status: "in-progress", archived: ptr(false), total: 2, items: 2},
	"archive-task.docs":                {empty: true},
	"delete-task.docs":                 {empty: true},
	"create-task.docs":                 {id: "new_one_off_task_id_789", name: "Python One-Off Task: Plan Meeting"},
	"restore-task.inference":           {id: "2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f", name: "Order office chairs", oneOff: true, runID: "6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f", status: "active", archived: ptr(false)},
	"restore-task.inference-empty":     {empty: true},
	// runs
	"get-run.docs":             {id: "run_id_abc", name: "Onboarding - Globex Corp", status: "active", archived: ptr(false)},
	"get-run.swagger":          {id: "8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b", name: "name of Process", status: "active", archived: ptr(false), progress: ptr(25.0)},
	"get-run.swagger-archived": {id: "a3b4c5d6e7f8091a2b3c4d5e6f708192", name: "Old audit", status: "archived", archived: ptr(true), progress: ptr(100.0)},
	"get-run.cli":              {id: "9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c", name: "Q3 vendor review", status: "active", archived: ptr(false)},
	"list-runs.docs":           {id: "run_id_abc", name: "Onboarding - ACME Corp", status: "active", archived: ptr(false), progress: ptr(50.0), total: 55},
	"list-runs.swagger":        {id: "8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b", name: "name of Process", status: "active", archived: ptr(false), progress: ptr(25.0), total: 2, items: 2},
	"archive-run.docs":         {id: "PROCESS_RUN_ID_TO_ARCHIVE", name: "Old Completed Project", status: "archived", archived: ptr(true), progress: ptr(75.0)},
	"activate-run.docs":        {id: "PROCESS_RUN_ID_TO_ACTIVATE", name: "Restored Project Run", status: "active", archived: ptr(false)},
	"delete-run.docs":          {empty: true},
	// templates
	"get-template.docs":                {id: "YOUR_TEMPLATE_ID", name: "Customer Onboarding Process", status: "active", archived: ptr(false)},
	"get-template.swagger":             {id: "0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d", name: "Purchase approval", archived: ptr(false)},
	"get-template.cli":                 {id: "1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e", name: "New hire onboarding", status: "active", archived: ptr(false), steps: ptr(12.0)},
	"list-templates.docs":              {id: "c15bf2be31c3a7fbded5d13fce7aaab9", name: "Customer Onboarding Process", status: "active", steps: ptr(8.0), total: 25},
	"list-templates.cli":               {id: "1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e", name: "New hire onboarding", status: "active", archived: ptr(true), steps: ptr(12.0), total: 1},
	"archive-template.docs":            {empty: true},
	"archive-template.docs-list":       {empty: true, references: 2},
	"delete-template.docs":             {empty: true},
	"restore-template.inference":       {id: "3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f80", name: "Legacy expense report", status: "active", archived: ptr(false)},
	"restore-template.inference-empty": {empty: true},
	// identity: the user (name as the check shows it) and the checked organization's membership
	"get-me.cli":                    {id: "123", userName: "Amit Example", email: "amit@x.com"},
	"get-me.n8n":                    {id: "USER1"},
	"list-my-organizations.swagger": {orgID: "4c5d6e7f8091a2b3c4d5e6f708192a3b", name: "Acme Operations", role: "admin", orgStatus: "active", total: 2, items: 2},
	"list-my-organizations.cli":     {orgID: "4c5d6e7f8091a2b3c4d5e6f708192a3b", name: "Acme", total: 1},
	"list-my-organizations.mcp":     {orgID: "4c5d6e7f8091a2b3c4d5e6f708192a3b", total: 2, items: 2},
	// error bodies (docs/tallyfy-api.md §4)
	"error-404-resource.docs":       {errStatus: 404, errCode: "RESOURCE_NOT_FOUND", errMsg: "Resource not found"},
	"error-404-endpoint.docs":       {errStatus: 404, errCode: "ENDPOINT_NOT_FOUND", errMsg: "API endpoint not found"},
	"error-422-validation.docs":     {errStatus: 422, errMsg: "Unprocessable Entity", errField: "field_name"},
	"error-429-rate-limit.docs":     {errStatus: 429, errCode: "RATE_LIMIT_EXCEEDED", errMsg: "You've reached the limit for [operation]. Please try again later."},
	"error-401-invalid-client.docs": {errStatus: 401, errCode: "invalid_client", errMsg: "Unauthorized"},
	"error-422-laravel.mcp":         {errStatus: 422, errMsg: "The given data was invalid.", errField: "name"},
	"error-409-structured.mcp":      {errStatus: 409, errCode: "SEAT_POOL_EXHAUSTED", errMsg: "The organization has no light seats left."},
}

func TestContractCorpusHasExpectations(t *testing.T) {
	files := loadContract(t)
	for name := range files {
		if _, ok := contractWants[name]; !ok {
			t.Errorf("testdata/contract/%s.json has no entry in contractWants", name)
		}
	}
	for name := range contractWants {
		if _, ok := files[name]; !ok {
			t.Errorf("contractWants names %s, which is not in testdata/contract", name)
		}
	}
	sources, err := os.ReadFile(filepath.Join("testdata", "contract", "SOURCES.md"))
	if err != nil {
		t.Fatal(err)
	}
	for name := range files {
		if !strings.Contains(string(sources), "`"+name+".json`") {
			t.Errorf("SOURCES.md does not cite %s.json", name)
		}
	}
}

// TestContractCorpusDecodes decodes every corpus file through the client, as the tools do.
func TestContractCorpusDecodes(t *testing.T) {
	for name, f := range loadContract(t) {
		want, ok := contractWants[name]
		if !ok {
			continue // TestContractCorpusHasExpectations reports it
		}
		t.Run(name, func(t *testing.T) {
			if strings.HasPrefix(f.Endpoint, "GET /me") {
				checkContractIdentity(t, f, want)
				return
			}
			if f.Endpoint == "POST /tasks" { // only check --live creates, through Probe
				a, err := serveContract(t, f).Probe(context.Background(), http.MethodPost, "/tasks", nil, map[string]string{"name": want.name})
				var body struct{ Data struct{ ID, Title string } }
				if err != nil || a.Status != f.Status || json.Unmarshal(a.Body, &body) != nil || body.Data.ID != want.id || body.Data.Title != want.name {
					t.Errorf("probe: %v %+v %s", err, a, a.Body)
				}
				return
			}
			c := serveContract(t, f)
			var issues []ShapeIssue
			ctx := WithShapeReporter(context.Background(), func(is ShapeIssue) { issues = append(issues, is) })
			var got []Entity
			var runs []*Run
			var templates []*Template
			var total int
			var err error
			switch f.Endpoint {
			case "GET /tasks/{id}":
				var v *Task
				if v, err = c.GetTask(ctx, validID); err == nil {
					got = append(got, v.Entity())
				}
			case "GET /tasks":
				got, total, err = listEntities(ctx, c.ListTasks, (*Task).Entity)
			case "GET /runs/{id}/tasks":
				var p *Page[Task]
				if p, _, err = c.ProcessTasks(ctx, validID); err == nil {
					for i := range p.Items {
						got = append(got, p.Items[i].Entity())
					}
					total = p.Pagination.Total
				}
			case "DELETE /tasks/{id}":
				err = c.ArchiveTask(ctx, validID)
			case "DELETE /tasks/{id}/delete":
				err = c.DeleteTask(ctx, validID)
			case "PUT /tasks/{id}/restore":
				var v *Task
				if v, err = c.RestoreTask(ctx, validID); v != nil {
					got = append(got, v.Entity())
				}
			case "GET /runs/{id}":
				var v *Run
				if v, err = c.GetRun(ctx, validID); err == nil {
					got, runs = append(got, v.Entity()), append(runs, v)
				}
			case "GET /runs":
				var p *Page[Run]
				if p, err = c.ListRuns(ctx, ListOptions{}); err == nil {
					for i := range p.Items {
						got, runs = append(got, p.Items[i].Entity()), append(runs, &p.Items[i])
					}
					total = p.Pagination.Total
				}
			case "DELETE /runs/{id}":
				var v *Run
				if v, err = c.ArchiveRun(ctx, validID); v != nil {
					got, runs = append(got, v.Entity()), append(runs, v)
				}
			case "PUT /runs/{id}/activate":
				var v *Run
				if v, err = c.ActivateRun(ctx, validID); v != nil {
					got, runs = append(got, v.Entity()), append(runs, v)
				}
			case "DELETE /runs/{id}/delete":
				err = c.DeleteRun(ctx, validID)
			case "GET /checklists/{id}":
				var v *Template
				if v, err = c.GetTemplate(ctx, validID); err == nil {
					got, templates = append(got, v.Entity()), append(templates, v)
				}
			case "GET /checklists":
				var p *Page[Template]
				if p, err = c.ListTemplates(ctx, ListOptions{Archived: ArchivedInclude}); err == nil {
					for i := range p.Items {
						got, templates = append(got, p.Items[i].Entity()), append(templates, &p.Items[i])
					}
					total = p.Pagination.Total
				}
			case "DELETE /checklists/{id}":
				var d *TemplateDeletion
				if d, err = c.ArchiveTemplate(ctx, validID); err == nil && !strings.Contains(d.Message, "Template was deleted") {
					t.Errorf("archive message %q", d.Message)
				}
				if err == nil {
					if refs := d.References(); len(refs) != want.references || (len(refs) > 0 && (refs[0].Type == "" || refs[0].ID == "" || refs[0].Title == "")) {
						t.Errorf("deleted_references read as %+v, want %d entries with type, id and title", refs, want.references)
					}
				}
			case "DELETE /checklists/{id}/delete":
				_, err = c.DeleteTemplate(ctx, validID)
			case "PUT /checklists/{id}/restore":
				var v *Template
				if v, err = c.RestoreTemplate(ctx, validID); v != nil {
					got, templates = append(got, v.Entity()), append(templates, v)
				}
			case "error":
				_, err = c.GetRun(ctx, validID)
				checkContractError(t, err, want)
				return
			default:
				t.Fatalf("unknown endpoint %q", f.Endpoint)
			}
			if err != nil {
				t.Fatalf("%s: %v", f.Endpoint, err)
			}
			if len(issues) > 0 {
				t.Errorf("a documented shape was reported as undocumented: %+v", issues)
			}
			if want.empty {
				if len(got) != 0 {
					t.Errorf("want no item back, got %+v", got)
				}
				return
			}
			if wantItems := max(want.items, 1); len(got) != wantItems {
				t.Fatalf("want %d items, got %d", wantItems, len(got))
			}
			e := got[0]
			if e.ID != want.id || e.Name != want.name || e.Status != want.status {
				t.Errorf("id/name/status = %q/%q/%q, want %q/%q/%q", e.ID, e.Name, e.Status, want.id, want.name, want.status)
			}
			if e.Kind == KindTask && (e.OneOff != want.oneOff || e.RunID != want.runID) {
				t.Errorf("one-off %v run_id %q, want %v %q", e.OneOff, e.RunID, want.oneOff, want.runID)
			}
			switch {
			case want.archived == nil && e.ArchivedKnown:
				t.Errorf("archived = %v, want unknown (nothing in the item tells)", e.Archived)
			case want.archived != nil && (!e.ArchivedKnown || e.Archived != *want.archived):
				t.Errorf("archived = %v (known %v), want %v", e.Archived, e.ArchivedKnown, *want.archived)
			}
			if want.total != total {
				t.Errorf("pagination total %d, want %d", total, want.total)
			}
			for _, r := range runs[:min(len(runs), 1)] {
				if !sameNumber(r.Progress, want.progress) {
					t.Errorf("progress = %v, want %v", show(r.Progress), show(want.progress))
				}
			}
			for _, tp := range templates {
				if !sameNumber(tp.StepsCount, want.steps) {
					t.Errorf("steps_count = %v, want %v", show(tp.StepsCount), show(want.steps))
				}
			}
		})
	}
}

// checkContractIdentity decodes a GET /me or GET /me/organizations file as tallyfy-mcp check
// does (GetMe; GetMembership for the organization the file's want names) and checks the fields
// the check reports: the user's id and name, the membership's name, role and status.
func checkContractIdentity(t *testing.T, f contractFile, want contractWant) {
	t.Helper()
	c := serveContract(t, f, func(c *Config) {
		if want.orgID != "" {
			c.OrgID = want.orgID
		}
	})
	var issues []ShapeIssue
	ctx := WithShapeReporter(context.Background(), func(is ShapeIssue) { issues = append(issues, is) })
	switch f.Endpoint {
	case "GET /me":
		me, err := c.GetMe(ctx)
		if err != nil {
			t.Fatalf("GetMe: %v", err)
		}
		if me.ID != want.id || me.Name() != want.userName || me.Email != want.email {
			t.Errorf("id/name/email = %q/%q/%q, want %q/%q/%q", me.ID, me.Name(), me.Email, want.id, want.userName, want.email)
		}
	case "GET /me/organizations":
		p, err := listMyOrganizations(ctx, c, 1)
		if err != nil {
			t.Fatalf("GET /me/organizations: %v", err)
		}
		if len(p.Items) != max(want.items, 1) || p.Pagination.Total != want.total || p.HasMore() {
			t.Errorf("%d items, total %d, more %v; want %d, %d, no more", len(p.Items), p.Pagination.Total, p.HasMore(), max(want.items, 1), want.total)
		}
		ms, err := c.GetMembership(ctx)
		if err != nil {
			t.Fatalf("GetMembership: %v", err)
		}
		if ms.OrgID != want.orgID || ms.Name != want.name || string(ms.Role) != want.role || ms.Status != want.orgStatus {
			t.Errorf("membership = %+v, want org %s name %q role %q status %q", ms, want.orgID, want.name, want.role, want.orgStatus)
		}
		if ms.Role != "" && !ms.Role.Known() {
			t.Errorf("role %q is not one of the documented roles", ms.Role)
		}
	default:
		t.Fatalf("unknown endpoint %q", f.Endpoint)
	}
	if len(issues) > 0 {
		t.Errorf("a documented shape was reported as undocumented: %+v", issues)
	}
}

func listEntities[T any](ctx context.Context, list func(context.Context, ListOptions) (*Page[T], error), entity func(*T) Entity) ([]Entity, int, error) {
	p, err := list(ctx, ListOptions{Archived: ArchivedInclude})
	if err != nil {
		return nil, 0, err
	}
	out := make([]Entity, 0, len(p.Items))
	for i := range p.Items {
		out = append(out, entity(&p.Items[i]))
	}
	return out, p.Pagination.Total, nil
}

func checkContractError(t *testing.T, err error, want contractWant) {
	t.Helper()
	var ae *APIError
	if !errors.As(err, &ae) {
		t.Fatalf("want an *APIError, got %T %v", err, err)
	}
	if ae.Status != want.errStatus || ae.Code != want.errCode || ae.Message != want.errMsg || ae.RequestID != "req-contract" {
		t.Errorf("status/code/message/request = %d/%q/%q/%q, want %d/%q/%q", ae.Status, ae.Code, ae.Message, ae.RequestID, want.errStatus, want.errCode, want.errMsg)
	}
	if want.errField != "" && len(ae.Fields[want.errField]) == 0 {
		t.Errorf("field errors %v lack %q", ae.Fields, want.errField)
	}
	if got := IsNotFound(err); got != (want.errCode == "RESOURCE_NOT_FOUND") {
		t.Errorf("IsNotFound = %v", got)
	}
}

func sameNumber(a, b *float64) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

func show(p *float64) any {
	if p == nil {
		return "unknown"
	}
	return *p
}
