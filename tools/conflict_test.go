package tools_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
)

// TestLifecycleConflictIsNotCalledMissing: the archive request meets an item that another
// session archived and restored in between (Tallyfy answers 404 though the item exists):
// the result says it changed concurrently, not that it does not exist.
func TestLifecycleConflictIsNotCalledMissing(t *testing.T) {
	h := newHarness(t, withMaxTries(1), withWrap(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodDelete && strings.HasSuffix(r.URL.Path, "/runs/"+sandbox.IDs.ActiveRun) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusNotFound)
				_, _ = w.Write([]byte(`{"error":true,"message":"Resource not found","code":"RESOURCE_NOT_FOUND"}`))
				return
			}
			next.ServeHTTP(w, r)
		})
	}))
	r := h.call("archive_run", map[string]any{"run_id": sandbox.IDs.ActiveRun})
	r.failed(t, "changed while this call ran", "now live", "get_run")
	if strings.Contains(r.text, "No process") {
		t.Errorf("called missing: %s", r.text)
	}
	if recs := h.audit.outcomes(); len(recs) != 1 || recs[0].Outcome != "failed" || recs[0].HTTPStatus != 404 {
		t.Errorf("audit %+v", recs)
	}
}
