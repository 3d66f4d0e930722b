// Package jsonrpc reads and checks one incoming JSON-RPC message, a stdio line or an HTTP
// body, before mcp-go sees it: both transports use it. mcp-go v1.6.0 still accepts objects,
// arrays, booleans and fractions as ids (and echoes 1.50 as 1.5, 1e2 as 100), treats "id":null
// as a notification, answers a batch with a parse error, and keeps whatever clientInfo a client
// sends for the life of its session (TestMCPGoGap_LooseRequestIDs, TestMCPGoGap_ClientTextKeptWhole
// in server/). Integer ids, however large, it echoes exactly.
package jsonrpc

import (
	"bytes"
	"encoding/json"
	"errors"
	"unicode/utf8"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tallyfy-mcp/tallyfy-mcp/logsafe"
)

// Envelope is what the server reads of one message, decoded once: who handles it (method, id),
// what a tools/call names, what a notifications/cancelled cancels and which protocol a
// 2026-07-28 request declares.
type Envelope struct {
	ID        json.RawMessage
	Method    string
	Tool      string          // params.name ("" when not a string)
	RequestID json.RawMessage // params.requestId
	Protocol  string          // params._meta["io.modelcontextprotocol/protocolVersion"]
	// Strict: the message decodes as {id, method: string, params: object}, as mcp-go needs to
	// route it. A message that is not JSON, or not an object, has a zero Envelope.
	Strict bool
}

// wire is the message as decoded: a string member of another JSON type than expected spoils
// only itself (text), never the whole decode.
type wire struct {
	ID     json.RawMessage `json:"id"`
	Method text            `json:"method"`
	Params struct {
		Name      text            `json:"name"`
		RequestID json.RawMessage `json:"requestId"`
		Meta      struct {
			Version text `json:"io.modelcontextprotocol/protocolVersion"`
		} `json:"_meta"`
	} `json:"params"`
}

// Parse decodes msg once.
func Parse(msg []byte) Envelope {
	var w wire
	err := json.Unmarshal(msg, &w)
	var typeErr *json.UnmarshalTypeError
	strict := err == nil
	if errors.As(err, &typeErr) {
		// Only "params._meta" of another type leaves the routing members whole.
		strict = typeErr.Field == "params._meta"
	} else if err != nil {
		return Envelope{}
	}
	return Envelope{ID: w.ID, Method: w.Method.s, Tool: w.Params.Name.s, RequestID: w.Params.RequestID, Protocol: w.Params.Meta.Version.s,
		Strict: strict && !w.Method.mistyped}
}

// text is a JSON string member: "" when absent or null, and also when of another type, which
// mistyped notes.
type text struct {
	s        string
	mistyped bool
}

func (t *text) UnmarshalJSON(raw []byte) error {
	if raw[0] != '"' {
		t.mistyped = string(raw) != "null"
		return nil
	}
	if s := raw[1 : len(raw)-1]; bytes.IndexByte(s, '\\') < 0 && utf8.Valid(s) {
		t.s = string(s) // the common case: nothing to unescape
		return nil
	}
	return json.Unmarshal(raw, &t.s)
}

// IsRequest reports whether the message asks for an answer.
func (e Envelope) IsRequest() bool { return e.Method != "" && len(e.ID) > 0 && string(e.ID) != "null" }

// InvalidRequest is a -32600 answer with a null id: the message or its id could not be used.
func InvalidRequest(msg string) *mcp.JSONRPCError {
	e := mcp.NewJSONRPCError(mcp.NewRequestId(nil), mcp.INVALID_REQUEST, msg, nil)
	return &e
}

// Refusal refuses msg (whose envelope is e) when it is not one JSON-RPC message with a usable
// id (-32600, Invalid Request). Text that is not JSON at all is left to mcp-go's -32700 (Parse
// error).
func (e Envelope) Refusal(msg []byte) *mcp.JSONRPCError {
	trimmed := bytes.TrimLeft(msg, " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] == '[' {
		return InvalidRequest("JSON-RPC batches are not supported (MCP removed them after 2025-03-26): send one message at a time")
	}
	// e is all zero when msg is not JSON; an answer (no method) with an odd id matches nothing
	// the server asked and is dropped, not answered.
	if len(e.ID) == 0 || e.Method == "" {
		return nil
	}
	switch e.ID[0] {
	case '"':
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		if !isIntegerText(e.ID) { // MCP: "Request ID MUST be a string or integer"
			return InvalidRequest("the request id must be a string or an integer written in digits, not " + logsafe.ClipHeader(string(e.ID)))
		}
	case 'n': // null: JSON-RPC reserves it, MCP forbids it, mcp-go would treat the request as a notification
		return InvalidRequest("the request id must be a string or an integer, not null")
	default:
		return InvalidRequest("the request id must be a string or an integer, not an object, array or boolean")
	}
	return nil
}

