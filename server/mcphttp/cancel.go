package mcphttp

import (
	"context"
	"net/http"
	"sync"

	"github.com/mark3labs/mcp-go/mcp"
)

// cancelScope makes a 2026-07-28 cancellation reach only the caller's own request. mcp-go keys
// in-flight requests by session and id, and on that protocol every request has session "", so
// any caller could cancel another's call that happens to share its id
// (TestMCPGoGap_ModernCancelCrossesCallers). Here each modern tool call is registered under
// (caller, exact id bytes), and notifications/cancelled is answered here, never passed on: it
// cancels only the sender's own call. (Older protocols keep a session per client, which
// mcp-go's own keying already separates.)
type cancelScope struct {
	mu    sync.Mutex
	calls map[*context.CancelFunc]string // each running modern tool call's cancel: its caller and id
}

func (cs *cancelScope) add(key string, cancel *context.CancelFunc) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.calls == nil {
		cs.calls = map[*context.CancelFunc]string{}
	}
	cs.calls[cancel] = key
}

func (cs *cancelScope) remove(cancel *context.CancelFunc) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	delete(cs.calls, cancel)
}

// cancel cancels the calls under key (a cancellation is rare: the calls running are looked
// through, not indexed).
func (cs *cancelScope) cancel(key string) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for c, k := range cs.calls {
		if k == key {
			(*c)()
		}
	}
}

// scopeCancel serves a 2026-07-28 POST to /mcp: a tools/call runs under a cancel registered
// for its caller and id; a notifications/cancelled cancels only the sender's own call. What
// is malformed, or whose body and Mcp-Method header disagree, goes on to mcp-go, which answers it.
func (s *Server) scopeCancel(w http.ResponseWriter, r *http.Request, e envelope) {
	method := r.Header.Get("Mcp-Method")
	if (method != string(mcp.MethodToolsCall) && method != string(mcp.MethodNotificationCancelled)) || !e.Strict || e.Method != method {
		s.openSession(w, r)
		return
	}
	who := identityOf(r).key
	if e.Method == string(mcp.MethodNotificationCancelled) {
		if len(e.RequestID) > 0 {
			s.cancels.cancel(who + "|" + string(e.RequestID))
		}
		w.WriteHeader(http.StatusAccepted) // a notification has no answer
		return
	}
	if len(e.ID) == 0 {
		s.openSession(w, r)
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	key := who + "|" + string(e.ID)
	s.cancels.add(key, &cancel)
	defer s.cancels.remove(&cancel)
	s.openSession(w, r.WithContext(ctx))
}
