package stdio_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tallyfy-mcp/tallyfy-mcp/server"
	"github.com/tallyfy-mcp/tallyfy-mcp/server/stdio"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
)

// stdioPeer drives the app on stdio (stdio.Serve) in this process through pipes, line by line.
type stdioPeer struct {
	t    *testing.T
	app  *server.App
	in   *io.PipeWriter
	out  *bufio.Reader
	done chan error
}

func startStdio(t *testing.T, args ...string) *stdioPeer {
	t.Helper()
	cfg, err := server.ParseConfig(append([]string{"--sandbox", "--audit-log", t.TempDir() + "/audit.jsonl"}, args...), func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	app, err := server.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = app.Close() })
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	p := &stdioPeer{t: t, app: app, in: inW, out: bufio.NewReader(outR), done: make(chan error, 1)}
	go func() { p.done <- app.Serve(context.Background(), inR, outW); _ = outW.Close() }()
	t.Cleanup(func() { _ = inW.Close() })
	return p
}

func (p *stdioPeer) send(line string) {
	p.t.Helper()
	if _, err := io.WriteString(p.in, line+"\n"); err != nil {
		p.t.Fatal(err)
	}
}

// next reads the next line the server writes, as a JSON object.
func (p *stdioPeer) next() map[string]any {
	p.t.Helper()
	type read struct {
		line string
		err  error
	}
	ch := make(chan read, 1)
	go func() { l, err := p.out.ReadString('\n'); ch <- read{l, err} }()
	select {
	case r := <-ch:
		if r.err != nil {
			p.t.Fatalf("reading stdout: %v", r.err)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(r.line), &m); err != nil {
			p.t.Fatalf("stdout line is not JSON: %q", r.line)
		}
		return m
	case <-time.After(10 * time.Second):
		p.t.Fatal("no line on stdout within 10 s")
		return nil
	}
}

