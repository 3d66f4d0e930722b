package tools_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
)

// TestLifecycleConflictIsNotCalledMissing: Tallyfy answers the archive 404 though the item
// exists (issue 18 point 2): the result says "Tallyfy refused (404)" and the state read back,
// not that it does not exist; and, since nothing shows that it changed (archive_run reads
// nothing before, and the run's last_updated is as it was), not "changed while this call ran".
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
	r.failed(t, "Tallyfy refused (404", "Read back just now, it is live", "Nothing was changed by this call", "get_run")
	if strings.Contains(r.text, "No process") || strings.Contains(r.text, "changed while this call ran") {
		t.Errorf("called missing, or claims a concurrent change nothing shows: %s", r.text)
	}
	if recs := h.audit.outcomes(); len(recs) != 1 || recs[0].Outcome != "failed" || recs[0].HTTPStatus != 404 {
		t.Errorf("audit %+v", recs)
	}
}
