package tools_test

import (
	"context"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
)

// badIDs are values of an ID argument that must never reach the network: most would turn an
// archive into something else if they made it into a URL.
func badIDs(valid string) map[string]any {
	return map[string]any{
		"short":             "abc",
		"path suffix":       valid + "/delete",
		"dot-dot":           "../x",
		"escaped dot-dot":   "%2F..",
		"escaped suffix":    valid + "%2Fdelete",
		"uppercase hex":     strings.ToUpper(valid),
		"33 chars":          valid + "a",
		"31 chars":          valid[:31],
		"empty":             "",
		"number":            12345,
		"null":              nil,
		"object":            map[string]any{"id": valid},
		"query injection":   valid[:30] + "?x",
		"newline":           valid + "\n",
		"space padded":      " " + valid,
		"non-hex 32 chars":  strings.Repeat("g", 32),
		"unicode lookalike": valid[:31] + "а", // Cyrillic a
	}
}

func idTools() []string {
	var out []string
	for _, t := range tools.All {
		if t.Verb != tools.VerbList && !t.Bulk { // bulk tools: TestBulkBadArguments
			out = append(out, t.Name)
		}
	}
	return out
}

func TestBadIDsNeverReachTheNetwork(t *testing.T) {
	t.Parallel()
	forEachProtocol(t, func(t *testing.T, p protocol) {
		h := newHarness(t, withProto(p), withConfirm(tools.ConfirmOff))
		for _, tool := range idTools() {
			k := kindOf(tool)
			valid := k.archived
			t.Run(tool, func(t *testing.T) {
				for label, bad := range badIDs(valid) {
					before := h.sb.Requests()
					r := h.call(tool, map[string]any{k.idArg: bad}).failed(t, k.idArg, "Nothing was changed")
					if h.sb.Requests() != before {
						t.Errorf("%s %s=%q (%s): reached the sandbox", tool, k.idArg, bad, label)
					}
					if t.Failed() {
						t.Logf("%s (%s): %s", tool, label, r.text)
						return
					}
				}
				before := h.sb.Requests()
				// Missing argument.
				h.call(tool, map[string]any{}).failed(t, k.idArg, "Nothing was changed")
				h.call(tool, nil).failed(t, k.idArg)
				// Unknown extra argument, even next to a valid ID.
				h.call(tool, map[string]any{k.idArg: valid, "force": true}).failed(t, "force", "Nothing was changed")
				// The argument of another kind.
				other := kinds[(indexOfKind(k)+1)%len(kinds)]
				h.call(tool, map[string]any{other.idArg: valid}).failed(t, k.idArg, other.idArg)
				if h.sb.Requests() != before {
					t.Errorf("%s: a malformed call reached the sandbox", tool)
				}
			})
		}
		if !h.lookup("run", sandbox.IDs.ArchivedRun).Archived || h.gone("task", sandbox.IDs.ArchivedTask) {
			t.Error("the sandbox changed")
		}
	})
}

func indexOfKind(k kindInfo) int {
	for i, x := range kinds {
		if x.kind == k.kind {
			return i
		}
	}
	return -1
}

func TestBadConfirmTokenArgument(t *testing.T) {
	t.Parallel()
	forEachProtocol(t, func(t *testing.T, p protocol) {
		h := newHarness(t, withProto(p))
		for _, k := range kinds {
			before := h.sb.Requests()
			h.call(k.del, map[string]any{k.idArg: k.archived, "confirm_token": 42}).failed(t, "confirm_token", "Nothing was changed")
			h.call(k.del, map[string]any{k.idArg: k.archived, "confirm_token": strings.Repeat("x", 1025)}).failed(t, "confirm_token")
			if h.sb.Requests() != before {
				t.Errorf("%s: malformed confirm_token reached the sandbox", k.del)
			}
		}
	})
}

func TestListArgumentValidation(t *testing.T) {
	t.Parallel()
	cases := []struct {
		args map[string]any
		arg  string
	}{
		{map[string]any{"per_page": 0}, "per_page"},
		{map[string]any{"per_page": 101}, "per_page"},
		{map[string]any{"per_page": -1}, "per_page"},
		{map[string]any{"per_page": 2.5}, "per_page"},
		{map[string]any{"per_page": "10"}, "per_page"},
		{map[string]any{"page": 0}, "page"},
		{map[string]any{"page": -3}, "page"},
		{map[string]any{"archived": "maybe"}, "archived"},
		{map[string]any{"archived": true}, "archived"},
		{map[string]any{"query": strings.Repeat("q", 201)}, "query"},
		{map[string]any{"query": 7}, "query"},
		{map[string]any{"q": "x"}, "q"},
		{map[string]any{"sort": "name"}, "sort"},
		{map[string]any{"updated_before": "June"}, "updated_before"},
	}
	forEachProtocol(t, func(t *testing.T, p protocol) {
		h := newHarness(t, withProto(p))
		for _, k := range kinds {
			for _, c := range cases {
				before := h.sb.Requests()
				r := h.call(k.list, c.args).failed(t, c.arg, "Nothing was changed")
				if h.sb.Requests() != before {
					t.Errorf("%s %v reached the sandbox", k.list, c.args)
				}
				if t.Failed() {
					t.Logf("%s %v: %s", k.list, c.args, r.text)
					return
				}
			}
			// Edges that are valid.
			for _, args := range []map[string]any{{"per_page": 1}, {"per_page": 100}, {"page": 1}, {"query": ""}, {"archived": "only"}} {
				h.call(k.list, args).ok(t)
			}
		}
	})
}

