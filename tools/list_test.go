package tools_test

import (
	"context"
	"encoding/json"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/tallyfy-mcp/tallyfy-mcp/schemas"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
)

// tap is the in-process transport with a window on the raw JSON-RPC results.
type tap struct {
	*transport.InProcessTransport
	mu  sync.Mutex
	raw map[string][]json.RawMessage // method -> results, in order
}

func (t *tap) SendRequest(ctx context.Context, req transport.JSONRPCRequest) (*transport.JSONRPCResponse, error) {
	resp, err := t.InProcessTransport.SendRequest(ctx, req)
	if err == nil && resp != nil && resp.Result != nil {
		t.mu.Lock()
		t.raw[req.Method] = append(t.raw[req.Method], slices.Clone(resp.Result))
		t.mu.Unlock()
	}
	return resp, err
}

// rawToolsList runs a real tools/list over the in-process transport and returns each tool's
// wire JSON by name, in the order the server sent them.
func rawToolsList(t *testing.T, srv *mcpserver.MCPServer, p protocol) ([]string, map[string]json.RawMessage) {
	t.Helper()
	tp := &tap{InProcessTransport: transport.NewInProcessTransport(srv), raw: map[string][]json.RawMessage{}}
	var opts []client.ClientOption
	if p.version != "" {
		opts = append(opts, client.WithProtocolVersion(p.version))
	}
	c := client.NewClient(tp, opts...)
	t.Cleanup(func() { _ = c.Close() })
	ctx := context.Background()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	init := mcp.InitializeRequest{}
	init.Params.ClientInfo = mcp.Implementation{Name: "snap", Version: "0"}
	if _, err := c.Initialize(ctx, init); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListTools(ctx, mcp.ListToolsRequest{}); err != nil {
		t.Fatal(err)
	}
	tp.mu.Lock()
	pages := tp.raw[string(mcp.MethodToolsList)]
	tp.mu.Unlock()
	if len(pages) == 0 {
		t.Fatal("no tools/list result captured")
	}
	var names []string
	byName := map[string]json.RawMessage{}
	for _, page := range pages {
		var res struct {
			Tools []json.RawMessage `json:"tools"`
		}
		if err := json.Unmarshal(page, &res); err != nil {
			t.Fatal(err)
		}
		for _, tool := range res.Tools {
			var n struct {
				Name string `json:"name"`
			}
			_ = json.Unmarshal(tool, &n)
			names = append(names, n.Name)
			byName[n.Name] = tool
		}
	}
	return names, byName
}

// designTools is docs/design.md's tool table, written out independently of tools.All.
var designTools = map[string][4]bool{ // readOnly, destructive, idempotent, openWorld
	"get_task": {true, false, true, true}, "get_run": {true, false, true, true}, "get_template": {true, false, true, true},
	"list_tasks": {true, false, true, true}, "list_runs": {true, false, true, true}, "list_templates": {true, false, true, true},
	"archive_task": {false, true, true, true}, "restore_task": {false, false, true, true},
	"archive_run": {false, true, true, true}, "activate_run": {false, false, true, true},
	"archive_template": {false, true, true, true}, "restore_template": {false, false, true, true},
	"delete_task": {false, true, false, true}, "delete_run": {false, true, false, true}, "delete_template": {false, true, false, true},
	"bulk_archive": {false, true, true, true}, "bulk_restore": {false, false, true, true}, "bulk_delete": {false, true, false, true},
}

