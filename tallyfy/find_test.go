package tallyfy

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// TestFindSeesAnItemRestoredBetweenReads: GET says 404 (archived), the run is then restored, so
// the archived listing does not have it either; Find must look once more instead of calling a
// live item missing.
func TestFindSeesAnItemRestoredBetweenReads(t *testing.T) {
	id := strings.Repeat("e", 32)
	var gets atomic.Int32
	s := newStub(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasSuffix(r.URL.Path, "/runs/"+id) && gets.Add(1) == 1:
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"error":true,"message":"Resource not found","code":"RESOURCE_NOT_FOUND"}`))
		case strings.HasSuffix(r.URL.Path, "/runs/"+id):
			_, _ = w.Write([]byte(`{"data":{"id":"` + id + `","name":"Back again","status":"active","archived_at":null}}`))
		default: // the archived listing: restored meanwhile, so empty
			_, _ = w.Write([]byte(`{"data":[],"meta":{"pagination":{"total":0,"count":0,"per_page":100,"current_page":1,"total_pages":1,"links":[]}}}`))
		}
	})
	run, err := findAs[Run](context.Background(), s.client(t), KindRun, id)
	if err != nil || run.Name != "Back again" || run.ArchivedAt != nil {
		t.Fatalf("Find(run) = %+v, %v; want the live run", run, err)
	}
	if n := gets.Load(); n != 2 {
		t.Errorf("%d GETs, want 2", n)
	}
}
