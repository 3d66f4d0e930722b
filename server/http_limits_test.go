package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
)

// slowPost opens a connection to base, sends a POST /mcp head announcing a 100000-byte body,
// then one byte every 50 ms; it returns the response status line and how long until the server
// ended the connection.
func slowPost(t *testing.T, base string, headers string) (string, time.Duration) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	fmt.Fprintf(conn, "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n%s\r\n", headers)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				if _, err := conn.Write([]byte("x")); err != nil {
					return
				}
			}
		}
	}()
	_ = conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	status, _ := bufio.NewReader(conn).ReadString('\n')
	_, err = io.Copy(io.Discard, conn) // until the server closes
	// A reset is a close too (the server closes with the body's bytes unread); only the read
	// deadline means the connection stayed open.
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("connection still open 15 s after a slow body began (status %q): %v", status, err)
	}
	return strings.TrimSpace(status), time.Since(start)
}

// TestSlowBodyIsCutOffAtTheDeadline: a caller with the token that sends its body slowly gets
// 408 and a closed connection at --body-read-timeout; one without the token gets 401 and a
// closed connection at once.
func TestSlowBodyIsCutOffAtTheDeadline(t *testing.T) {
	t.Parallel()
	const secret = "caller-secret-for-slow-bodies"
	// The whole body would take 100000 × 50 ms (over an hour) to arrive, so any cut within
	// seconds is the deadline's; the bounds leave room for a busy machine.
	f := newFixture(t, fixtureOpts{auth: secret}, "--body-read-timeout", "400ms")
	status, took := slowPost(t, f.URL, "Authorization: Bearer "+secret+"\r\n")
	if !strings.Contains(status, " 408 ") || took < 400*time.Millisecond || took > 10*time.Second {
		t.Fatalf("authenticated slow body: %q after %v, want 408 after the 400ms deadline", status, took)
	}
	// Without the token: 401 without waiting for the body, i.e. well before a deadline long
	// enough that no load could make "at once" reach it.
	g := newFixture(t, fixtureOpts{auth: secret}, "--body-read-timeout", "20s")
	status, took = slowPost(t, g.URL, "")
	if !strings.Contains(status, " 401 ") || took > 10*time.Second {
		t.Fatalf("unauthenticated slow body: %q after %v, want 401 at once (long before the 20s deadline)", status, took)
	}
}

// TestBodyDeadlineDoesNotCutLongCalls: once the body is in, a tool call may take longer than
// --body-read-timeout (an expired read deadline would look like a disconnect and cancel it).
func TestBodyDeadlineDoesNotCutLongCalls(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{spy: true}, "--body-read-timeout", "200ms")
	f.SB.SetFaults(sandbox.Fault{Kind: "latency", Param: "700ms"})
	c := connectHTTP(t, kindStreamable, f.URL, clientOpts{era: legacyEra})
	t.Cleanup(func() { _ = c.Close() })
	res := mustCall(t, ctxT(t, 10*time.Second), c, "get_run", map[string]any{"run_id": sandbox.IDs.ActiveRun})
	if res.IsError {
		t.Fatalf("a call slower than the body deadline failed: %s", text(res))
	}
	for _, r := range f.SB.Done() {
		if r.CtxErr != nil {
			t.Fatalf("the request to Tallyfy was cancelled: %v", r.CtxErr)
		}
	}
}