// isIntegerText reports whether a JSON number is written as an integer that mcp-go echoes
// byte for byte: digits with an optional minus, no fraction or exponent (1.0, 1e2) and no -0.
func isIntegerText(n []byte) bool {
	digits := bytes.TrimPrefix(n, []byte("-"))
	return len(digits) > 0 && string(n) != "-0" && len(bytes.Trim(digits, "0123456789")) == 0
}

// clientInfoBound is what BoundClientText needs to see of a message.
type clientInfoBound struct {
	Params struct {
		ClientInfo   json.RawMessage `json:"clientInfo"`
		Capabilities json.RawMessage `json:"capabilities"`
		Meta         struct {
			ClientInfo   json.RawMessage `json:"io.modelcontextprotocol/clientInfo"`
			Capabilities json.RawMessage `json:"io.modelcontextprotocol/clientCapabilities"`
		} `json:"_meta"`
	} `json:"params"`
}

// capabilitiesMax bounds the client capabilities object a session keeps (mcp-go keeps its
// "experimental" member whole).
const capabilitiesMax = 16 << 10

// BoundClientText returns msg with the client's self-description bounded before anything
// stores it: every string member of clientInfo (initialize, or _meta on 2026-07-28 requests)
// clipped to logsafe.ClientTextMax characters and marked "…", other members over 1 KB (icons)
// dropped, and a capabilities object over 16 KB reduced to its members under 4 KB. A message
// that needs none of this is returned as is after one pass over its bytes, without decoding
// (a 2026-07-28 request carries clientInfo every time: BenchmarkStdioLineChecks).
func BoundClientText(msg []byte) []byte {
	if len(msg) <= capabilitiesMax && !hasStringOver(msg, logsafe.ClientTextMax) {
		return msg
	}
	if !bytes.Contains(msg, []byte("lientInfo")) && !bytes.Contains(msg, []byte("apabilities")) {
		return msg
	}
	var b clientInfoBound
	if json.Unmarshal(msg, &b) != nil {
		return msg
	}
	p := &b.Params
	ci, ciChanged := boundInfo(p.ClientInfo)
	mci, mciChanged := boundInfo(p.Meta.ClientInfo)
	caps, capsChanged := boundCapabilities(p.Capabilities)
	mcaps, mcapsChanged := boundCapabilities(p.Meta.Capabilities)
	if !ciChanged && !mciChanged && !capsChanged && !mcapsChanged {
		return msg
	}
	var top, params map[string]json.RawMessage
	if json.Unmarshal(msg, &top) != nil || json.Unmarshal(top["params"], &params) != nil {
		return msg
	}
	if ciChanged {
		params["clientInfo"] = ci
	}
	if capsChanged {
		params["capabilities"] = caps
	}
	if mciChanged || mcapsChanged {
		var meta map[string]json.RawMessage
		if json.Unmarshal(params["_meta"], &meta) != nil {
			return msg
		}
		if mciChanged {
			meta["io.modelcontextprotocol/clientInfo"] = mci
		}
		if mcapsChanged {
			meta["io.modelcontextprotocol/clientCapabilities"] = mcaps
		}
		params["_meta"] = rawJSON(meta)
	}
	top["params"] = rawJSON(params)
	return rawJSON(top)
}

// hasStringOver reports whether JSON text b holds a string of more than n bytes: a string of
// more than n characters needs that many.
func hasStringOver(b []byte, n int) bool {
	in, start := false, 0
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case in && c == '\\':
			i++
		case c == '"':
			if in && i-start > n {
				return true
			}
			in, start = !in, i+1
		}
	}
	return in && len(b)-start > n
}

func boundInfo(raw json.RawMessage) (json.RawMessage, bool) {
	if len(raw) <= logsafe.ClientTextMax {
		return raw, false // too short to hold a string over the bound
	}
	var members map[string]json.RawMessage
	if json.Unmarshal(raw, &members) != nil {
		return raw, false // not an object: mcp-go refuses it
	}
	changed := false
	for k, v := range members {
		var s string
		if json.Unmarshal(v, &s) == nil {
			if c := logsafe.Clip(s, logsafe.ClientTextMax); c != s {
				members[k], changed = rawJSON(c), true
			}
		} else if len(v) > 1<<10 {
			delete(members, k)
			changed = true
		}
	}
	if !changed {
		return raw, false
	}
	return rawJSON(members), true
}

func boundCapabilities(raw json.RawMessage) (json.RawMessage, bool) {
	if len(raw) <= capabilitiesMax {
		return raw, false
	}
	var members map[string]json.RawMessage
	if json.Unmarshal(raw, &members) != nil {
		return raw, false
	}
	for k, v := range members {
		if len(v) > 4<<10 {
			delete(members, k)
		}
	}
	return rawJSON(members), true
}

func rawJSON(v any) json.RawMessage {
	b, _ := json.Marshal(v) // maps of raw JSON and strings always marshal
	return b
}
