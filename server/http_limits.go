package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"
)

// bodyDeadline gives a caller --body-read-timeout to send its request body once the headers
// are in (http.Server's ReadHeaderTimeout bounds the headers). Until the body has been read
// whole the response says Connection: close, so a request refused before its body is read
// (wrong token, wrong Host) is answered at once and its connection closed: http.Server would
// otherwise first read up to 256 KB of the unread body to keep the connection, as slowly as
// the caller sends it.
func (h *HTTPServer) bodyDeadline(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		_ = rc.SetReadDeadline(time.Now().Add(h.app.Config.BodyReadTimeout))
		w.Header().Set("Connection", "close")
		body := &watchedBody{ReadCloser: r.Body}
		r.Body = body
		next.ServeHTTP(w, r)
		if !body.eof {
			// Refused unread: end the connection now rather than when the deadline expires
			// (http.Server reads what is left of a body before it closes).
			_ = rc.SetReadDeadline(time.Now())
		}
	})
}

// watchedBody notes when the body has been read to its end.
type watchedBody struct {
	io.ReadCloser
	eof bool
}

func (b *watchedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

// bufferedBody is a request body read whole by limitBody.
type bufferedBody struct {
	*bytes.Reader
	data []byte
}

func (bufferedBody) Close() error { return nil }

// limitBody reads the request body whole, up to --max-body-bytes (413 beyond) and within the
// deadline bodyDeadline set (408 after it), then lifts the deadline: a tool call may then take
// as long as it needs on this connection (TestBodyDeadlineDoesNotCutLongCalls).
func (h *HTTPServer) limitBody(next http.Handler) http.Handler {
	limit := h.app.Config.MaxBodyBytes
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > limit {
			refuseOversized(w, limit)
			return
		}
		if r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
		var tooLarge *http.MaxBytesError
		var netErr net.Error
		switch {
		case errors.As(err, &tooLarge):
			refuseOversized(w, limit)
			return
		case errors.As(err, &netErr) && netErr.Timeout():
			jsonRPCError(w, http.StatusRequestTimeout, -32600, fmt.Sprintf("request body not received within %s (--body-read-timeout)", h.app.Config.BodyReadTimeout))
			return
		case err != nil:
			jsonRPCError(w, http.StatusBadRequest, -32700, "request body could not be read: "+err.Error())
			return
		}
		_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
		w.Header().Del("Connection")
		r.Body, r.ContentLength = bufferedBody{bytes.NewReader(data), data}, int64(len(data))
		next.ServeHTTP(w, r)
	})
}

// oversizedDrain bounds how long, and how much of, an oversized body is read after its 413.
const (
	oversizedDrain      = 2 * time.Second
	oversizedDrainBytes = 64 << 20
)

