package tools_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/tallyfy-mcp/tallyfy-mcp/schemas"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
)

// Issue 18 point 2: after any refusal, the result says what a fresh read shows.

// TestRefusedDeleteSaysWhatIsTrue: a 4xx to a permanent delete is followed by a read, and the
// result says the item is still there (and how), never "may have been permanently deleted".
func TestRefusedDeleteSaysWhatIsTrue(t *testing.T) {
	t.Parallel()
	t.Run("run 404: documented as wrong ID or not archived", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, withConfirm(tools.ConfirmOff), withMaxTries(1), withWrap(answerDeleteWith(http.StatusNotFound)))
		r := h.call("delete_run", map[string]any{"run_id": sandbox.IDs.ArchivedRun}).failed(t,
			"Tallyfy refused the delete (404", "Read back just now, process", "is still there, archived: nothing was deleted", "wrong ID or not archived")
		if strings.Contains(r.text, "may have been permanently deleted") || h.gone("run", sandbox.IDs.ArchivedRun) {
			t.Errorf("%s", r.text)
		}
		if outs := h.audit.outcomes(); len(outs) != 1 || outs[0].Outcome != "failed" || outs[0].HTTPStatus != 404 || outs[0].ResourceName == "" {
			t.Errorf("audit %+v", outs)
		}
	})
	t.Run("task hard delete 404 of an archived task", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, withConfirm(tools.ConfirmOff), withMaxTries(1))
		h.sb.SetVariants(sandbox.VariantTaskDeleteArchived404)
		r := h.call("delete_task", map[string]any{"task_id": sandbox.IDs.ArchivedTask}).failed(t,
			"Tallyfy refused the delete (404", "is still there, archived: nothing was deleted", "does not find this archived one-off task")
		if strings.Contains(r.text, "may have been") || h.gone("task", sandbox.IDs.ArchivedTask) {
			t.Errorf("%s", r.text)
		}
	})
	// Tallyfy's own 403s (the sandbox lets every role delete one-off tasks, and the server
	// refuses a member's run delete itself before asking: role_test.go).
	t.Run("task 403 does not claim an administrator is needed", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, withConfirm(tools.ConfirmOff), withMaxTries(1), withWrap(answerDeleteWith(http.StatusForbidden)))
		r := h.call("delete_task", map[string]any{"task_id": sandbox.IDs.ArchivedTask}).failed(t,
			"Tallyfy refused the delete (403", "still there, archived", "business rule")
		if strings.Contains(r.text, "need a Tallyfy administrator") || strings.Contains(r.text, "needs an administrator") {
			t.Errorf("claims tasks need an admin: %s", r.text)
		}
	})
	t.Run("run 403 names the documented admin rule", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, withConfirm(tools.ConfirmOff), withMaxTries(1), withWrap(answerDeleteWith(http.StatusForbidden)))
		h.call("delete_run", map[string]any{"run_id": sandbox.IDs.ArchivedRun}).failed(t, "still there, archived", "need a Tallyfy administrator", "business rule")
	})
}

// TestUnknownRouteIsNamed: a 404 ENDPOINT_NOT_FOUND on one route while the others answer names
// the route and does not blame the base URL.
func TestUnknownRouteIsNamed(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withMaxTries(1), withWrap(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/restore") {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusNotFound)
				_, _ = w.Write([]byte(`{"error":true,"message":"API endpoint not found","code":"ENDPOINT_NOT_FOUND"}`))
				return
			}
			next.ServeHTTP(w, r)
		})
	}))
	r := h.call("restore_task", map[string]any{"task_id": sandbox.IDs.ArchivedTask}).failed(t,
		"Tallyfy refused (404 Not Found, ENDPOINT_NOT_FOUND", "Read back just now, it is archived", "PUT /tasks/{id}/restore", "TALLYFY_BASE_URL is right")
	if strings.Contains(r.text, "probably wrong") {
		t.Errorf("blames the base URL: %s", r.text)
	}
}

// TestArchiveTemplateShowsDeletedReferences: what Tallyfy detached is in the result, its text
// and the audit record; the text does not promise that restore_template puts it back.
func TestArchiveTemplateShowsDeletedReferences(t *testing.T) {
	t.Parallel()
	body := `{"message":"The Template was deleted, and references were also deleted from:","deleted_references":[{"type":"Blueprint","title":"Parent onboarding","id":"0123456789abcdef0123456789abcdef"},{"type":"Step","title":"Kick off onboarding","id":"fedcba9876543210fedcba9876543210"}]}`
	h := newHarness(t, withWrap(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodDelete && strings.HasSuffix(r.URL.Path, "/checklists/"+sandbox.IDs.LiveTemplate) {
				next.ServeHTTP(discard{w.Header()}, r) // the sandbox archives it; the answer is the docs' list shape
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusOK)
				_, _ = w.Write([]byte(body))
				return
			}
			next.ServeHTTP(w, r)
		})
	}))
	r := h.call("archive_template", map[string]any{"template_id": sandbox.IDs.LiveTemplate}).ok(t)
	res := decode[schemas.ArchiveTemplateResult](t, r)
	if !res.Changed || !res.Reversible || len(res.DeletedReferences) != 2 || res.DeletedReferences[0].Type != "Blueprint" ||
		res.DeletedReferences[1].Title != "Kick off onboarding" || !h.lookup("template", sandbox.IDs.LiveTemplate).Archived {
		t.Errorf("%+v", res)
	}
	contains(t, "text", r.text, `Blueprint "Parent onboarding"`, `Step "Kick off onboarding"`, "restore_template may not re-attach these")
	if strings.Contains(r.text, "Undo with") {
		t.Errorf("promises a full undo: %s", r.text)
	}
	outs := h.audit.outcomes()
	if len(outs) != 1 || len(outs[0].DeletedReferences) != 2 || outs[0].DeletedReferences[0].ID != "0123456789abcdef0123456789abcdef" {
		t.Errorf("audit %+v", outs)
	}
	// The sandbox's own answer: {} (docs from their 2026-03-01 rewrite) detaches nothing.
	plain := newHarness(t)
	r2 := plain.call("archive_template", map[string]any{"template_id": sandbox.IDs.LiveTemplate}).ok(t)
	res2 := decode[schemas.ArchiveTemplateResult](t, r2)
	if len(res2.DeletedReferences) != 0 || !res2.Reversible {
		t.Errorf("%+v", res2)
	}
	contains(t, "text", r2.text, "nothing detached", "not promised back by a restore")
}

// discard is a ResponseWriter that drops what it is given.
type discard struct{ h http.Header }

func (d discard) Header() http.Header         { return http.Header{} }
func (d discard) Write(b []byte) (int, error) { return len(b), nil }
func (d discard) WriteHeader(int)             {}
