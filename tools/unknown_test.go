package tools_test

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
)

// TestLifecycleUnknownAfterLostAnswer: the archive went through but its answer was lost, the
// retry met 404 (already archived), and reading the item back failed: the result says the
// state is unknown instead of calling an existing item missing.
func TestLifecycleUnknownAfterLostAnswer(t *testing.T) {
	var deletes atomic.Int32
	h := newHarness(t, withMaxTries(1), withWrap(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodDelete && strings.HasSuffix(r.URL.Path, "/tasks/"+sandbox.IDs.LiveTask) {
				deletes.Add(1)
				next.ServeHTTP(httptestDiscard{}, r) // archived, but the client hears 404
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusNotFound)
				_, _ = w.Write([]byte(`{"error":true,"message":"Resource not found","code":"RESOURCE_NOT_FOUND"}`))
				return
			}
			if deletes.Load() > 0 && r.Method == http.MethodGet { // reading back fails
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			next.ServeHTTP(w, r)
		})
	}))
	r := h.call("archive_task", map[string]any{"task_id": sandbox.IDs.LiveTask})
	r.failed(t, "Not sure whether", "get_task")
	if strings.Contains(r.text, "No one-off task") {
		t.Errorf("called missing: %s", r.text)
	}
	if recs := h.audit.outcomes(); len(recs) != 1 || recs[0].Outcome != "unknown" {
		t.Errorf("audit %+v", recs)
	}
}

// httptestDiscard is a ResponseWriter that drops what the sandbox answers.
type httptestDiscard struct{}

func (httptestDiscard) Header() http.Header         { return http.Header{} }
func (httptestDiscard) Write(b []byte) (int, error) { return len(b), nil }
func (httptestDiscard) WriteHeader(int)             {}
