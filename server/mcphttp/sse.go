package mcphttp

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"sync"

	"github.com/google/uuid"
	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"
)

// sseUnsent tracks tool calls received over SSE until their answer is written on the session's
// stream (matched by JSON-RPC id).
type sseUnsent struct {
	mu   sync.Mutex
	m    map[string]map[string]int // session ID -> JSON id -> calls
	live map[string]bool           // sessions whose stream is open
}

// called is a BeforeCallTool hook.
func (u *sseUnsent) called(ctx context.Context, id any, _ *mcp.CallToolRequest) {
	if ctx.Value(sseKey{}) == nil {
		return
	}
	s := mcpserver.ClientSessionFromContext(ctx)
	b, err := json.Marshal(id)
	if s == nil || err != nil {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if !u.live[s.SessionID()] { // its stream is gone: the answer has nowhere to go
		return
	}
	if u.m == nil {
		u.m = map[string]map[string]int{}
	}
	if u.m[s.SessionID()] == nil {
		u.m[s.SessionID()] = map[string]int{}
	}
	u.m[s.SessionID()][string(b)]++
}

func (u *sseUnsent) pending() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.m) > 0
}

// sent notes an answer written on a session's stream.
func (u *sseUnsent) sent(session string, event []byte) {
	u.mu.Lock()
	defer u.mu.Unlock()
	ids := u.m[session]
	if ids == nil {
		return
	}
	_, data, ok := bytes.Cut(event, []byte("data:"))
	if !ok {
		return
	}
	data, _, _ = bytes.Cut(data, []byte("\n"))
	var msg struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
	}
	if json.Unmarshal(data, &msg) != nil || msg.ID == nil || msg.Method != "" {
		return
	}
	if ids[string(msg.ID)]--; ids[string(msg.ID)] <= 0 {
		delete(ids, string(msg.ID))
	}
	if len(ids) == 0 {
		delete(u.m, session)
	}
}

// watch wraps the SSE stream handler to see what it writes; when a stream ends, its
// undelivered answers are forgotten. The stream learns its session ID from mcp-go's session ID
// generator (sessionID below), which runs on the stream's own request before anything is
// written.
func (u *sseUnsent) watch(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &sseWriter{passWriter: passWriter{w}, u: u}
		defer func() {
			u.mu.Lock()
			delete(u.m, sw.session)
			delete(u.live, sw.session)
			u.mu.Unlock()
		}()
		next.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), sseStreamKey{}, sw)))
	})
}

type sseStreamKey struct{}

// sessionID is the SSE server's session ID generator (mcp-go's default: a random UUID): it
// also tells the stream being opened, if watched, which session it carries.
func (u *sseUnsent) sessionID(_ context.Context, r *http.Request) (string, error) {
	id := uuid.NewString()
	if sw, ok := r.Context().Value(sseStreamKey{}).(*sseWriter); ok {
		sw.session = id
		u.mu.Lock()
		if u.live == nil {
			u.live = map[string]bool{}
		}
		u.live[id] = true
		u.mu.Unlock()
	}
	return id, nil
}

type sseWriter struct {
	passWriter
	u       *sseUnsent
	session string // set by sseUnsent.sessionID before the stream's first write
}

func (w *sseWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	if err == nil {
		n = len(p)
		if w.session != "" {
			w.u.sent(w.session, p)
		}
	}
	return n, err
}
