package mcphttp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
)

// bodyDeadline gives a caller --body-read-timeout to send its request body once the headers
// are in (http.Server's ReadHeaderTimeout bounds the headers). Until the body has been read
// whole the response says Connection: close, so a request refused before its body is read
// (wrong token, wrong Host) is answered at once and its connection closed: http.Server would
// otherwise first read up to 256 KB of the unread body to keep the connection, as slowly as
// the caller sends it.
func (s *Server) bodyDeadline(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if noBody(r) {
			next.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		_ = rc.SetReadDeadline(time.Now().Add(s.opts.BodyReadTimeout))
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

// readBody reads the request body whole, up to --max-body-bytes (413 beyond) and within the
// deadline bodyDeadline set (408 after it), then lifts the deadline: a tool call may then take
// as long as it needs on this connection (TestBodyDeadlineDoesNotCutLongCalls). The body
// handed on is the copy read here. nil: there was no body to read.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	limit := s.opts.MaxBodyBytes
	if r.ContentLength > limit {
		refuseOversized(w, limit)
		return nil, false
	}
	if noBody(r) {
		return nil, true
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooLarge *http.MaxBytesError
	var netErr net.Error
	switch {
	case errors.As(err, &tooLarge):
		refuseOversized(w, limit)
		return nil, false
	case errors.As(err, &netErr) && netErr.Timeout():
		jsonRPCError(w, http.StatusRequestTimeout, -32600, fmt.Sprintf("request body not received within %s (--body-read-timeout)", s.opts.BodyReadTimeout))
		return nil, false
	case err != nil:
		jsonRPCError(w, http.StatusBadRequest, -32700, "request body could not be read: "+err.Error())
		return nil, false
	}
	_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
	w.Header().Del("Connection")
	r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(data)), int64(len(data))
	return data, true
}

func noBody(r *http.Request) bool {
	return r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody
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

// capSessions passes a request on, refusing it when it would open a new session once
// --max-sessions are open.
func (s *Server) capSessions(w http.ResponseWriter, r *http.Request, opens bool, next http.Handler) {
	limit := int64(s.opts.MaxSessions)
	if limit <= 0 || !opens {
		next.ServeHTTP(w, r)
		return
	}
	// Reserve the slot before the session exists (checking the count alone lets a burst of
	// concurrent initializes through); the registration hook takes it over, and it is given
	// back if no session comes of the request.
	if s.track.sessions.Add(1) > limit {
		s.track.sessions.Add(-1)
		w.Header().Set("Retry-After", "5")
		jsonRPCError(w, http.StatusServiceUnavailable, -32000, fmt.Sprintf("too many open sessions (%d, --max-sessions); retry later", limit))
		return
	}
	res := &atomic.Bool{} // the reservation: set once the registration hook takes it over
	defer func() {
		if res.CompareAndSwap(false, true) {
			s.track.sessions.Add(-1)
		}
	}()
	next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), slotKey{}, res)))
}

// slotKey carries capSessions' reservation of a session slot for one request.
type slotKey struct{}

// jsonRPCError answers with an HTTP status and a JSON-RPC error body.
func jsonRPCError(w http.ResponseWriter, status, code int, msg string) {
	if status == http.StatusUnauthorized || status == http.StatusForbidden {
		w.Header().Set("Connection", "close") // a refused caller keeps no connection open
	}
	writeJSONRPC(w, status, map[string]any{"jsonrpc": "2.0", "id": nil, "error": map[string]any{"code": code, "message": msg}})
}

// writeJSONRPC answers with one JSON-RPC message and an HTTP status.
func writeJSONRPC(w http.ResponseWriter, status int, msg any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(msg)
}
