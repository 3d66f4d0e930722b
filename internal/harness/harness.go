// Package harness builds the tallyfy-mcp binary once per test package and drives it as a
// subprocess: over its stdio pipes with the mcp-go client (Start), or as a plain process whose
// stderr is kept (Run). It is the one way black-box Go tests start the binary; the TypeScript
// suite in e2e/ builds and drives it on its own.
package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
)

// mainPackage is built by import path, so Main works from any package directory.
const mainPackage = "github.com/tallyfy-mcp/tallyfy-mcp"

// binPath is the binary Main built.
var binPath string

// Main builds the binary into a temporary directory, runs the tests and exits with their code.
// Call it from a test package's TestMain.
func Main(m *testing.M) {
	dir, err := os.MkdirTemp("", "tallyfy-mcp-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "harness:", err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "tallyfy-mcp")
	build := exec.Command("go", "build", "-o", binPath, mainPackage)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "harness: building tallyfy-mcp:", err)
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// Path is the binary Main built.
func Path() string { return binPath }

// ---------------------------------------------------------------------------
// Environments.

// CleanEnv is os.Environ() without anything that configures tallyfy-mcp, plus extra: the
// test decides every setting.
func CleanEnv(extra map[string]string) []string {
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

// MinimalEnv is PATH, a fresh HOME and extra ("K=V" entries): nothing else of the test's
// environment reaches the binary.
func MinimalEnv(t testing.TB, extra ...string) []string {
	return append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, extra...)
}

// ---------------------------------------------------------------------------
// Small concurrency-safe helpers.

// Buffer is a bytes.Buffer safe for one writer and concurrent readers.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// Bytes is a copy of what was written so far.
func (s *Buffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.b.Bytes()...)
}

func (s *Buffer) String() string { return string(s.Bytes()) }

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
// The binary on stdio, with an MCP client on its pipes.

// Config says how to start one stdio child.
type Config struct {
	Args     []string
	Env      map[string]string // besides CleanEnv's cleaned os.Environ()
	Protocol string            // "" = the client's default (2026-07-28)
	Elicit   client.ElicitationHandler
	Name     string // client name sent in initialize; "" = "roottest"
}

// Proc is a running tallyfy-mcp child with an initialized mcp-go client on its pipes.
type Proc struct {
	// Client is the mcp-go client on the child's pipes.
	Client *client.Client
	// Stdout holds every byte the child wrote to stdout, Stderr every byte to stderr.
	Stdout, Stderr *Buffer

	t       testing.TB
	cmd     *exec.Cmd
	stdin   *onceCloser
	outEOF  *eofReader
	stopped atomic.Bool
	exit    int

	mu      sync.Mutex
	results []json.RawMessage // every tool result, as received
	rpcErrs int               // calls answered with a JSON-RPC error
}

// Start starts the binary, connects the mcp-go client over its pipes and initializes. The
// child is killed at cleanup if the test did not Stop it.
func Start(t testing.TB, cfg Config) *Proc {
	t.Helper()
	cmd := exec.Command(binPath, cfg.Args...)
	cmd.Env = CleanEnv(cfg.Env)
	stdinPipe, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdoutPipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &Proc{t: t, cmd: cmd, Stdout: &Buffer{}, Stderr: &Buffer{}}
	cmd.Stderr = p.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.stdin = &onceCloser{Writer: stdinPipe, c: stdinPipe}
	p.outEOF = &eofReader{r: io.TeeReader(stdoutPipe, p.Stdout), done: make(chan struct{})}
	t.Cleanup(func() {
		if !p.stopped.Load() { // a failed test: do not leave the child behind
			_ = p.stdin.Close()
			_ = p.cmd.Process.Kill()
			_ = p.cmd.Wait()
		}
	})

	var opts []client.ClientOption
	if cfg.Protocol != "" {
		opts = append(opts, client.WithProtocolVersion(cfg.Protocol))
	}
	if cfg.Elicit != nil {
		opts = append(opts, client.WithElicitationHandler(cfg.Elicit))
	}
	p.Client = client.NewClient(transport.NewIO(p.outEOF, p.stdin, nil), opts...)
	if err := p.Client.Start(context.Background()); err != nil {
		t.Fatalf("client start: %v\nstderr:\n%s", err, p.Stderr.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = cfg.Protocol
	name := cfg.Name
	if name == "" {
		name = "roottest"
	}
	init.Params.ClientInfo = mcp.Implementation{Name: name, Version: "1.0"}
	if _, err := p.Client.Initialize(ctx, init); err != nil {
		t.Fatalf("initialize: %v\nstderr:\n%s", err, p.Stderr.String())
	}
	return p
}

// PID is the child's process id.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Call calls a tool and records the result. A JSON-RPC error is returned as err.
func (p *Proc) Call(name string, args map[string]any) (*mcp.CallToolResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	req := mcp.CallToolRequest{}
	req.Params.Name = name
	if args != nil {
		req.Params.Arguments = args
	}
	res, err := p.Client.CallTool(ctx, req)
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

// MustCall calls a tool and fails the test on a JSON-RPC error.
func (p *Proc) MustCall(name string, args map[string]any) *mcp.CallToolResult {
	p.t.Helper()
	res, err := p.Call(name, args)
	if err != nil {
		p.t.Fatalf("%s %v: JSON-RPC error %v", name, args, err)
	}
	return res
}

// RPCErrors counts the calls answered with a JSON-RPC error.
func (p *Proc) RPCErrors() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rpcErrs
}

// AllResults joins every recorded tool result, one JSON object a line.
func (p *Proc) AllResults() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	for _, r := range p.results {
		b.Write(r)
		b.WriteByte('\n')
	}
	return b.String()
}

// Stop closes stdin, waits until the child has written its last byte and exited, and
// returns its exit code.
func (p *Proc) Stop() int {
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
	// Wait's error only restates the exit status, which is read from ProcessState below.
	waited := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-waited
		p.t.Errorf("tallyfy-mcp did not exit within 30s of stdin EOF")
	}
	_ = p.Client.Close()
	p.exit = p.cmd.ProcessState.ExitCode()
	return p.exit
}

