package preflight

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// The check's HTTP client refuses anything but GET and HEAD before it leaves the process.
func TestReadOnlyHTTPClient(t *testing.T) {
	t.Parallel()
	var got atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Add(1)
	}))
	t.Cleanup(srv.Close)
	hc := readOnlyHTTPClient()
	for _, m := range []string{http.MethodDelete, http.MethodPut, http.MethodPost, http.MethodPatch} {
		req, _ := http.NewRequest(m, srv.URL, strings.NewReader("{}"))
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
			t.Errorf("%s went through", m)
		} else if !strings.Contains(err.Error(), "only GET") {
			t.Errorf("%s: %v", m, err)
		}
	}
	if n := got.Load(); n != 0 {
		t.Fatalf("the server received %d writes", n)
	}
	resp, err := hc.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if got.Load() != 1 {
		t.Error("a GET did not go through")
	}
	// Only check --live's own requests, whose context carries its mark, may write.
	req, _ := http.NewRequestWithContext(allowWrites(context.Background()), http.MethodDelete, srv.URL, nil)
	resp, err = hc.Do(req)
	if err != nil {
		t.Fatalf("a --live write was refused: %v", err)
	}
	resp.Body.Close()
	if got.Load() != 2 {
		t.Error("the --live write did not arrive")
	}
}
