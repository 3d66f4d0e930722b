package main

// Black-box harness for the root package tests: the binary is built once in TestMain and
// driven as a subprocess by the mcp-go client over its stdin/stdout pipes. Every byte the
// child writes to stdout is teed into a buffer (so it can be checked to be pure JSON-RPC
// afterwards) and everything it writes to stderr is kept too. Each test points the child at
// its own in-test sandbox (sandbox.Listen on loopback).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tallyfy-mcp/tallyfy-mcp/internal/testbin"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
)

// binPath is the tallyfy-mcp binary built by TestMain.
var binPath string

func TestMain(m *testing.M) { testbin.Main(m, ".", &binPath) }

// ---------------------------------------------------------------------------
// Small concurrency-safe helpers.

// syncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.b.Bytes()...)
}

func (s *syncBuffer) String() string { return string(s.Bytes()) }

// eofReader reports when its reader has returned its final error (EOF on the child's stdout):
// only then has every byte of stdout passed through the tee.
type eofReader struct {
	r    io.Reader
	once sync.Once
	done chan struct{}
}

func (e *eofReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil {
		e.once.Do(func() { close(e.done) })
	}
	return n, err
}

// onceCloser lets both the test and client.Close close the child's stdin.
type onceCloser struct {
	io.Writer
	c    io.Closer
	once sync.Once
	err  error
}

func (o *onceCloser) Close() error {
	o.once.Do(func() { o.err = o.c.Close() })
	return o.err
}

// ---------------------------------------------------------------------------
// The child process.

// procConfig says how to start one tallyfy-mcp child.
type procConfig struct {
	args     []string
	env      map[string]string // besides a cleaned os.Environ()
	protocol string            // "" = the client's default (2026-07-28)
	elicit   client.ElicitationHandler
	name     string // client name sent in initialize
}

// proc is a running tallyfy-mcp child with an MCP client on its pipes.
type proc struct {
	t       testing.TB
	cmd     *exec.Cmd
	stdin   *onceCloser
	stdout  *syncBuffer // every byte written to stdout
	stderr  *syncBuffer // every byte written to stderr
	outEOF  *eofReader
	c       *client.Client
	stopped atomic.Bool
	exit    int

	mu      sync.Mutex
	results []json.RawMessage // every tool result, as received
	rpcErrs int               // calls answered with a JSON-RPC error
}

// cleanEnv is os.Environ() without anything that configures tallyfy-mcp, so the test
// decides every setting.
func cleanEnv(extra map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "TALLYFY_") || strings.HasPrefix(k, "MCP_") || k == "LOG_LEVEL" || k == "LOG_FORMAT" || k == "NO_COLOR" {
			continue
		}
		env = append(env, kv)
	}
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+extra[k])
	}
	return env
}

// sandboxEnv points a child at a sandbox with a token. The in-test sandboxes have no rate
// limit, so the child does not pace its requests (pacing_test.go covers --tallyfy-rate).
func sandboxEnv(baseURL, token string) map[string]string {
	return map[string]string{"TALLYFY_ACCESS_TOKEN": token, "TALLYFY_ORG_ID": sandbox.OrgID, "TALLYFY_BASE_URL": baseURL, "TALLYFY_RATE": "0"}
}

// startProc starts the binary, connects the mcp-go client over its pipes and initializes.
func startProc(t testing.TB, cfg procConfig) *proc {
	t.Helper()
	cmd := exec.Command(binPath, cfg.args...)
	cmd.Env = cleanEnv(cfg.env)
	stdinPipe, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdoutPipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, cmd: cmd, stdout: &syncBuffer{}, stderr: &syncBuffer{}}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.stdin = &onceCloser{Writer: stdinPipe, c: stdinPipe}
	p.outEOF = &eofReader{r: io.TeeReader(stdoutPipe, p.stdout), done: make(chan struct{})}
	t.Cleanup(func() {
		if !p.stopped.Load() { // a failed test: do not leave the child behind
			_ = p.stdin.Close()
			_ = p.cmd.Process.Kill()
			_ = p.cmd.Wait()
		}
	})

	var opts []client.ClientOption
	if cfg.protocol != "" {
		opts = append(opts, client.WithProtocolVersion(cfg.protocol))
	}
	if cfg.elicit != nil {
		opts = append(opts, client.WithElicitationHandler(cfg.elicit))
	}
	p.c = client.NewClient(transport.NewIO(p.outEOF, p.stdin, nil), opts...)
	if err := p.c.Start(context.Background()); err != nil {
		t.Fatalf("client start: %v\nstderr:\n%s", err, p.stderr.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = cfg.protocol
	name := cfg.name
	if name == "" {
		name = "roottest"
	}
	init.Params.ClientInfo = mcp.Implementation{Name: name, Version: "1.0"}
	if _, err := p.c.Initialize(ctx, init); err != nil {
		t.Fatalf("initialize: %v\nstderr:\n%s", err, p.stderr.String())
	}
	return p
}

func contextWithTimeout() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 30*time.Second)
}