// ---------------------------------------------------------------------------
// The binary as a plain process (HTTP transport, signals, exit codes).

// Binary is a running tallyfy-mcp whose stderr is kept.
type Binary struct {
	// Cmd is the running command (to signal it).
	Cmd *exec.Cmd
	// Stderr holds every byte the binary wrote to stderr.
	Stderr *Buffer
	exited chan struct{}
	err    error
}

// Run starts the binary with args and env (complete "K=V" entries; see MinimalEnv). It is
// killed at cleanup if still running, and its stderr is logged when the test failed.
func Run(t testing.TB, env []string, args ...string) *Binary {
	t.Helper()
	b := &Binary{Stderr: &Buffer{}, exited: make(chan struct{})}
	b.Cmd = exec.Command(binPath, args...)
	b.Cmd.Env = env
	b.Cmd.Stderr = b.Stderr
	if err := b.Cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { b.err = b.Cmd.Wait(); close(b.exited) }()
	t.Cleanup(func() {
		select {
		case <-b.exited:
		default:
			_ = b.Cmd.Process.Kill()
			<-b.exited
		}
		if t.Failed() {
			t.Logf("binary stderr:\n%s", b.Stderr.String())
		}
	})
	return b
}

// listening is the line the binary logs once its HTTP listener is bound.
var listening = regexp.MustCompile(`streamable=(http://127\.0\.0\.1:\d+)/mcp`)

// ListenURL waits for the address the binary bound (it logs "streamable=http://ADDR/mcp") and
// returns its base URL.
func (b *Binary) ListenURL(t testing.TB) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := listening.FindStringSubmatch(b.Stderr.String()); m != nil {
			return m[1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 10s: the binary has not logged its address; stderr:\n%s", b.Stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Exited reports whether the binary has exited.
func (b *Binary) Exited() bool {
	select {
	case <-b.exited:
		return true
	default:
		return false
	}
}

// Wait returns the exit code, failing the test after d.
func (b *Binary) Wait(t testing.TB, d time.Duration) int {
	t.Helper()
	select {
	case <-b.exited:
	case <-time.After(d):
		t.Fatalf("the binary did not exit within %s; stderr:\n%s", d, b.Stderr.String())
	}
	var ee *exec.ExitError
	if errors.As(b.err, &ee) {
		return ee.ExitCode()
	}
	if b.err != nil {
		t.Fatal(b.err)
	}
	return 0
}

// StdioTransport is an mcp-go stdio transport that starts the binary with args and env
// (complete "K=V" entries; see MinimalEnv), for tests that compare the binary with an
// in-process server through the same client code.
func StdioTransport(env, args []string, stderr io.Writer) *transport.Stdio {
	return transport.NewStdioWithOptions(binPath, env, args,
		transport.WithCommandStderrWriter(stderr),
		transport.WithCommandFunc(func(ctx context.Context, command string, env []string, args []string) (*exec.Cmd, error) {
			cmd := exec.CommandContext(ctx, command, args...)
			cmd.Env = env
			return cmd, nil
		}))
}
