package main

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// readResponse reads what net/http's server writes, both framings, and leaves the connection
// at the next response.
func TestReadResponseMatchesNetHTTP(t *testing.T) {
	small := `{"jsonrpc":"2.0","id":1,"result":{}}`
	large := `{"jsonrpc":"2.0","id":2,"result":{"x":"` + strings.Repeat("y", 5000) + `"}}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Mcp-Session-Id", "s-1")
		switch r.URL.Path {
		case "/small":
			_, _ = io.WriteString(w, small)
		case "/large": // over net/http's 2 KiB buffer: chunked
			_, _ = io.WriteString(w, large)
		case "/accepted":
			w.WriteHeader(http.StatusAccepted)
		}
	}))
	defer srv.Close()
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	var buf bytes.Buffer
	for _, c := range []struct {
		path, body string
		status     int
	}{{"/small", small, 200}, {"/large", large, 200}, {"/accepted", "", 202}, {"/small", small, 200}} {
		if _, err := io.WriteString(conn, "GET "+c.path+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		r, err := readResponse(br, &buf)
		if err != nil {
			t.Fatalf("%s: %v", c.path, err)
		}
		if r.status != c.status || string(r.body) != c.body || r.sessionID != "s-1" {
			t.Errorf("%s: got %d %q (session %q), want %d %.40q", c.path, r.status, r.body, r.sessionID, c.status, c.body)
		}
	}
}
