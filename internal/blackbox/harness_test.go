package blackbox

// Helpers the black-box tests share (the binary itself is started by internal/harness).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tallyfy-mcp/tallyfy-mcp/internal/harness"
	"github.com/tallyfy-mcp/tallyfy-mcp/internal/testkit"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
)

func TestMain(m *testing.M) { harness.Main(m) }

// sandboxEnv points a child at a sandbox with a token. The in-test sandboxes have no rate
// limit, so the child does not pace its requests (pacing_test.go covers --tallyfy-rate).
func sandboxEnv(baseURL, token string) map[string]string {
	return map[string]string{"TALLYFY_ACCESS_TOKEN": token, "TALLYFY_ORG_ID": sandbox.OrgID, "TALLYFY_BASE_URL": baseURL, "TALLYFY_RATE": "0"}
}

// runBinary runs the built tallyfy-mcp with args and a clean environment plus env ("K=V").
func runBinary(t *testing.T, env []string, args ...string) *harness.Binary {
	t.Helper()
	return harness.Run(t, harness.MinimalEnv(t, env...), args...)
}

// connect runs the binary with --sandbox and args and opens a client on kind: on its pipes for
// stdio, over loopback HTTP for the other two. Each client gets its own process, so its own
// sandbox state.
func connect(t *testing.T, kind string, args []string, o testkit.ClientOpts) *client.Client {
	t.Helper()
	base := []string{"--sandbox", "--log-level", "debug"}
	var c *client.Client
	if kind == testkit.Stdio {
		c = testkit.ConnectStdio(t, nil, append(base, args...), o)
	} else {
		b := runBinary(t, nil, append(append(base, "--transport", "http", "--addr", "127.0.0.1:0"), args...)...)
		url := b.ListenURL(t)
		testkit.WaitHealthy(t, http.DefaultClient, url)
		c = testkit.ConnectHTTP(t, kind, url, o)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func contextWithTimeout() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 30*time.Second)
}

// ---------------------------------------------------------------------------
// Result helpers.

// structured decodes a result's structuredContent into v.
func structured(t testing.TB, res *mcp.CallToolResult, v any) {
	t.Helper()
	b, err := json.Marshal(res.StructuredContent)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("structuredContent %s: %v", b, err)
	}
}

// lifecycleOut is the part of a lifecycle result the tests read.
type lifecycleOut struct {
	Action   string `json:"action"`
	Changed  bool   `json:"changed"`
	Resource struct {
		Type  string `json:"type"`
		ID    string `json:"id"`
		Name  string `json:"name"`
		State string `json:"state"`
	} `json:"resource"`
	Undo struct {
		Tool      string            `json:"tool"`
		Arguments map[string]string `json:"arguments"`
	} `json:"undo"`
}

// deleteOut is the part of a delete result the tests read.
type deleteOut struct {
	Status       string `json:"status"`
	ConfirmToken string `json:"confirm_token"`
	Resource     struct {
		ID    string `json:"id"`
		Name  string `json:"name"`
		State string `json:"state"`
	} `json:"resource"`
}

// ---------------------------------------------------------------------------
// stdout: only JSON-RPC.

// rpcStats counts the messages found on stdout.
type rpcStats struct {
	lines, results, errors, requests, notifications int
	parseErrors                                     int // error responses with code -32700
}

