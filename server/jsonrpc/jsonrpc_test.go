package jsonrpc

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"
)

func TestRefusal(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		msg    string
		refuse bool
	}{
		{`{"jsonrpc":"2.0","id":1,"method":"ping"}`, false},
		{`{"jsonrpc":"2.0","id":"a","method":"ping"}`, false},
		{`{"jsonrpc":"2.0","id":-9007199254740993,"method":"ping"}`, false},
		{`{"jsonrpc":"2.0","method":"notifications/initialized"}`, false},
		{`{"jsonrpc":"2.0","id":null,"result":{}}`, false}, // an answer with a null id: mcp-go ignores it
		{`not json`, false}, // mcp-go's -32700
		{` [{"jsonrpc":"2.0","id":1,"method":"ping"}]`, true},
		{`{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}`, true},
		{`{"jsonrpc":"2.0","id":[1],"method":"ping"}`, true},
		{`{"jsonrpc":"2.0","id":true,"method":"ping"}`, true},
		{`{"jsonrpc":"2.0","id":false,"method":"ping"}`, true},
		{`{"jsonrpc":"2.0","id":null,"method":"ping"}`, true},
		{`{"jsonrpc":"2.0","id":9007199254740993,"method":"ping"}`, false},
		{`{"jsonrpc":"2.0","id":123456789012345678901234,"method":"ping"}`, false},
		{`{"jsonrpc":"2.0","id":0,"method":"ping"}`, false},
		{`{"jsonrpc":"2.0","id":1.5,"method":"ping"}`, true},
		{`{"jsonrpc":"2.0","id":1.50,"method":"ping"}`, true},
		{`{"jsonrpc":"2.0","id":1.0,"method":"ping"}`, true},
		{`{"jsonrpc":"2.0","id":1e2,"method":"ping"}`, true},
		{`{"jsonrpc":"2.0","id":-0,"method":"ping"}`, true},
		{`{"jsonrpc":"2.0","id":-7,"method":"ping"}`, false},
		{`{"jsonrpc":"2.0","id":-1E2,"method":"ping"}`, true},
	} {
		refusal := Parse([]byte(tc.msg)).Refusal([]byte(tc.msg))
		if (refusal != nil) != tc.refuse {
			t.Errorf("%s: refused=%v, want %v", tc.msg, refusal != nil, tc.refuse)
		}
		if refusal != nil && (refusal.Error.Code != mcp.INVALID_REQUEST || !refusal.ID.IsNil()) {
			t.Errorf("%s: %+v, want -32600 with a null id", tc.msg, refusal)
		}
	}
}

func TestHasStringOver(t *testing.T) {
	t.Parallel()
	for text, want := range map[string]bool{
		`{"a":"` + strings.Repeat("x", 10) + `"}`:                      false,
		`{"a":"` + strings.Repeat("x", 11) + `"}`:                      true,
		`{"` + strings.Repeat("k", 11) + `":1}`:                        true,
		`{"a":"` + strings.Repeat(`\"`, 3) + `","b":"` + `xxxx` + `"}`: false, // escaped quotes do not end a string
		`{"a":"` + strings.Repeat(`\"`, 6) + `"}`:                      true,
		`{"a":"` + strings.Repeat("x", 20):                             true, // unterminated
	} {
		if got := hasStringOver([]byte(text), 10); got != want {
			t.Errorf("hasStringOver(%s, 10) = %v, want %v", text, got, want)
		}
	}
}

