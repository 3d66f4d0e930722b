package mcphttp

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tallyfy-mcp/tallyfy-mcp/server/auth"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
)

// TestStepUpWhereTheToolIsKnown: the step-up check Identify returns is applied wherever this
// package learns the tool called, and its answer comes first: for an accepted caller from the
// 2026-07-28 headers (before the body is read) or from the envelope's parse; for a caller
// refused for another reason, and on /sse, from a read of the body made only for it. A request
// whose 2026-07-28 headers name another method calls no tool, whatever its body says.
func TestStepUpWhereTheToolIsKnown(t *testing.T) {
	t.Parallel()
	stepUp := func(tool string) *auth.Refusal {
		if tool == "delete_task" {
			return &auth.Refusal{Status: http.StatusForbidden, Challenge: "step-up", Msg: "delete_task needs more"}
		}
		return nil
	}
	s := newTestServer(func(r *http.Request) (*tools.Caller, auth.StepUp, *auth.Refusal) {
		if r.Header.Get("Authorization") == "Bearer unmapped" { // a good token nobody maps to a caller
			return nil, stepUp, &auth.Refusal{Status: http.StatusForbidden, Challenge: "mapping", Msg: "no caller entry"}
		}
		return &tools.Caller{Binding: "oauth:x"}, stepUp, nil
	})
	srv := httptest.NewServer(s.Handler)
	defer srv.Close()
	call := func(tool string) string {
		return `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"` + tool + `","arguments":{}}}`
	}
	modern := map[string]string{"Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": "delete_task"}
	for _, tc := range []struct {
		name, path, token, body string
		headers                 map[string]string
		challenge               string // "" : not refused by either check
	}{
		{"older protocol, from the body", "/mcp", "good", call("delete_task"), nil, "step-up"},
		{"older protocol, a covered tool", "/mcp", "good", call("get_task"), nil, ""},
		{"2026-07-28, from the headers", "/mcp", "good", call("delete_task"), modern, "step-up"},
		{"2026-07-28 headers naming another method", "/mcp", "good", call("delete_task"),
			map[string]string{"Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/list"}, ""},
		{"SSE message", "/message?sessionId=x", "good", call("delete_task"), nil, "step-up"},
		{"POST /sse", "/sse", "good", call("delete_task"), nil, "step-up"},
		{"refused, and beyond the scope", "/mcp", "unmapped", call("delete_task"), nil, "step-up"},
		{"refused, a covered tool", "/mcp", "unmapped", call("get_task"), nil, "mapping"},
		{"refused, 2026-07-28 headers", "/mcp", "unmapped", call("get_task"), modern, "step-up"},
	} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+tc.path, strings.NewReader(tc.body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Authorization", "Bearer "+tc.token)
		for k, v := range tc.headers {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		got := resp.Header.Get("WWW-Authenticate")
		if tc.challenge == "" && (got != "" || resp.StatusCode == http.StatusForbidden) {
			t.Errorf("%s: %d %q %s, want no refusal of the caller", tc.name, resp.StatusCode, got, body)
		}
		if tc.challenge != "" && (resp.StatusCode != http.StatusForbidden || got != tc.challenge || !strings.Contains(string(body), "-32001")) {
			t.Errorf("%s: %d %q %s, want 403 with challenge %q", tc.name, resp.StatusCode, got, body, tc.challenge)
		}
	}
}
