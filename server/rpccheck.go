package server

import (
	"bytes"
	"encoding/json"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tallyfy-mcp/tallyfy-mcp/logsafe"
)

// The checks here run on every incoming JSON-RPC message, stdio line or HTTP body, before
// mcp-go sees it: mcp-go v1.6.0 still accepts objects, arrays, booleans and fractions as ids
// (and echoes 1.50 as 1.5, 1e2 as 100), treats "id":null as a notification, answers a batch with
// a parse error, and keeps whatever clientInfo a client sends for the life of its session
// (TestMCPGoGap_LooseRequestIDs, TestMCPGoGap_ClientTextKeptWhole). Integer ids, however large,
// it echoes exactly.

// invalidRequest is a JSON-RPC error answer with a null id: the id could not be used.
func invalidRequest(code int, msg string) *mcp.JSONRPCError {
	e := mcp.NewJSONRPCError(mcp.NewRequestId(nil), code, msg, nil)
	return &e
}

// checkMessage refuses a message that is not one JSON-RPC message with a usable id (-32600,
// Invalid Request). Text that is not JSON at all is left to mcp-go's -32700 (Parse error).
func checkMessage(msg []byte) (rpcShape, *mcp.JSONRPCError) {
	trimmed := bytes.TrimLeft(msg, " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] == '[' {
		return rpcShape{}, invalidRequest(mcp.INVALID_REQUEST, "JSON-RPC batches are not supported (MCP removed them after 2025-03-26): send one message at a time")
	}
	// m is all zero when msg is not JSON; an answer (no method) with an odd id matches nothing
	// the server asked and is dropped, not answered.
	m := peekMessage(msg)
	if len(m.ID) > 0 && m.Method != "" {
		switch m.ID[0] {
		case '"':
		case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			if !isIntegerText(m.ID) { // MCP: "Request ID MUST be a string or integer"
				return m, invalidRequest(mcp.INVALID_REQUEST, "the request id must be a string or an integer written in digits, not "+clipHeader(string(m.ID)))
			}
		case 'n': // null: JSON-RPC reserves it, MCP forbids it, mcp-go would treat the request as a notification
			return m, invalidRequest(mcp.INVALID_REQUEST, "the request id must be a string or an integer, not null")
		default:
			return m, invalidRequest(mcp.INVALID_REQUEST, "the request id must be a string or an integer, not an object, array or boolean")
		}
	}
	return m, nil
}

// isIntegerText reports whether a JSON number is written as an integer that mcp-go echoes
// byte for byte: digits with an optional minus, no fraction or exponent (1.0, 1e2) and no -0.
func isIntegerText(n []byte) bool {
	digits := bytes.TrimPrefix(n, []byte("-"))
	if len(digits) == 0 || string(n) == "-0" {
		return false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// rpcShape is just enough of a JSON-RPC message to route it.
type rpcShape struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func peekMessage(line []byte) rpcShape {
	var m rpcShape
	_ = json.Unmarshal(line, &m)
	return m
}

func (m rpcShape) hasID() bool { return len(m.ID) > 0 && string(m.ID) != "null" }

func (m rpcShape) isRequest() bool { return m.Method != "" && m.hasID() }

func (m rpcShape) isResponse() bool {
	return m.Method == "" && m.hasID() && (m.Result != nil || m.Error != nil)
}

// clientInfoBound is what boundClientText needs to see of a message.
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

// boundClientText returns msg with the client's self-description bounded before anything
// stores it: every string member of clientInfo (initialize, or _meta on 2026-07-28 requests)
// clipped to logsafe.ClientTextMax characters and marked "…", other members over 1 KB (icons)
// dropped, and a capabilities object over 16 KB reduced to its members under 4 KB. A message
// that needs none of this is returned as is after one pass over its bytes, without decoding
// (a 2026-07-28 request carries clientInfo every time: BenchmarkStdioLineChecks).
func boundClientText(msg []byte) []byte {
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

// protocolOf returns the protocol version a request declares in its _meta (2026-07-28
// requests must; earlier protocols negotiate it at initialize instead).
func protocolOf(msg []byte) string {
	var b struct {
		Params struct {
			Meta struct {
				Version string `json:"io.modelcontextprotocol/protocolVersion"`
			} `json:"_meta"`
		} `json:"params"`
	}
	_ = json.Unmarshal(msg, &b)
	return b.Params.Meta.Version
}