func TestBoundClientText(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("n", 5000)
	init := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{"experimental":{"x":"` +
		strings.Repeat("c", 20000) + `"},"elicitation":{}},"clientInfo":{"name":"` + long + `","version":"1","icons":[{"src":"` + long + `"}]}}}`
	var got mcp.InitializeRequest
	if err := json.Unmarshal(BoundClientText([]byte(init)), &got); err != nil {
		t.Fatal(err)
	}
	ci := got.Params.ClientInfo
	if len([]rune(ci.Name)) != 200 || !strings.HasSuffix(ci.Name, "…") || ci.Version != "1" || len(ci.Icons) != 0 {
		t.Fatalf("clientInfo after bounding: name %d runes, version %q, %d icons", len([]rune(ci.Name)), ci.Version, len(ci.Icons))
	}
	if got.Params.Capabilities.Experimental != nil || got.Params.Capabilities.Elicitation == nil {
		t.Fatalf("capabilities after bounding: %+v", got.Params.Capabilities)
	}
	modern := `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"` + long + `","version":"1"}}}}`
	var meta struct {
		Params struct {
			Meta map[string]json.RawMessage `json:"_meta"`
		} `json:"params"`
	}
	if err := json.Unmarshal(BoundClientText([]byte(modern)), &meta); err != nil {
		t.Fatal(err)
	}
	var info mcp.Implementation
	_ = json.Unmarshal(meta.Params.Meta["io.modelcontextprotocol/clientInfo"], &info)
	if len([]rune(info.Name)) != 200 || meta.Params.Meta["io.modelcontextprotocol/protocolVersion"] == nil {
		t.Fatalf("2026-07-28 _meta after bounding: %s", meta.Params.Meta)
	}
	short := []byte(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"claude-code","version":"2.1.0"}}}`)
	if got := BoundClientText(short); &got[0] != &short[0] {
		t.Fatal("an ordinary initialize was rewritten")
	}
}

// BenchmarkStdioLineChecks is what every stdio line now costs before mcp-go sees it.
func BenchmarkStdioLineChecks(b *testing.B) {
	for name, line := range map[string][]byte{
		"legacy tools/call": []byte(`{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"get_run","arguments":{"run_id":"2db5a39eaf55b1f0cc06bb080d71a6df"}}}`),
		"2026-07-28 tools/call": []byte(`{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"get_run","arguments":{"run_id":"2db5a39eaf55b1f0cc06bb080d71a6df"},` +
			`"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"claude-code","version":"2.1.0"}}}}`),
	} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				m := Parse(line)
				if refusal := m.Refusal(line); refusal != nil || !m.IsRequest() {
					b.Fatal("refused")
				}
				_ = BoundClientText(line)
			}
		})
	}
}

// TestParse: one decode gives every member the transports read, and a member of another JSON
// type than expected spoils only itself (Strict says whether mcp-go can route the message).
func TestParse(t *testing.T) {
	t.Parallel()
	for msg, want := range map[string]Envelope{
		`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"get_run","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}`: {
			ID: json.RawMessage(`7`), Method: "tools/call", Tool: "get_run", Protocol: "2026-07-28", Strict: true},
		`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"a\"b"}}`: {
			Method: "notifications/cancelled", RequestID: json.RawMessage(`"a\"b"`), Strict: true},
		`{"id":1,"method":"tools/call","params":{"name":"caf\u00e9"}}`:                              {ID: json.RawMessage(`1`), Method: "tools/call", Tool: "café", Strict: true},
		`{"id":1,"method":"tools/call","params":{"name":5}}`:                                        {ID: json.RawMessage(`1`), Method: "tools/call", Strict: true},
		`{"id":1,"method":7,"params":{}}`:                                                           {ID: json.RawMessage(`1`)},
		`{"id":1,"method":null}`:                                                                    {ID: json.RawMessage(`1`), Strict: true},
		`{"id":1,"method":"ping","params":"x"}`:                                                     {ID: json.RawMessage(`1`), Method: "ping"},
		`{"id":1,"method":"ping","params":{"_meta":3,"name":"n"}}`:                                  {ID: json.RawMessage(`1`), Method: "ping", Tool: "n", Strict: true},
		`{"id":1,"method":"ping","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":1}}}`: {ID: json.RawMessage(`1`), Method: "ping", Strict: true},
		`[1]`:      {},
		`not json`: {},
		``:         {},
		`null`:     {Strict: true},
	} {
		got := Parse([]byte(msg))
		if string(got.ID) != string(want.ID) || got.Method != want.Method || got.Tool != want.Tool || string(got.RequestID) != string(want.RequestID) ||
			got.Protocol != want.Protocol || got.Strict != want.Strict {
			t.Errorf("Parse(%s) = %+v, want %+v", msg, got, want)
		}
	}
}

// TestIsRequest: a request has a method and a usable (non-null) id; answers, notifications
// and what is not JSON are not requests.
func TestIsRequest(t *testing.T) {
	t.Parallel()
	for line, want := range map[string]bool{
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}}`:         true,
		`{"jsonrpc":"2.0","method":"notifications/initialized"}`:             false,
		`{"jsonrpc":"2.0","id":null,"method":"x"}`:                           false,
		`{"jsonrpc":"2.0","id":7,"result":{"content":[]}}`:                   false,
		`{"jsonrpc":"2.0","id":"a","error":{"code":-32600,"message":"bad"}}`: false,
		`{"jsonrpc":"2.0","result":{},"id":3}`:                               false,
		`{"jsonrpc":"2.0","id":4,"method":"elicitation/create","params":{}}`: true,
		`not json`: false,
	} {
		if got := Parse([]byte(line)).IsRequest(); got != want {
			t.Errorf("%s: IsRequest = %v, want %v", line, got, want)
		}
	}
}
