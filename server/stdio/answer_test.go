package stdio

import (
	"encoding/json"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"
)

// TestStdioIDKey: idKey is mcp-go's own key of a request id (RequestId.String), with or
// without its shortcut for integers, and a string id spelled with escapes is the same id.
func TestStdioIDKey(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{`7`, `0`, `-5`, `9007199254740993`, `9223372036854775807`, `-9223372036854775808`,
		`92233720368547758070`, `"7"`, `"a,\"b"`, `"\u0061"`} {
		var id mcp.RequestId
		if err := json.Unmarshal([]byte(raw), &id); err != nil {
			t.Fatal(raw, err)
		}
		if got, want := idKey([]byte(raw)), id.String(); got != want {
			t.Errorf("idKey(%s) = %q, mcp-go's key %q", raw, got, want)
		}
	}
	if idKey([]byte(`"\u0061"`)) != idKey([]byte(`"a"`)) || idKey([]byte(`7`)) == idKey([]byte(`"7"`)) {
		t.Error(`"\u0061" and "a" must be one id, 7 and "7" two`)
	}
}

// TestStdioAnswerID: the answers output counts, as mcp-go writes them, and the messages
// it must not count (notifications, its own requests, answers with a null id).
func TestStdioAnswerID(t *testing.T) {
	t.Parallel()
	for msg, want := range map[string]string{
		`{"jsonrpc":"2.0","id":7,"result":{}}`:                                 idKey([]byte(`7`)),
		`{"jsonrpc":"2.0","id":9007199254740993,"error":{"code":-1}}`:          idKey([]byte(`9007199254740993`)),
		`{"jsonrpc":"2.0","id":"a,\"b","result":{}}`:                           idKey([]byte(`"a,\"b"`)),
		`{"jsonrpc":"2.0","id":"a\\","error":{"code":-1}}`:                     idKey([]byte(`"a\\"`)),
		`{"jsonrpc":"2.0","id":"open,"result":{}}`:                             "",
		`{"jsonrpc":"2.0","id":null,"error":{"code":-32700}}`:                  "",
		`{"jsonrpc":"2.0","id":3,"method":"elicitation/create","params":{}}`:   "",
		`{"jsonrpc":"2.0","method":"notifications/progress","params":{"a":1}}`: "",
	} {
		got, ok := answerID([]byte(msg))
		if got != want || ok != (want != "") {
			t.Errorf("%s: %q %v, want %q", msg, got, ok, want)
		}
	}
	// The prefix answerID reads is mcp-go's own: a response marshalled by mcp-go.
	b, _ := json.Marshal(mcp.NewJSONRPCResultResponse(mcp.NewRequestId(int64(5)), mcp.EmptyResult{}))
	if _, ok := answerID(b); !ok {
		t.Fatalf("mcp-go writes an answer as %s: answerID no longer sees it", b)
	}
	e, _ := json.Marshal(mcp.NewJSONRPCError(mcp.NewRequestId("x"), mcp.INTERNAL_ERROR, "boom", nil))
	if _, ok := answerID(e); !ok {
		t.Fatalf("mcp-go writes an error as %s: answerID no longer sees it", e)
	}
}