// pid is the child's process id.
func (p *proc) pid() int { return p.cmd.Process.Pid }

// call calls a tool and records the result. A JSON-RPC error is returned as err.
func (p *proc) call(name string, args map[string]any) (*mcp.CallToolResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	req := mcp.CallToolRequest{}
	req.Params.Name = name
	if args != nil {
		req.Params.Arguments = args
	}
	res, err := p.c.CallTool(ctx, req)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		p.rpcErrs++
		return nil, err
	}
	b, merr := json.Marshal(res)
	if merr != nil {
		return nil, merr
	}
	p.results = append(p.results, b)
	return res, nil
}

// mustCall calls a tool and fails the test on a JSON-RPC error.
func (p *proc) mustCall(name string, args map[string]any) *mcp.CallToolResult {
	p.t.Helper()
	res, err := p.call(name, args)
	if err != nil {
		p.t.Fatalf("%s %v: JSON-RPC error %v", name, args, err)
	}
	return res
}

// allResults joins every recorded tool result.
func (p *proc) allResults() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	for _, r := range p.results {
		b.Write(r)
		b.WriteByte('\n')
	}
	return b.String()
}

// stop closes stdin, waits until the child has written its last byte and exited, and
// returns its exit code.
func (p *proc) stop() int {
	p.t.Helper()
	if p.stopped.Swap(true) {
		return p.exit
	}
	_ = p.stdin.Close()
	select {
	case <-p.outEOF.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		p.t.Errorf("tallyfy-mcp did not close stdout within 30s of stdin EOF")
	}
	waited := make(chan error, 1)
	go func() { waited <- p.cmd.Wait() }()
	select {
	case <-waited:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-waited
		p.t.Errorf("tallyfy-mcp did not exit within 30s of stdin EOF")
	}
	_ = p.c.Close()
	p.exit = p.cmd.ProcessState.ExitCode()
	return p.exit
}

// ---------------------------------------------------------------------------
// Result helpers.