// checkJSONRPCStream fails t unless every line of out is exactly one JSON-RPC 2.0 message.
func checkJSONRPCStream(t testing.TB, out []byte) rpcStats {
	t.Helper()
	var st rpcStats
	if len(out) == 0 {
		t.Errorf("stdout is empty")
		return st
	}
	if out[len(out)-1] != '\n' {
		t.Errorf("stdout does not end with a newline: last bytes %q", tail(out, 80))
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Bytes()
		bad := func(why string) {
			t.Errorf("stdout line %d is not one JSON-RPC 2.0 message (%s): %q", n, why, clipBytes(line, 300))
		}
		if len(bytes.TrimSpace(line)) == 0 {
			bad("blank line")
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(line))
		var msg map[string]json.RawMessage
		if err := dec.Decode(&msg); err != nil {
			bad("not a JSON object: " + err.Error())
			continue
		}
		if dec.More() {
			bad("more than one JSON value on the line")
			continue
		}
		var version string
		if json.Unmarshal(msg["jsonrpc"], &version) != nil || version != "2.0" {
			bad(`"jsonrpc" is not "2.0"`)
			continue
		}
		_, hasID := msg["id"]
		_, hasResult := msg["result"]
		errRaw, hasError := msg["error"]
		_, hasMethod := msg["method"]
		switch {
		case hasMethod && !hasResult && !hasError:
			if hasID && string(msg["id"]) != "null" {
				st.requests++
			} else if !hasID {
				st.notifications++
			} else {
				bad("request with a null id")
			}
		case hasID && hasResult && !hasError && !hasMethod:
			if string(msg["id"]) == "null" {
				bad("result with a null id")
			}
			st.results++
		case hasID && hasError && !hasResult && !hasMethod:
			var e struct {
				Code    *int   `json:"code"`
				Message string `json:"message"`
			}
			if json.Unmarshal(errRaw, &e) != nil || e.Code == nil {
				bad("error without a numeric code")
			}
			if e.Code != nil && *e.Code == -32700 {
				st.parseErrors++
			}
			st.errors++
		default:
			bad("neither a request, a notification, a result nor an error")
		}
	}
	if err := sc.Err(); err != nil {
		t.Errorf("reading stdout: %v", err)
	}
	st.lines = n
	return st
}

func tail(b []byte, n int) []byte {
	if len(b) <= n {
		return b
	}
	return b[len(b)-n:]
}

func clipBytes(b []byte, n int) []byte {
	if len(b) <= n {
		return b
	}
	return append(append([]byte(nil), b[:n]...), "…"...)
}

// tintLine is the start of a line of the text log format (tint, no colour on a pipe).
var tintLine = regexp.MustCompile(`^\d\d:\d\d:\d\d\.\d{3} (DBG|INF|WRN|ERR)(\+\d+)? `)

// checkStderrLog checks that stderr holds log lines of the format asked for, and nothing
// else (a stray fmt.Print, a panic trace); it returns the number of lines.
func checkStderrLog(t testing.TB, stderr []byte, format string) int {
	t.Helper()
	lines := strings.Split(strings.TrimRight(string(stderr), "\n"), "\n")
	if len(stderr) == 0 || len(lines) == 0 {
		t.Errorf("stderr has no log lines")
		return 0
	}
	for i, l := range lines {
		switch format {
		case "json":
			var rec map[string]any
			if err := json.Unmarshal([]byte(l), &rec); err != nil {
				t.Errorf("stderr line %d is not a JSON log record: %q", i+1, clipBytes([]byte(l), 300))
				continue
			}
			if _, ok := rec["msg"]; !ok {
				t.Errorf("stderr line %d has no msg: %q", i+1, clipBytes([]byte(l), 300))
			}
			if _, ok := rec["level"]; !ok {
				t.Errorf("stderr line %d has no level: %q", i+1, clipBytes([]byte(l), 300))
			}
		default:
			if !tintLine.MatchString(l) {
				t.Errorf("stderr line %d is not a text log line: %q", i+1, clipBytes([]byte(l), 300))
			}
		}
	}
	return len(lines)
}

// ---------------------------------------------------------------------------
// The sandbox.

// mustFaults parses a fault spec (ParseFaults syntax) or fails.
func mustFaults(t testing.TB, spec string) []sandbox.Fault {
	t.Helper()
	fs, err := sandbox.ParseFaults(spec)
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

// idArgName is the argument naming a kind's ID.
func idArgName(kind string) string {
	switch kind {
	case "task":
		return "task_id"
	case "run":
		return "run_id"
	}
	return "template_id"
}

// toolName is the tool for a kind and verb (archive, restore, get, list, delete).
func toolName(kind, verb string) string {
	if verb == "list" {
		return "list_" + kind + "s"
	}
	if verb == "restore" && kind == "run" {
		return "activate_run"
	}
	return verb + "_" + kind
}

// stateWord is the lifecycle result's state for an archived flag.
func stateWord(archived bool) string {
	if archived {
		return "archived"
	}
	return "live"
}

// auditLines reads an audit file: one JSON object per line.
func auditLines(t testing.TB, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return decodeAudit(t, b)
}
