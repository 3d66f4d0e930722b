package server

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"
)

// rpcMessages parses a POST's answer: one JSON object, or SSE events of them.
func rpcMessages(t *testing.T, body string) []map[string]any {
	t.Helper()
	var out []map[string]any
	if strings.HasPrefix(strings.TrimSpace(body), "{") {
		var m map[string]any
		if err := json.Unmarshal([]byte(body), &m); err != nil {
			t.Fatalf("answer: %v: %s", err, body)
		}
		return append(out, m)
	}
	for _, line := range strings.Split(body, "\n") {
		if data, ok := strings.CutPrefix(line, "data: "); ok {
			var m map[string]any
			if err := json.Unmarshal([]byte(data), &m); err != nil {
				t.Fatalf("event: %v: %s", err, data)
			}
			out = append(out, m)
		}
	}
	return out
}

// TestConcurrentBulkCallsGetTheirOwnProgress: two bulk calls in flight at once on one
// older-protocol streamable-HTTP session each receive only their own progress notifications
// on their own stream (mcp-go shares one notification channel per session between its POSTs:
// docs/mcp-go-guide.md part 2).
func TestConcurrentBulkCallsGetTheirOwnProgress(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{}, "--bulk-concurrency", "1")
	status, hdr, body := rawPost(t, f.URL+"/mcp", initBody, nil)
	sid := hdr.Get("Mcp-Session-Id")
	if status != 200 || sid == "" {
		t.Fatalf("initialize: %d %s", status, body)
	}
	h := map[string]string{"Mcp-Session-Id": sid, "MCP-Protocol-Version": mcp.ProtocolVersion20251125}
	rawPost(t, f.URL+"/mcp", `{"jsonrpc":"2.0","method":"notifications/initialized"}`, h)

	post := func(id int, name string, args any, meta string) map[string]any {
		a, _ := json.Marshal(args)
		_, _, b := rawPost(t, f.URL+"/mcp", fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":%q,"arguments":%s%s}}`, id, name, a, meta), h)
		msgs := rpcMessages(t, b)
		return map[string]any{"all": msgs}
	}
	result := func(r map[string]any) map[string]any {
		for _, m := range r["all"].([]map[string]any) {
			if res, ok := m["result"].(map[string]any); ok {
				return res
			}
		}
		t.Fatalf("no result in %v", r)
		return nil
	}
	runs := result(post(2, "list_runs", map[string]any{}, ""))["structuredContent"].(map[string]any)["runs"].([]any)
	if len(runs) < 6 {
		t.Fatalf("%d live runs, want 6", len(runs))
	}
	var ids [2][]string
	for i := range 6 {
		ids[i%2] = append(ids[i%2], runs[i].(map[string]any)["id"].(string))
	}
	var execs [2]map[string]any
	for i := range 2 {
		plan := result(post(10+i, "bulk_archive", map[string]any{"type": "run", "ids": ids[i]}, ""))
		execs[i] = plan["structuredContent"].(map[string]any)["execute"].(map[string]any)["arguments"].(map[string]any)
	}
	var wg sync.WaitGroup
	var got [2]map[string]any
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i] = post(20+i, "bulk_archive", execs[i], fmt.Sprintf(`,"_meta":{"progressToken":"call-%d"}`, i))
		}()
	}
	wg.Wait()
	for i := range 2 {
		var progress []string
		for _, m := range got[i]["all"].([]map[string]any) {
			if m["method"] == "notifications/progress" {
				p := m["params"].(map[string]any)
				progress = append(progress, fmt.Sprint(p["progressToken"]))
			}
		}
		if len(progress) != 3 {
			t.Errorf("call %d got %d progress notifications, want its 3: %v", i, len(progress), progress)
		}
		for _, tok := range progress {
			if tok != fmt.Sprintf("call-%d", i) {
				t.Errorf("call %d received progress of %s", i, tok)
			}
		}
		if ok := result(got[i])["structuredContent"].(map[string]any)["totals"].(map[string]any)["ok"]; ok != 3.0 {
			t.Errorf("call %d archived %v, want 3", i, ok)
		}
	}
}