func resultText(res *mcp.CallToolResult) string {
	if res == nil {
		return ""
	}
	var parts []string
	for _, c := range res.Content {
		if tc, ok := c.(mcp.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	return strings.Join(parts, "\n")
}

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

// faultCounter wraps the sandbox handler to count what the fault injection did: status
// codes of answers and dropped connections.
type faultCounter struct {
	h http.Handler

	mu       sync.Mutex
	statuses map[int]int
	resets   int
	slow     int // requests that took ≥ 5 ms in the handler (latency faults)
}

func newFaultCounter(h http.Handler) *faultCounter {
	return &faultCounter{h: h, statuses: map[int]int{}}
}

type countingWriter struct {
	http.ResponseWriter
	fc     *faultCounter
	status int
}

func (w *countingWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *countingWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets the sandbox hijack the connection to drop it (reset-before / reset-after):
// such a request ends with no status written and is counted as a reset.
func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (fc *faultCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cw := &countingWriter{ResponseWriter: w, fc: fc}
	start := time.Now()
	defer func() {
		d := time.Since(start)
		fc.mu.Lock()
		defer fc.mu.Unlock()
		if d >= 5*time.Millisecond {
			fc.slow++
		}
		if cw.status == 0 {
			fc.resets++
		} else {
			fc.statuses[cw.status]++
		}
	}()
	fc.h.ServeHTTP(cw, r)
}

func (fc *faultCounter) snapshot() (statuses map[int]int, resets, slow int) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	statuses = map[int]int{}
	for k, v := range fc.statuses {
		statuses[k] = v
	}
	return statuses, fc.resets, fc.slow
}

// startSandbox serves a fresh sandbox on loopback and returns it with its base URL.
func startSandbox(t testing.TB, opts ...sandbox.Option) (*sandbox.Sandbox, string) {
	t.Helper()
	sb := sandbox.New(opts...)
	url, srv, err := sandbox.Listen("127.0.0.1:0", sb)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return sb, url
}

// startCountedSandbox is startSandbox with a faultCounter in front.
func startCountedSandbox(t testing.TB, opts ...sandbox.Option) (*sandbox.Sandbox, *faultCounter, string) {
	t.Helper()
	sb := sandbox.New(opts...)
	fc := newFaultCounter(sb)
	url, srv, err := sandbox.Listen("127.0.0.1:0", fc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return sb, fc, url
}

// mustFaults parses a fault spec (ParseFaults syntax) or fails.
func mustFaults(t testing.TB, spec string) []sandbox.Fault {
	t.Helper()
	fs, err := sandbox.ParseFaults(spec)
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

// item is one seeded record.
type item struct {
	kind     string // task, run, template
	id, name string
	archived bool
	oneOff   bool   // tasks only
	runID    string // tasks only: the process a task belongs to, or a per-assignee one-off task's container
}

// inventory lists every seeded record by asking a fresh sandbox over its HTTP handler (so
// the tests follow the seed instead of copying it).
func inventory(t testing.TB) []item {
	t.Helper()
	sb := sandbox.New()
	get := func(collection string) []map[string]any {
		req := httptest.NewRequest("GET", "/api/organizations/"+sandbox.OrgID+"/"+collection+"?archived=true&per_page=100", nil)
		req.Header.Set("Authorization", "Bearer "+sandbox.AdminToken)
		req.Header.Set("X-Tallyfy-Client", "APIClient")
		rec := httptest.NewRecorder()
		sb.ServeHTTP(rec, req)
		if rec.Code != 200 {
			t.Fatalf("inventory %s: %d %s", collection, rec.Code, rec.Body)
		}
		var env struct {
			Data []map[string]any `json:"data"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
			t.Fatal(err)
		}
		return env.Data
	}
	var out []item
	for _, d := range get("tasks") {
		id := d["id"].(string)
		oneOff, _ := d["is_oneoff_task"].(bool)
		rec, ok := sb.Lookup("task", id)
		if !ok {
			t.Fatalf("task %s listed but not found", id)
		}
		runID, _ := d["run_id"].(string)
		out = append(out, item{kind: "task", id: id, name: rec.Name, archived: rec.Archived, oneOff: oneOff, runID: runID})
	}
	for _, d := range get("runs") {
		id := d["id"].(string)
		rec, _ := sb.Lookup("run", id)
		out = append(out, item{kind: "run", id: id, name: rec.Name, archived: rec.Archived})
	}
	for _, d := range get("checklists") {
		id := d["id"].(string)
		rec, _ := sb.Lookup("template", id)
		out = append(out, item{kind: "template", id: id, name: rec.Name, archived: rec.Archived})
	}
	return out
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

// procStatus reads VmRSS (kB) and Threads from /proc/<pid>/status.
func procStatus(pid int) (rssKB, threads int, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "VmRSS:":
			rssKB, _ = strconv.Atoi(f[1])
		case "Threads:":
			threads, _ = strconv.Atoi(f[1])
		}
	}
	if rssKB == 0 || threads == 0 {
		return 0, 0, fmt.Errorf("no VmRSS/Threads in /proc/%d/status", pid)
	}
	return rssKB, threads, nil
}

// mustProcStatus is procStatus for the test goroutine.
func mustProcStatus(t testing.TB, pid int) (rssKB, threads int) {
	t.Helper()
	rssKB, threads, err := procStatus(pid)
	if err != nil {
		t.Fatal(err)
	}
	return rssKB, threads
}