// refuseOversized answers 413 so that a client still sending its body reads the answer: it
// writes the answer, half-closes the connection (the client sees the answer end), then reads
// and discards what is still coming, for at most oversizedDrain, before closing, as net/http
// does for bodies under 256 KB. Closing at once with unread bytes makes the kernel reset the
// connection, and a client whose body write fails gives up on the answer (Node's fetch:
// ECONNRESET; TestOversizedBodyIsAnsweredWhileItArrives).
func refuseOversized(w http.ResponseWriter, limit int64) {
	msg := fmt.Sprintf("request body is larger than %d bytes (--max-body-bytes)", limit)
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil { // HTTP/2 ends the stream on its own
		jsonRPCError(w, http.StatusRequestEntityTooLarge, -32600, msg)
		return
	}
	defer conn.Close()
	body, _ := json.Marshal(mcp.NewJSONRPCError(mcp.NewRequestId(nil), mcp.INVALID_REQUEST, msg, nil))
	_ = conn.SetDeadline(time.Now().Add(oversizedDrain))
	fmt.Fprintf(rw, "HTTP/1.1 413 Request Entity Too Large\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
	if rw.Flush() != nil {
		return
	}
	if hc, ok := conn.(interface{ CloseWrite() error }); ok {
		_ = hc.CloseWrite()
	}
	_, _ = io.CopyN(io.Discard, rw, oversizedDrainBytes)
}

// checkRPC applies the JSON-RPC checks of rpccheck.go to a POSTed message before mcp-go reads
// it (batches and unusable ids refused, clientInfo clipped), and keeps
// requests that would register an HTTP session without a slot from doing so: a GET stream
// needs a session that initialize opened, and a failed initialize gives its session back.
func (h *HTTPServer) checkRPC(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodDelete {
			if !h.sessionKnown(w, r) {
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		body, ok := r.Body.(bufferedBody)
		if r.Method != http.MethodPost || !ok {
			next.ServeHTTP(w, r)
			return
		}
		m, refusal := checkMessage(body.data)
		if refusal != nil {
			writeJSONRPC(w, http.StatusBadRequest, refusal)
			return
		}
		data := boundClientText(body.data)
		r.Body, r.ContentLength = bufferedBody{bytes.NewReader(data), data}, int64(len(data))
		if r.URL.Path == "/message" && m.isRequest() && !h.handshaken(r.URL.Query().Get("sessionId"), m, data) {
			e := mcp.NewJSONRPCError(mcp.NewRequestId(m.ID), mcp.INVALID_REQUEST, clipHeader(m.Method)+
				" before initialize: send initialize first on this SSE session", nil)
			writeJSONRPC(w, http.StatusBadRequest, e)
			return
		}
		if m.Method == string(mcp.MethodInitialize) && r.URL.Path == "/mcp" {
			h.initialize(w, r, next)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// handshaken reports whether an SSE request may run: its session completed initialize, or it
// is initialize or ping, or it declares protocol 2026-07-28 (see stdioConn.beforeInitialize).
// mcp-go's SSE transport runs a tools/call on a session that never sent initialize. Streamable
// HTTP needs no such check: its sessions exist only once initialize has answered.
func (h *HTTPServer) handshaken(session string, m rpcShape, msg []byte) bool {
	if m.Method == string(mcp.MethodInitialize) || m.Method == string(mcp.MethodPing) {
		return true
	}
	if _, ok := h.handshook.Load(session); ok {
		return true
	}
	return mcp.IsModernProtocol(protocolOf(msg))
}

// sessionKnown lets a GET (the stream of server messages) or DELETE on /mcp through only with
// the Mcp-Session-Id of a session initialize opened: mcp-go would register a new session for a
// GET without one, or with an ID it never issued, outside --max-sessions. A request that
// declares protocol 2026-07-28, which has no sessions, goes on to mcp-go's 405.
func (h *HTTPServer) sessionKnown(w http.ResponseWriter, r *http.Request) bool {
	if r.URL.Path != "/mcp" || mcp.IsModernProtocol(r.Header.Get(mcp.HeaderProtocolVersion)) {
		return true
	}
	id := r.Header.Get(mcpserver.HeaderKeySessionID)
	if id == "" {
		jsonRPCError(w, http.StatusBadRequest, -32600, fmt.Sprintf("%s /mcp needs the Mcp-Session-Id header that initialize returned", r.Method))
		return false
	}
	if h.sharedSessions() {
		// Ids are signed for every replica (stateless.go): one opened through another replica is
		// good here although this process never registered it; mcp-go's signed-id manager checks
		// the signature, the caller and the expiry, and answers 404 to anything else.
		return true
	}
	if _, ok := h.known.Load(id); !ok {
		jsonRPCError(w, http.StatusNotFound, -32600, "unknown or expired session: send initialize again")
		return false
	}
	return true
}

// initialize passes an initialize on and, if it failed, ends the session mcp-go registered
// for it anyway (mcp-go registers after any answer, error or not), which gives its
// --max-sessions slot back at once instead of after --session-idle-ttl.
func (h *HTTPServer) initialize(w http.ResponseWriter, r *http.Request, next http.Handler) {
	tw := &teeWriter{ResponseWriter: w}
	next.ServeHTTP(tw, r)
	id := w.Header().Get(mcpserver.HeaderKeySessionID)
	var answer struct {
		Error json.RawMessage `json:"error"`
	}
	failed := tw.status >= 300 || json.Unmarshal(tw.head.Bytes(), &answer) == nil && answer.Error != nil
	if id == "" || !failed {
		return
	}
	del, err := http.NewRequestWithContext(context.WithoutCancel(r.Context()), http.MethodDelete, "/mcp", nil)
	if err != nil {
		return
	}
	del.Header.Set(mcpserver.HeaderKeySessionID, id)
	h.streamable.ServeHTTP(&discardWriter{header: http.Header{}}, del)
}

// teeWriter keeps the status and the first 64 KB of a response.
type teeWriter struct {
	http.ResponseWriter
	status int
	head   bytes.Buffer
}

func (t *teeWriter) WriteHeader(code int) {
	if t.status == 0 {
		t.status = code
	}
	t.ResponseWriter.WriteHeader(code)
}

func (t *teeWriter) Write(p []byte) (int, error) {
	if t.status == 0 {
		t.status = http.StatusOK
	}
	if room := 64<<10 - t.head.Len(); room > 0 {
		t.head.Write(p[:min(len(p), room)])
	}
	return t.ResponseWriter.Write(p)
}

func (t *teeWriter) Flush() {
	if f, ok := t.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (t *teeWriter) Unwrap() http.ResponseWriter { return t.ResponseWriter }

type discardWriter struct{ header http.Header }

func (d *discardWriter) Header() http.Header         { return d.header }
func (d *discardWriter) WriteHeader(int)             {}
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }

// writeJSONRPC answers with one JSON-RPC message and an HTTP status.
func writeJSONRPC(w http.ResponseWriter, status int, msg any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(msg)
}

// knownSessions tracks the IDs of MCP sessions (all transports): registered ones in
// HTTPServer.known, those whose initialize succeeded in HTTPServer.handshook.
type knownSessions struct{ sync.Map }

func (k *knownSessions) add(_ context.Context, s mcpserver.ClientSession) {
	k.Store(s.SessionID(), struct{}{})
}

func (k *knownSessions) remove(_ context.Context, s mcpserver.ClientSession) { k.Delete(s.SessionID()) }

// afterInitialize is an AfterInitialize hook (it runs only when initialize succeeded).
func (k *knownSessions) afterInitialize(ctx context.Context, _ any, _ *mcp.InitializeRequest, _ *mcp.InitializeResult) {
	if s := mcpserver.ClientSessionFromContext(ctx); s != nil && s.SessionID() != "" {
		k.Store(s.SessionID(), struct{}{})
	}
}