// TestSessionSlots: GET and DELETE /mcp need a session initialize opened, and a failed
// initialize holds no slot once answered.
func TestSessionSlots(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{}, "--max-sessions", "2")
	for i := 0; i < 5; i++ {
		if code, _, body := getStatus(t, f.URL+"/mcp", nil); code != http.StatusBadRequest || !strings.Contains(body, "Mcp-Session-Id") {
			t.Fatalf("GET without a session: %d %s", code, body)
		}
		code, _, _ := getStatus(t, f.URL+"/mcp", map[string]string{"Mcp-Session-Id": "mcp-session-00000000-0000-4000-8000-00000000000" + fmt.Sprint(i)})
		if code != http.StatusNotFound {
			t.Fatalf("GET with a session the server never issued: %d, want 404", code)
		}
		_, hdr, body := rawPost(t, f.URL+"/mcp", strings.Replace(initBody, `"2025-11-25"`, `123`, 1), nil)
		if code, _ := checkJSONRPCError(t, body); code != -32600 || hdr.Get("Mcp-Session-Id") == "" {
			t.Fatalf("failed initialize: %d %v", code, hdr)
		}
	}
	if n := f.H.OpenSessions(); n != 0 {
		t.Fatalf("%d session slots taken after only refused GETs and failed initializes", n)
	}
	for i := 0; i < 2; i++ {
		if code, hdr, body := rawPost(t, f.URL+"/mcp", initBody, nil); code != http.StatusOK || hdr.Get("Mcp-Session-Id") == "" {
			t.Fatalf("initialize %d: %d %s", i, code, body)
		}
	}
	if code, _, _ := rawPost(t, f.URL+"/mcp", initBody, nil); code != http.StatusServiceUnavailable {
		t.Fatalf("third initialize under --max-sessions 2: %d, want 503", code)
	}
}

// TestEmptyChunkedBody: a chunked POST with no bytes is a parse error, not a crash.
func TestEmptyChunkedBody(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	req, _ := http.NewRequest(http.MethodPost, f.URL+"/mcp", io.NopCloser(strings.NewReader(""))) // unknown length: chunked
	req.Header.Set("Content-Type", "application/json")
	code, _, body := do(t, req)
	if c, _ := checkJSONRPCError(t, body); code != http.StatusBadRequest || c != -32700 {
		t.Fatalf("empty chunked body: %d %s", code, body)
	}
}

// TestOversizedBodyIsAnsweredWhileItArrives: a client that writes an 8 MiB body while reading
// (as Node's fetch does) sends it whole and reads its 413, five times in five: the server
// answers, half-closes, and reads what is still coming for a moment instead of resetting the
// connection under it.
func TestOversizedBodyIsAnsweredWhileItArrives(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{spy: true})
	body := []byte(paddedCall(sandbox.IDs.ActiveRun, 8<<20))
	for i := range 5 {
		conn, err := net.Dial("tcp", strings.TrimPrefix(f.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		wrote := make(chan error, 1)
		go func() {
			fmt.Fprintf(conn, "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: %d\r\n\r\n", len(body))
			_, err := conn.Write(body)
			wrote <- err
		}()
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("try %d: reading the answer to an 8 MiB body: %v", i, err)
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), "--max-body-bytes") {
			t.Fatalf("try %d: %d %s %v, want 413 naming --max-body-bytes", i, resp.StatusCode, b, err)
		}
		// A client that fails to send its body gives up on the answer too (Node's fetch: ECONNRESET).
		if err := <-wrote; err != nil {
			t.Fatalf("try %d: sending the 8 MiB body: %v", i, err)
		}
		_ = conn.Close()
	}
	if rec, _ := f.SB.Lookup("run", sandbox.IDs.ActiveRun); rec.Archived {
		t.Fatal("the oversized call ran")
	}
}

// TestBodyLimitAboveMCPGoDefault: --max-body-bytes over mcp-go's own default bound (4 MiB) is
// the limit: a 5 MiB call is served on /mcp.
func TestBodyLimitAboveMCPGoDefault(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{spy: true}, "--max-body-bytes", "6291456")
	status, hdr, body := rawPost(t, f.URL+"/mcp", initBody, nil)
	if status != http.StatusOK {
		t.Fatalf("initialize: %d %s", status, body)
	}
	h := map[string]string{"Mcp-Session-Id": hdr.Get("Mcp-Session-Id"), "MCP-Protocol-Version": "2025-11-25"}
	status, body, _ = postBody(t, f.URL+"/mcp", strings.NewReader(paddedCall(sandbox.IDs.ActiveRun, 5<<20)), h)
	if status != http.StatusOK || !strings.Contains(body, `"result"`) {
		t.Fatalf("a 5 MiB call under --max-body-bytes 6 MiB: %d %.300s", status, body)
	}
}
