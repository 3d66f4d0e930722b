package tools

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
)

var allowedPath = regexp.MustCompile(`^/organizations/[a-f0-9]{32}/(tasks|runs|checklists)(/[a-f0-9]{32}(/(delete|restore|activate))?)?$`)

// FuzzToolArguments calls every handler directly with arbitrary JSON arguments, both whole
// and without its judge (the schema check in front: judge.go): no panic, always a result, and
// every request that reaches Tallyfy is one of the intended endpoints.
func FuzzToolArguments(f *testing.F) {
	var mu sync.Mutex
	var bad []string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !allowedPath.MatchString(r.URL.EscapedPath()) {
			mu.Lock()
			bad = append(bad, r.Method+" "+r.URL.EscapedPath())
			mu.Unlock()
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error":true,"message":"Resource not found","code":"RESOURCE_NOT_FOUND"}`))
	}))
	f.Cleanup(api.Close)
	client, err := tallyfy.New(tallyfy.Config{BaseURL: api.URL, Token: "t", OrgID: strings.Repeat("b", 32), MaxTries: 1})
	if err != nil {
		f.Fatal(err)
	}
	ts, err := New(Options{Client: client, Confirm: ConfirmToken, Policy: Policy{MaxDeletesPerHour: -1}, Audit: discard{}})
	if err != nil {
		f.Fatal(err)
	}
	id := strings.Repeat("c", 32)
	for i, seed := range []string{
		`{"task_id":"` + id + `"}`, `{"run_id":"` + id + `/delete"}`, `{"template_id":"../x"}`, `{"run_id":"%2F.."}`,
		`{"task_id":"` + id + `","confirm_token":"tcf1.x.y"}`, `{"archived":"only","page":2,"per_page":100,"query":"a/b?c"}`,
		`{"per_page":-1}`, `{"run_id":12}`, `null`, `[]`, `{"template_id":"` + strings.ToUpper(id) + `"}`,
	} {
		f.Add(uint8(i), seed)
	}
	f.Fuzz(func(t *testing.T, which uint8, raw string) {
		tool := All[int(which)%len(All)]
		var args any
		if json.Unmarshal([]byte(raw), &args) != nil {
			args = raw
		}
		req := mcp.CallToolRequest{}
		req.Params.Name, req.Params.Arguments = tool.Name, args
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, h := range []server.ToolHandlerFunc{ts.handler(tool), ts.stages(tool)} {
			if res, err := h(ctx, req); err != nil || res == nil {
				t.Fatalf("%s(%s): result %v, error %v", tool.Name, raw, res, err)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if len(bad) > 0 {
			t.Fatalf("%s(%s) reached %v", tool.Name, raw, bad)
		}
	})
}

type discard struct{}

func (discard) Record(context.Context, Record) error { return nil }