// TestValidationMessagesAreReadable: the text names the argument and the valid ones, says
// nothing changed, and carries no Go struct dump.
func TestValidationMessagesAreReadable(t *testing.T) {
	t.Parallel()
	forEachProtocol(t, func(t *testing.T, p protocol) {
		h := newHarness(t, withProto(p))
		r := h.call("archive_run", map[string]any{"run_id": "abc"}).failed(t, "run_id", "Nothing was changed", "32 hex characters in lower case")
		for _, bad := range []string{"&{", "Got:", "Want:", "map[", "<nil>"} {
			if strings.Contains(r.text, bad) {
				t.Errorf("message contains %q: %s", bad, r.text)
			}
		}
		r = h.call("archive_run", map[string]any{"run_id": sandbox.IDs.ActiveRun, "confirm": "yes"}).failed(t, "confirm", "Valid arguments: run_id")
		if strings.Contains(r.text, "&{") {
			t.Errorf("struct dump: %s", r.text)
		}
		h.call("list_runs", map[string]any{"per_page": 500}).failed(t, "per_page", "100")
	})
}

// bareClient connects to a server that registers the toolset's tools with no filter and
// without the judge (no input schema validation): the handlers' own checks are all that stands
// between a bad argument and the network.
func bareClient(t *testing.T, h *harness, p protocol) *client.Client {
	t.Helper()
	bare := mcpserver.NewMCPServer("bare", "0", mcpserver.WithRecovery())
	bare.AddTools(h.ts.ServerToolsUnjudged()...)
	var opts []client.ClientOption
	if p.version != "" {
		opts = append(opts, client.WithProtocolVersion(p.version))
	}
	c, err := client.NewInProcessClientWithOptions(bare, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	init := mcp.InitializeRequest{}
	init.Params.ClientInfo = mcp.Implementation{Name: "bare", Version: "0"}
	if _, err := c.Initialize(context.Background(), init); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestHandlersCheckIDsThemselves: the second line of defence, without the schema.
func TestHandlersCheckIDsThemselves(t *testing.T) {
	t.Parallel()
	forEachProtocol(t, func(t *testing.T, p protocol) {
		h := newHarness(t, withProto(p), withConfirm(tools.ConfirmOff))
		c := bareClient(t, h, p)
		for _, tool := range idTools() {
			k := kindOf(tool)
			for label, bad := range badIDs(k.archived) {
				before := h.sb.Requests()
				r := h.callWith(c, tool, map[string]any{k.idArg: bad})
				r.failed(t, k.idArg, "32 lowercase hex", k.list)
				if h.sb.Requests() != before {
					t.Errorf("%s %s=%q (%s): reached the sandbox without the schema", tool, k.idArg, bad, label)
				}
			}
			before := h.sb.Requests()
			h.callWith(c, tool, map[string]any{}).failed(t, k.idArg)
			if h.sb.Requests() != before {
				t.Errorf("%s: missing ID reached the sandbox", tool)
			}
		}
		for _, k := range kinds {
			before := h.sb.Requests()
			h.callWith(c, k.list, map[string]any{"archived": "maybe"}).failed(t, "archived", "exclude, include or only")
			h.callWith(c, k.list, map[string]any{"per_page": 101}).failed(t, "per_page", "1 to 100")
			h.callWith(c, k.list, map[string]any{"page": -1}).failed(t, "page")
			h.callWith(c, k.list, map[string]any{"q": "x"}).failed(t, "argument q", "not an argument")
			h.callWith(c, k.list, map[string]any{"per_page": "10"}).failed(t, "per_page", "whole number")
			h.callWith(c, k.list, map[string]any{"query": 5}).failed(t, "query", "must be a string")
			h.callWith(c, k.list, []any{"per_page", 5}).failed(t, "arguments", "JSON object")
			if h.sb.Requests() != before {
				t.Errorf("%s: bad list arguments reached the sandbox", k.list)
			}
		}
		if !h.lookup("run", sandbox.IDs.ArchivedRun).Archived || h.gone("template", sandbox.IDs.ArchivedTemplate) {
			t.Error("the sandbox changed")
		}
	})
}