const stdioInit = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{"elicitation":{}},"clientInfo":{"name":"t","version":"0"}}}`

// A request waiting on the client (a delete asking the person) must not stop the loop from
// reading: a ping sent meanwhile is answered first, the client's answer reaches the waiting
// call by its id, and garbage and blank lines get a parse error and nothing respectively.
func TestStdioLoopKeepsReadingWhileARequestWaits(t *testing.T) {
	p := startStdio(t, "--confirm", "elicit")
	p.send(stdioInit)
	if m := p.next(); m["result"] == nil {
		t.Fatalf("initialize: %v", m)
	}
	p.send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)

	p.send(`{"jsonrpc":"2.0","id":"del","method":"tools/call","params":{"name":"delete_run","arguments":{"run_id":"` + sandbox.IDs.ArchivedRun + `"}}}`)
	ask := p.next()
	if ask["method"] != "elicitation/create" || ask["id"] == nil {
		t.Fatalf("want the server's elicitation/create request, got %v", ask)
	}

	p.send(``)
	p.send(`{not json`)
	if m := p.next(); m["error"] == nil || m["error"].(map[string]any)["code"].(float64) != -32700 {
		t.Fatalf("garbage line: want a -32700 parse error, got %v", m)
	}
	p.send(`{"jsonrpc":"2.0","id":2,"method":"ping"}`)
	if m := p.next(); m["id"].(float64) != 2 || m["result"] == nil {
		t.Fatalf("ping while the delete waits: got %v", m)
	}

	id, _ := json.Marshal(ask["id"])
	p.send(`{"jsonrpc":"2.0","id":` + string(id) + `,"result":{"action":"decline"}}`)
	res := p.next()
	if res["id"] != "del" {
		t.Fatalf("want the delete's answer, got %v", res)
	}
	text, _ := json.Marshal(res["result"])
	if !strings.Contains(string(text), `"status":"cancelled"`) || !strings.Contains(string(text), "declined") {
		t.Errorf("declined delete: want status cancelled and a message that says so, got %s", text)
	}

	// The run is still there: the decline deleted nothing.
	p.send(`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"get_run","arguments":{"run_id":"` + sandbox.IDs.ArchivedRun + `"}}}`)
	if m := p.next(); m["id"].(float64) != 3 || strings.Contains(mustJSON(m), `"isError":true`) {
		t.Errorf("get_run after the declined delete: %v", m)
	}
}

// Requests written before stdin ends are all answered, in any order, and then Serve returns nil.
func TestStdioAnswersEverythingReadBeforeEOF(t *testing.T) {
	p := startStdio(t)
	p.send(stdioInit)
	p.next()
	const n = 20
	for i := range n {
		p.send(`{"jsonrpc":"2.0","id":` + itoa(100+i) + `,"method":"tools/call","params":{"name":"get_run","arguments":{"run_id":"` + sandbox.IDs.ActiveRun + `"}}}`)
	}
	_ = p.in.Close()
	seen := map[float64]bool{}
	for range n {
		m := p.next()
		id, _ := m["id"].(float64)
		if m["result"] == nil || strings.Contains(mustJSON(m), `"isError":true`) {
			t.Errorf("call %v: %v", id, m)
		}
		seen[id] = true
	}
	if len(seen) != n {
		t.Errorf("%d distinct answers, want %d", len(seen), n)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("Serve after EOF: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after EOF")
	}
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

// A line longer than --max-body-bytes is skipped unread with a JSON-RPC error, and the
// connection goes on: the next request is answered.
func TestStdioSkipsAnOversizedLine(t *testing.T) {
	p := startStdio(t, "--max-body-bytes", "2048")
	p.send(stdioInit)
	p.next()
	p.send(`{"jsonrpc":"2.0","id":5,"method":"ping","params":{"pad":"` + strings.Repeat("x", 100_000) + `"}}`)
	m := p.next()
	e, _ := m["error"].(map[string]any)
	if e == nil || e["code"].(float64) != -32600 || !strings.Contains(e["message"].(string), "--max-body-bytes") || m["id"] != nil {
		t.Fatalf("oversized line: want a -32600 error naming --max-body-bytes with a null id, got %v", m)
	}
	p.send(`{"jsonrpc":"2.0","id":6,"method":"ping"}`)
	if m := p.next(); m["id"].(float64) != 6 || m["result"] == nil {
		t.Fatalf("the request after the oversized line: %v", m)
	}
}

// Past maxInFlight requests being answered, a new one is refused at once with a JSON-RPC
// error carrying its id; once answers are out, requests are served again.
func TestStdioRefusesRequestsPastTheInFlightCap(t *testing.T) {
	defer stdio.SetMaxInFlight(2)()
	p := startStdio(t, "--confirm", "elicit")
	p.send(stdioInit)
	p.next()
	p.send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	// Two deletes wait for the person: the cap is reached.
	var asks []map[string]any
	for i, id := range []string{sandbox.IDs.ArchivedRun, sandbox.IDs.ArchivedTemplate} {
		tool := map[int]string{0: "delete_run", 1: "delete_template"}[i]
		arg := map[int]string{0: "run_id", 1: "template_id"}[i]
		p.send(`{"jsonrpc":"2.0","id":"d` + itoa(i) + `","method":"tools/call","params":{"name":"` + tool + `","arguments":{"` + arg + `":"` + id + `"}}}`)
		ask := p.next()
		if ask["method"] != "elicitation/create" {
			t.Fatalf("want an elicitation request, got %v", ask)
		}
		asks = append(asks, ask)
	}
	p.send(`{"jsonrpc":"2.0","id":9,"method":"ping"}`)
	m := p.next()
	e, _ := m["error"].(map[string]any)
	if m["id"] != float64(9) || e == nil || e["code"].(float64) != stdio.ErrCodeBusy || !strings.Contains(e["message"].(string), "busy") {
		t.Fatalf("third request: want a busy error with id 9, got %v", m)
	}
	for _, ask := range asks {
		id, _ := json.Marshal(ask["id"])
		p.send(`{"jsonrpc":"2.0","id":` + string(id) + `,"result":{"action":"cancel"}}`)
		if m := p.next(); m["result"] == nil {
			t.Fatalf("cancelled delete: %v", m)
		}
	}
	p.send(`{"jsonrpc":"2.0","id":10,"method":"ping"}`)
	if m := p.next(); m["id"] != float64(10) || m["result"] == nil {
		t.Fatalf("ping after the answers: %v", m)
	}
}

// Notifications the MCP server sends to its clients reach stdout as JSON-RPC lines.
func TestStdioForwardsServerNotifications(t *testing.T) {
	p := startStdio(t)
	p.send(stdioInit)
	p.next()
	p.send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	p.send(`{"jsonrpc":"2.0","id":2,"method":"ping"}`) // the session is initialized once this is answered
	p.next()
	p.app.MCP.SendNotificationToAllClients("notifications/tools/list_changed", nil)
	if m := p.next(); m["method"] != "notifications/tools/list_changed" || m["id"] != nil {
		t.Fatalf("want the notification on stdout, got %v", m)
	}
}

// TestStdioStrictJSONRPC: a request before initialize does not run (ping does), ids come back
// byte for byte, unusable ids and batches get -32600 with a null id.
func TestStdioStrictJSONRPC(t *testing.T) {
	t.Parallel()
	p := startStdio(t, "--confirm", "off")
	p.send(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete_run","arguments":{"run_id":"` + sandbox.IDs.ArchivedRun + `"}}}`)
	if m := p.next(); m["error"] == nil || m["error"].(map[string]any)["code"] != float64(-32600) {
		t.Fatalf("tools/call before initialize: %v", m)
	}
	p.send(`{"jsonrpc":"2.0","id":2,"method":"ping"}`)
	if m := p.next(); m["result"] == nil {
		t.Fatalf("ping before initialize: %v", m)
	}
	for _, bad := range []string{`{"a":1}`, `[2]`, `true`, `null`} {
		p.send(`{"jsonrpc":"2.0","id":` + bad + `,"method":"ping"}`)
		if m := p.next(); m["id"] != nil || m["error"].(map[string]any)["code"] != float64(-32600) {
			t.Fatalf("id %s: %v", bad, m)
		}
	}
	p.send(`[{"jsonrpc":"2.0","id":3,"method":"ping"}]`)
	if m := p.next(); m["id"] != nil || m["error"].(map[string]any)["code"] != float64(-32600) {
		t.Fatalf("batch: %v", m)
	}
	p.send(strings.Replace(stdioInit, `"id":1`, `"id":9007199254740993`, 1))
	line, err := p.out.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, `{"jsonrpc":"2.0","id":9007199254740993,"result"`) {
		t.Fatalf("initialize with a large id: %q %v", line, err)
	}
	p.send(`{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"get_run","arguments":{"run_id":"` + sandbox.IDs.ArchivedRun + `"}}}`)
	if m := p.next(); m["result"] == nil || m["result"].(map[string]any)["isError"] == true {
		t.Fatalf("the archived run is gone or unreadable after a refused pre-initialize delete: %v", m)
	}
}

// TestStdioRequestPipedBehindInitializeRuns: a script that writes initialize and a call at once,
// without waiting for the answer, is served: initialize is answered before the next line is read.
func TestStdioRequestPipedBehindInitializeRuns(t *testing.T) {
	t.Parallel()
	p := startStdio(t)
	lines := []string{strings.Replace(stdioInit, `"name":"t"`, `"name":"`+strings.Repeat("t", 100_000)+`"`, 1)}
	for i := range 20 {
		lines = append(lines, `{"jsonrpc":"2.0","id":`+itoa(10+i)+`,"method":"tools/call","params":{"name":"get_run","arguments":{"run_id":"`+sandbox.IDs.ArchivedRun+`"}}}`)
	}
	p.send(strings.Join(lines, "\n"))
	for range len(lines) {
		if m := p.next(); m["error"] != nil {
			t.Fatalf("pipelined behind initialize: %v", m)
		}
	}
}