func designNames() []string {
	var out []string
	for n := range designTools {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

var toolNameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

func TestToolsListMatchesDesign(t *testing.T) {
	t.Parallel()
	forEachProtocol(t, func(t *testing.T, p protocol) {
		h := newHarness(t, withProto(p))
		names, raw := rawToolsList(t, h.srv, p)
		got := slices.Sorted(slices.Values(names))
		if !slices.Equal(got, designNames()) {
			t.Fatalf("tools/list names:\n got %v\nwant %v", got, designNames())
		}
		// mcp-go sorts tools by name; what matters is that the list is stable from call to
		// call (hosts cache it, and prompt caches key on it).
		again, _ := rawToolsList(t, h.srv, p)
		if !slices.Equal(names, again) {
			t.Errorf("tools/list order changed between calls: %v then %v", names, again)
		}
		if !slices.Equal(got, slices.Sorted(slices.Values(tools.Names()))) {
			t.Errorf("tools/list %v differs from the table %v", got, tools.Names())
		}
		for _, name := range names {
			t.Run(name, func(t *testing.T) {
				checkWireTool(t, name, raw[name])
			})
		}
		// The typed view the Go client sees agrees.
		lt, err := h.c.ListTools(context.Background(), mcp.ListToolsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if len(lt.Tools) != len(designTools) {
			t.Errorf("typed ListTools: %d tools", len(lt.Tools))
		}
	})
}

func checkWireTool(t *testing.T, name string, raw json.RawMessage) {
	t.Helper()
	if !toolNameRE.MatchString(name) {
		t.Errorf("name %q does not match %s", name, toolNameRE)
	}
	var tool struct {
		Name         string          `json:"name"`
		Title        string          `json:"title"`
		Description  string          `json:"description"`
		InputSchema  map[string]any  `json:"inputSchema"`
		OutputSchema map[string]any  `json:"outputSchema"`
		Annotations  map[string]any  `json:"annotations"`
		Extra        json.RawMessage `json:"-"`
	}
	if err := json.Unmarshal(raw, &tool); err != nil {
		t.Fatal(err)
	}
	if tool.Title == "" {
		t.Error("no top-level title")
	}
	if d := tool.Description; d == "" || len(d) > 250 {
		t.Errorf("description empty or longer than 250 characters (%d): it is paid for in every conversation", len(d))
	}
	want := designTools[name]
	for i, hint := range []string{"readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint"} {
		v, ok := tool.Annotations[hint].(bool)
		if !ok {
			t.Errorf("annotation %s not set explicitly (got %v)", hint, tool.Annotations[hint])
			continue
		}
		if v != want[i] {
			t.Errorf("annotation %s = %v, docs/design.md says %v", hint, v, want[i])
		}
	}
	if title, _ := tool.Annotations["title"].(string); title == "" || title != tool.Title {
		t.Errorf("annotations.title %q, want the tool title %q", title, tool.Title)
	}

	in := tool.InputSchema
	if in["type"] != "object" {
		t.Errorf("inputSchema type %v, want object", in["type"])
	}
	for _, k := range []string{"anyOf", "oneOf", "allOf"} {
		if _, ok := in[k]; ok {
			t.Errorf("inputSchema has top-level %s", k)
		}
	}
	props, _ := in["properties"].(map[string]any)
	if len(props) == 0 {
		t.Error("inputSchema has no properties")
	}
	walk(t, "inputSchema", in, func(path string, node map[string]any) {
		for _, k := range []string{"$ref", "$defs", "definitions", "$schema", "$id"} {
			if _, ok := node[k]; ok {
				t.Errorf("%s has %s", path, k)
			}
		}
		if node["type"] == "object" && node["additionalProperties"] != false {
			t.Errorf("%s: object without additionalProperties:false", path)
		}
		if node["type"] == "array" {
			if _, ok := node["items"].(map[string]any); !ok {
				t.Errorf("%s: array without items", path)
			}
		}
		for pn, pv := range asMap(node["properties"]) {
			p := asMap(pv)
			if d, _ := p["description"].(string); strings.TrimSpace(d) == "" {
				t.Errorf("%s.%s has no description", path, pn)
			}
			if strings.HasSuffix(pn, "_id") && p["pattern"] != schemas.IDPattern {
				t.Errorf("%s.%s: pattern %v, want %s", path, pn, p["pattern"], schemas.IDPattern)
			}
		}
	})
	if strings.HasPrefix(name, "bulk_") {
		// docs/design.md: type, and ids or the list filters; plan_token to execute.
		for _, a := range []string{"type", "ids", "plan_token"} {
			if _, ok := props[a]; !ok {
				t.Errorf("bulk tool lacks argument %s", a)
			}
		}
		if req, _ := in["required"].([]any); len(req) != 1 || req[0] != "type" {
			t.Errorf("required %v, want [type]", req)
		}
		if ids := asMap(props["ids"]); ids["minItems"] != 1.0 || ids["maxItems"] != 100.0 {
			t.Errorf("ids bounds %v..%v, want 1..100", ids["minItems"], ids["maxItems"])
		}
		return
	}
	// Arguments as docs/design.md lists them.
	k, isKind := func() (kindInfo, bool) {
		for _, k := range kinds {
			if strings.HasSuffix(name, "_"+k.kind) || strings.HasSuffix(name, "_"+k.kind+"s") {
				return k, true
			}
		}
		return kindInfo{}, false
	}()
	if !isKind {
		t.Fatalf("no kind for %s", name)
	}
	var wantArgs []string
	switch {
	case strings.HasPrefix(name, "list_"):
		wantArgs = []string{"archived", "page", "per_page", "query", "updated_after", "updated_before"}
		if name == "list_runs" {
			wantArgs = append(wantArgs, "status", "template_id")
		}
		pp := asMap(props["per_page"])
		if pp["minimum"] != 1.0 || pp["maximum"] != 100.0 {
			t.Errorf("per_page bounds %v..%v, want 1..100", pp["minimum"], pp["maximum"])
		}
		if enum, _ := asMap(props["archived"])["enum"].([]any); len(enum) != 3 {
			t.Errorf("archived enum %v", enum)
		}
	case strings.HasPrefix(name, "delete_"):
		wantArgs = []string{"confirm_token", k.idArg}
	default:
		wantArgs = []string{k.idArg}
	}
	sort.Strings(wantArgs)
	var gotArgs []string
	for n := range props {
		gotArgs = append(gotArgs, n)
	}
	sort.Strings(gotArgs)
	if !slices.Equal(gotArgs, wantArgs) {
		t.Errorf("arguments %v, want %v", gotArgs, wantArgs)
	}
	req, _ := in["required"].([]any)
	if strings.HasPrefix(name, "list_") {
		if len(req) != 0 {
			t.Errorf("list tool requires %v", req)
		}
	} else if len(req) != 1 || req[0] != k.idArg {
		t.Errorf("required %v, want [%s]", req, k.idArg)
	}

	out := tool.OutputSchema
	if out == nil || out["type"] != "object" {
		t.Errorf("outputSchema missing or not an object: %v", out)
	}
	walk(t, "outputSchema", out, func(path string, node map[string]any) {
		for _, k := range []string{"$ref", "$defs", "$schema", "$id"} {
			if _, ok := node[k]; ok {
				t.Errorf("%s has %s", path, k)
			}
		}
		if node["type"] == "array" {
			if _, ok := node["items"].(map[string]any); !ok {
				t.Errorf("%s: array without items", path)
			}
		}
		// Output schemas are compacted on purpose (no descriptions, no
		// additionalProperties) to keep tools/list within the context budget; every
		// property still has a type.
		for pn, pv := range asMap(node["properties"]) {
			if _, ok := asMap(pv)["type"]; !ok {
				t.Errorf("%s.%s has no type", path, pn)
			}
		}
	})
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func walk(t *testing.T, path string, node map[string]any, visit func(string, map[string]any)) {
	t.Helper()
	if node == nil {
		return
	}
	visit(path, node)
	for k, v := range asMap(node["properties"]) {
		walk(t, path+"."+k, asMap(v), visit)
	}
	for _, k := range []string{"items", "additionalProperties"} {
		if m := asMap(node[k]); m != nil {
			walk(t, path+"["+k+"]", m, visit)
		}
	}
	for _, k := range []string{"anyOf", "oneOf", "allOf"} {
		if arr, ok := node[k].([]any); ok {
			for i, s := range arr {
				walk(t, path+"."+k+"["+string(rune('0'+i))+"]", asMap(s), visit)
			}
		}
	}
}

// TestToolsListIsSmall keeps tools/list cheap: it is sent in every conversation.
func TestToolsListIsSmall(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	_, raw := rawToolsList(t, h.srv, protocols[0])
	total := 0
	for _, r := range raw {
		total += len(r)
	}
	// Measured at about 20 KB; internal/packaging/budget_test.go holds the tight budget,
	// this is a coarse guard seen through a real tools/list at the default policy.
	if total > 32<<10 {
		t.Errorf("tools/list is %d bytes", total)
	}
}
