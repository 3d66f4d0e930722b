package server

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tallyfy-mcp/tallyfy-mcp/internal/logsafe"
)

// The checks here run on every incoming JSON-RPC message, stdio line or HTTP body, before
// mcp-go sees it: mcp-go decodes ids into float64 (rounding 9007199254740993 to …992), accepts
// objects, arrays and booleans as ids, answers a batch with a parse error, and keeps whatever
// clientInfo a client sends for the life of its session (all observed with mcp-go v1.2.1).

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
		case '"', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		case 'n': // null: JSON-RPC reserves it, MCP forbids it, mcp-go would treat the request as a notification
			return m, invalidRequest(mcp.INVALID_REQUEST, "the request id must be a string or a number, not null")
		default:
			return m, invalidRequest(mcp.INVALID_REQUEST, "the request id must be a string or a number, not an object, array or boolean")
		}
	}
	return m, nil
}

// idKeepsText reports whether a JSON number id comes back byte for byte after mcp-go's round
// trip through float64 (integers up to 2^53 do; 9007199254740993 and 1.50 do not).
func idKeepsText(id json.RawMessage) bool {
	if len(id) == 0 || id[0] == '"' || id[0] == 'n' {
		return true
	}
	f, err := strconv.ParseFloat(string(id), 64)
	if err != nil {
		return false
	}
	back, err := json.Marshal(f)
	return err == nil && bytes.Equal(back, id)
}

// withID returns resp answering with id exactly as the client sent it.
func withID(resp mcp.JSONRPCMessage, id json.RawMessage) mcp.JSONRPCMessage {
	if len(id) == 0 {
		return resp
	}
	rid := mcp.NewRequestId(id)
	switch r := resp.(type) {
	case mcp.JSONRPCResponse:
		r.ID = rid
		return r
	case *mcp.JSONRPCResponse:
		r.ID = rid
	case mcp.JSONRPCError:
		r.ID = rid
		return r
	case *mcp.JSONRPCError:
		r.ID = rid
	}
	return resp
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

// idSurrogates carries, over HTTP, request ids that mcp-go would round: mcp-go writes the
// response itself, so the id is swapped for a string only this process knows before mcp-go
// sees the message, and swapped back as the response is written.
type idSurrogates struct{ prefix []byte } // `"tallyfy-mcp-id-<random>:`

func newIDSurrogates() idSurrogates {
	var r [12]byte
	_, _ = rand.Read(r[:])
	return idSurrogates{prefix: []byte(`"tallyfy-mcp-id-` + hex.EncodeToString(r[:]) + ":")}
}

// substitute returns msg with its id (and, in notifications/cancelled, the requestId it
// names) replaced by a surrogate where mcp-go would not keep the number's text.
func (s idSurrogates) substitute(msg []byte, m rpcShape) []byte {
	cancelled := m.Method == string(mcp.MethodNotificationCancelled)
	if idKeepsText(m.ID) && !cancelled {
		return msg
	}
	var top map[string]json.RawMessage
	if json.Unmarshal(msg, &top) != nil {
		return msg
	}
	changed := false
	if !idKeepsText(m.ID) {
		top["id"], changed = s.surrogate(m.ID), true
	}
	if cancelled {
		var params map[string]json.RawMessage
		if json.Unmarshal(top["params"], &params) == nil && !idKeepsText(params["requestId"]) {
			params["requestId"] = s.surrogate(params["requestId"])
			top["params"], changed = rawJSON(params), true
		}
	}
	if !changed {
		return msg
	}
	return rawJSON(top)
}

func (s idSurrogates) surrogate(id json.RawMessage) json.RawMessage {
	out := append([]byte{}, s.prefix...)
	return append(append(out, id...), '"')
}

// restore puts the original ids back into text written by mcp-go.
func (s idSurrogates) restore(p []byte) []byte {
	if !bytes.Contains(p, s.prefix) {
		return p
	}
	var out []byte
	for {
		i := bytes.Index(p, s.prefix)
		if i < 0 {
			return append(out, p...)
		}
		rest := p[i+len(s.prefix):]
		end := bytes.IndexByte(rest, '"')
		if end < 0 || !isNumberText(rest[:end]) {
			out = append(out, p[:i+len(s.prefix)]...)
			p = rest
			continue
		}
		out = append(append(out, p[:i]...), rest[:end]...)
		p = rest[end+1:]
	}
}

func isNumberText(b []byte) bool {
	for _, c := range b {
		if bytes.IndexByte([]byte("0123456789-+.eE"), c) < 0 {
			return false
		}
	}
	return len(b) > 0 && utf8.Valid(b)
}

// restoringWriter writes mcp-go's response with the surrogate ids swapped back. mcp-go writes
// each JSON response and each SSE event in one Write, so a surrogate never spans two.
type restoringWriter struct {
	http.ResponseWriter
	ids idSurrogates
}

func (w restoringWriter) Write(p []byte) (int, error) {
	if _, err := w.ResponseWriter.Write(w.ids.restore(p)); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (w restoringWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w restoringWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
