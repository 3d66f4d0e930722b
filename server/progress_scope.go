package server

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"sync"

	"github.com/mark3labs/mcp-go/mcp"
)

// mcp-go gives every POST of an older-protocol streamable-HTTP session the session's one
// notification channel, and whichever POST is in flight forwards what it reads from it: a
// bulk call's progress could arrive on another call's stream (docs/mcp-go-guide.md part 2).
// So, per session, a tools/call that asks for progress runs alone: other tool calls of that
// session wait while it runs (and it waits for them), so its stream is the only reader of
// the channel. Notifications (cancellation among them) and other methods are never held.

// progressScopes holds one lock per session: a call with a progressToken holds it alone,
// other tool calls share it.
type progressScopes struct {
	mu    sync.Mutex
	locks map[string]*scopeLock
}

type scopeLock struct {
	rw    sync.RWMutex
	users int
}

func (p *progressScopes) acquire(session string) *scopeLock {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.locks == nil {
		p.locks = map[string]*scopeLock{}
	}
	l := p.locks[session]
	if l == nil {
		l = &scopeLock{}
		p.locks[session] = l
	}
	l.users++
	return l
}

func (p *progressScopes) release(session string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if l := p.locks[session]; l != nil {
		if l.users--; l.users == 0 {
			delete(p.locks, session)
		}
	}
}

// toolCallProgress reports whether body is a tools/call request, and whether it carries a
// progressToken.
func toolCallProgress(body []byte) (call, progress bool) {
	var m struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
		Params struct {
			Meta struct {
				ProgressToken json.RawMessage `json:"progressToken"`
			} `json:"_meta"`
		} `json:"params"`
	}
	if json.Unmarshal(body, &m) != nil || m.Method != string(mcp.MethodToolsCall) || len(m.ID) == 0 {
		return false, false
	}
	t := string(m.Params.Meta.ProgressToken)
	return true, t != "" && t != "null"
}

// scopeProgress applies the per-session lock to the tool calls of older-protocol sessions.
func (h *HTTPServer) scopeProgress(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		session := r.Header.Get("Mcp-Session-Id")
		if r.Method != http.MethodPost || session == "" || mcp.IsModernProtocol(r.Header.Get(mcp.HeaderProtocolVersion)) {
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(r.Body) // already bounded by limitBody
		if err != nil {
			next.ServeHTTP(w, r)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		call, progress := toolCallProgress(body)
		if !call {
			next.ServeHTTP(w, r)
			return
		}
		l := h.progress.acquire(session)
		defer h.progress.release(session)
		if progress {
			l.rw.Lock()
			defer l.rw.Unlock()
		} else {
			l.rw.RLock()
			defer l.rw.RUnlock()
		}
		next.ServeHTTP(w, r)
	})
}
