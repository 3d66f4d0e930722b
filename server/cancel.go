package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sync"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
)

// cancelScope makes a 2026-07-28 cancellation reach only the caller's own request. mcp-go keys
// in-flight requests by session and id, and on that protocol every request has session "", so
// any caller could cancel another's call that happens to share its id. Here each modern tool
// call is registered under (caller, exact id bytes), and notifications/cancelled is answered
// here, never passed on: it cancels only the sender's own call. (Older protocols keep a session
// per client, which mcp-go's own keying already separates.)
type cancelScope struct {
	mu    sync.Mutex
	calls map[string]map[*context.CancelFunc]struct{}
}

// callerKey names who sent r: the authenticated caller (auth.Identify gives every caller it
// accepts a key), else, on an open loopback server, the remote address.
func (h *HTTPServer) callerKey(r *http.Request) string {
	if key := tools.CallerKey(r.Context()); key != "" {
		return key
	}
	return addrKey(remoteHost(r))
}

// addrKey is the named fallback for an anonymous caller (an open loopback server, where no
// caller authenticates): their address.
func addrKey(host string) string { return "addr:" + host }

// rpcHead is what the scope reads of a JSON-RPC message.
type rpcHead struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params struct {
		RequestID json.RawMessage `json:"requestId"`
	} `json:"params"`
}

func (cs *cancelScope) add(key string, cancel *context.CancelFunc) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.calls == nil {
		cs.calls = map[string]map[*context.CancelFunc]struct{}{}
	}
	if cs.calls[key] == nil {
		cs.calls[key] = map[*context.CancelFunc]struct{}{}
	}
	cs.calls[key][cancel] = struct{}{}
}

func (cs *cancelScope) remove(key string, cancel *context.CancelFunc) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	delete(cs.calls[key], cancel)
	if len(cs.calls[key]) == 0 {
		delete(cs.calls, key)
	}
}

func (cs *cancelScope) cancel(key string) int {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for c := range cs.calls[key] {
		(*c)()
	}
	return len(cs.calls[key])
}

// scope wraps /mcp (after authentication and the body limit).
func (h *HTTPServer) scopeCancels(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		method := r.Header.Get("Mcp-Method")
		if r.Method != http.MethodPost || !mcp.IsModernProtocol(r.Header.Get(mcp.HeaderProtocolVersion)) ||
			(method != string(mcp.MethodToolsCall) && method != "notifications/cancelled") {
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			jsonRPCError(w, http.StatusBadRequest, -32700, "read request body error: "+err.Error())
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		var head rpcHead
		if json.Unmarshal(body, &head) != nil || head.Method != method {
			next.ServeHTTP(w, r) // mcp-go answers what is malformed or inconsistent
			return
		}
		who := h.callerKey(r)
		if head.Method == "notifications/cancelled" {
			if len(head.Params.RequestID) > 0 {
				h.cancels.cancel(who + "|" + string(head.Params.RequestID))
			}
			w.WriteHeader(http.StatusAccepted) // a notification has no answer
			return
		}
		if len(head.ID) == 0 {
			next.ServeHTTP(w, r)
			return
		}
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		key := who + "|" + string(head.ID)
		h.cancels.add(key, &cancel)
		defer h.cancels.remove(key, &cancel)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}
