// Package stdio serves an MCP server on stdin/stdout through mcp-go's StdioServer, adding only
// what mcp-go v1.6.0 lacks (Serve names each).
package stdio

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/tallyfy-mcp/tallyfy-mcp/logsafe"
	"github.com/tallyfy-mcp/tallyfy-mcp/server/jsonrpc"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
)

// Options is what Serve needs of the server.
type Options struct {
	MCP             *mcpserver.MCPServer // built with Register's hooks
	Logger          *slog.Logger
	MaxLineBytes    int64         // --max-body-bytes: a longer line is skipped unread
	ShutdownTimeout time.Duration // how long calls read before the input ended may take
	BeginShutdown   func()        // gives up the questions still open to the person
}

// Serve serves JSON-RPC on stdin/stdout through mcp-go's StdioServer until the input ends or
// ctx ends (SIGTERM). It adds only what mcp-go v1.6.0 lacks, each named by a TestMCPGoGap_
// test in server/mcpgo_gap_test.go:
//   - the input is read here, one line at a time: a line over --max-body-bytes is skipped
//     unread, blank lines are ignored, the JSON-RPC check and client-text clipping of the
//     jsonrpc package apply, at most maxInFlight requests are answered at once, and the line
//     after an initialize waits for its answer (echo initialize; echo tools/call works);
//   - at the end of the input (EOF, or SIGTERM), the calls already read are answered before
//     mcp-go sees EOF, bounded by --shutdown-timeout: mcp-go cancels them the moment its input ends;
//   - a call's progress is written before its answer: mcp-go writes notifications from another
//     goroutine, and the client drops progress that arrives after the answer;
//   - a request before initialize is refused (a hook, Register).
func Serve(ctx context.Context, o Options, stdin io.Reader, stdout io.Writer) error {
	c := &conn{o: o, out: stdout, stop: make(chan struct{}), inflight: map[string]chan struct{}{}}
	srv := mcpserver.NewStdioServer(o.MCP)
	srv.SetErrorLogger(slog.NewLogLogger(o.Logger.Handler(), slog.LevelError))
	mcpserver.WithWorkerPoolSize(workers)(srv)
	mcpserver.WithQueueSize(maxInFlight)(srv)
	srv.SetContextFunc(func(ctx context.Context) context.Context {
		return context.WithValue(tools.WithTransport(ctx, "stdio", true), connKey{}, c)
	})

	// Requests outlive SIGTERM until answered: mcp-go's context ends only once they are.
	listenCtx, endListen := context.WithCancel(context.WithoutCancel(ctx))
	defer endListen()
	defer context.AfterFunc(ctx, func() {
		o.Logger.Info("SIGTERM: finishing in-flight calls", "timeout", o.ShutdownTimeout)
		close(c.stop)
		c.endOnce.Do(c.drain)
		endListen() // mcp-go's read of stdin may be waiting for a line that never comes
	})()
	in := newInput(c, stdin)
	defer close(in.done)
	err := srv.Listen(listenCtx, in, output{c})
	if err != nil && (!errors.Is(err, context.Canceled) || ctx.Err() == nil) {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.readErr != nil && !errors.Is(c.readErr, io.EOF) && !errors.Is(c.readErr, io.ErrClosedPipe) {
		return c.readErr
	}
	return nil
}

// workers is how many tool calls mcp-go runs at once on stdio; more wait in its queue,
// which the in-flight cap keeps from filling (a call mcp-go ran on its read loop instead could
// wait for an elicitation answer that loop would never read). Each worker keeps the stack its
// largest call grew, so more workers cost memory (100: +3 MB peak RSS in make bench).
var workers = 16

// maxInFlight bounds the requests answered at once: each holds a goroutine and perhaps a
// request to Tallyfy, and a client that writes without reading must not make them unbounded.
var maxInFlight = 256

// errCodeBusy is the JSON-RPC error (implementation-defined range) for a request refused
// because too many are in flight.
const errCodeBusy = -32000

type connKey struct{}

// conn is one stdio connection: the single client of this process.
type conn struct {
	o         Options
	out       io.Writer
	wmu       sync.Mutex    // one message per write, whoever writes
	stop      chan struct{} // closed on SIGTERM
	endOnce   sync.Once     // the drain at the end of the input
	handshake atomic.Bool   // initialize answered without error

	mu      sync.Mutex
	readErr error // why the input ended
	// inflight holds the requests handed to mcp-go and not yet answered, by id; an
	// initialize's value is closed when it is answered (nil for other requests).
	inflight map[string]chan struct{}
	drained  chan struct{} // closed when inflight empties, once the input has ended
}

// readLine reads up to and including the next newline. A line longer than limit is skipped to
// its end without being kept (tooLong): one runaway message must not take the memory.
func readLine(r *bufio.Reader, limit int64) (line []byte, tooLong bool, err error) {
	for {
		frag, err := r.ReadSlice('\n')
		if !tooLong {
			if limit > 0 && int64(len(line)+len(frag)) > limit+1 { // +1: the newline
				tooLong, line = true, nil
			} else {
				line = append(line, frag...)
			}
		}
		if err != bufio.ErrBufferFull {
			return line, tooLong, err
		}
	}
}

// input is what mcp-go reads: the lines of stdin that passed the checks, one at a time.
// One goroutine of its own reads and checks them (next), handing each over when mcp-go asks:
// mcp-go reads every line on a goroutine it starts for that line, and reading stdin and
// decoding the line there grew each such goroutine's stack anew (stack copying was a sixth of
// the CPU time of a stdio ping; docs/performance.md).
type input struct {
	c       *conn
	r       *bufio.Reader
	pending []byte
	ended   error         // the input's end, met with its last line
	after   chan struct{} // the answer the next line waits for (initialize's)

	lines chan []byte   // from the reading goroutine, one at a time; closed at the input's end
	done  chan struct{} // closed when serving ends: the reading goroutine stops handing over
}

func newInput(c *conn, r io.Reader) *input {
	in := &input{c: c, r: bufio.NewReaderSize(r, 64<<10), lines: make(chan []byte), done: make(chan struct{})}
	go in.readLines()
	return in
}

// readLines runs next until the input ends, handing each line over as mcp-go asks for it.
func (in *input) readLines() {
	defer close(in.lines)
	for line := in.next(); line != nil; line = in.next() {
		select {
		case in.lines <- line:
		case <-in.done:
			return
		}
	}
}

func (in *input) Read(p []byte) (int, error) {
	if len(in.pending) == 0 {
		line, ok := <-in.lines
		if !ok {
			return 0, io.EOF
		}
		in.pending = line
	}
	n := copy(p, in.pending)
	in.pending = in.pending[n:]
	return n, nil
}

// next returns the next line for mcp-go (never empty), answering here what never reaches it;
// at the end of the input (or after SIGTERM: what is read then is not served) it returns nil
// once the requests in flight are answered.
func (in *input) next() []byte {
	c := in.c
	if in.after != nil {
		select {
		case <-in.after:
		case <-c.stop:
		case <-time.After(5 * time.Second): // an answer this file failed to see must not stop the input
		}
		in.after = nil
	}
	for {
		var line []byte
		tooLong, err := false, in.ended
		if err == nil {
			line, tooLong, err = readLine(in.r, c.o.MaxLineBytes)
		}
		select {
		case <-c.stop:
			line, tooLong, err = nil, false, io.EOF
		default:
		}
		if tooLong {
			c.refuse(jsonrpc.InvalidRequest(fmt.Sprintf("message larger than %d bytes (--max-body-bytes): skipped unread", c.o.MaxLineBytes)))
		} else if line, answered := c.admit(line); line != nil {
			in.after = answered
			if line[len(line)-1] != '\n' {
				line = append(line, '\n') // the last line may end without one
			}
			in.ended = err
			return line
		}
		if err != nil {
			c.mu.Lock()
			c.readErr = err
			c.mu.Unlock()
			c.endOnce.Do(c.drain)
			return nil
		}
	}
}

// admit checks one line and returns what mcp-go is to read of it, or nil when it was answered
// here (refused, blank); for an initialize, also what its answer closes, which the next line
// waits for.
func (c *conn) admit(line []byte) (_ []byte, answered chan struct{}) {
	if isBlank(line) {
		return nil, nil
	}
	m := jsonrpc.Parse(line)
	if refusal := m.Refusal(line); refusal != nil {
		c.refuse(refusal)
		return nil, nil
	}
	if !m.IsRequest() {
		return jsonrpc.BoundClientText(line), nil
	}
	key := idKey(m.ID)
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, dup := c.inflight[key]; dup {
		// mcp-go refuses an id already in flight with an answer of its own (id null).
		return jsonrpc.BoundClientText(line), nil
	}
	if len(c.inflight) >= maxInFlight {
		c.refuse(mcp.NewJSONRPCError(mcp.NewRequestId(m.ID), errCodeBusy, fmt.Sprintf(
			"server busy: %d requests are already being answered on this connection; send this one again once some answers are in", maxInFlight), nil))
		return nil, nil
	}
	if m.Method == string(mcp.MethodInitialize) {
		answered = make(chan struct{})
	}
	c.inflight[key] = answered
	return jsonrpc.BoundClientText(line), answered
}

// answered notes that the request with this id key has its answer written.
func (c *conn) answered(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch, ok := c.inflight[key]
	if !ok {
		return
	}
	delete(c.inflight, key)
	if ch != nil {
		close(ch)
	}
	if len(c.inflight) == 0 && c.drained != nil {
		close(c.drained)
		c.drained = nil
	}
}

// drain runs when the input has ended: a question still open to the person can no longer be
// answered, and the calls in flight get --shutdown-timeout to finish before mcp-go, seeing
// EOF, cancels them.
func (c *conn) drain() {
	c.o.BeginShutdown()
	c.mu.Lock()
	var done chan struct{}
	if len(c.inflight) > 0 {
		done = make(chan struct{})
		c.drained = done
	}
	c.mu.Unlock()
	if done == nil {
		return
	}
	select {
	case <-done:
	case <-time.After(c.o.ShutdownTimeout):
		c.o.Logger.Warn("shutdown timeout: cancelling the calls still running", "timeout", c.o.ShutdownTimeout)
	}
}

// refuse writes an answer of this file's own.
func (c *conn) refuse(msg any) {
	b, err := json.Marshal(msg)
	if err == nil {
		_, err = c.write(append(b, '\n'))
	}
	if err != nil {
		c.o.Logger.Error("writing to stdout", "err", err)
	}
}

func (c *conn) write(b []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.out.Write(b)
}

// output is where mcp-go writes: each of its writes is one whole message and its newline.
type output struct{ c *conn }

func (o output) Write(p []byte) (int, error) {
	if bytes.HasPrefix(p, flushPrefix) {
		flushed(p)
		return len(p), nil
	}
	n, err := o.c.write(p)
	if err == nil {
		if key, ok := answerID(p); ok {
			o.c.answered(key)
		}
	}
	return n, err
}

// answerID returns the id key of an answer (a message with an id and a result or an error).
// mcp-go writes "jsonrpc", then "id", then "result", "error" or (its own request) "method":
// reading that prefix costs a fraction of decoding the message (TestStdioAnswerID pins it).
func answerID(msg []byte) (string, bool) {
	rest, ok := bytes.CutPrefix(msg, []byte(`{"jsonrpc":"2.0","id":`))
	if !ok || len(rest) == 0 {
		return "", false
	}
	end := bytes.IndexByte(rest, ',')
	if rest[0] == '"' { // a string id may hold commas
		end = -1
		for i := 1; i < len(rest); i++ {
			if rest[i] == '\\' {
				i++
			} else if rest[i] == '"' {
				end = i + 1
				break
			}
		}
	}
	if end <= 0 || string(rest[:end]) == "null" {
		return "", false
	}
	if after := rest[end:]; !bytes.HasPrefix(after, []byte(`,"result"`)) && !bytes.HasPrefix(after, []byte(`,"error"`)) {
		return "", false
	}
	return idKey(rest[:end]), true
}

// idKey is a request id as mcp-go compares ids (1 and "1" differ, 9007199254740993 is exact).
func idKey(raw json.RawMessage) string {
	// The usual integer id without json's reflection, which also grew the stack of the
	// goroutine writing each answer: the same key as mcp.RequestId's String.
	if n, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
		return "int64:" + strconv.FormatInt(n, 10)
	}
	var id mcp.RequestId
	if json.Unmarshal(raw, &id) != nil {
		return string(raw)
	}
	return id.String()
}

func isBlank(line []byte) bool { return len(bytes.TrimSpace(line)) == 0 }

// A call's progress notifications precede its answer: mcp-go queues notifications on the
// session's channel and writes them from another goroutine, so an answer written at once could
// overtake them (TestMCPGoGap_StdioProgressCanFollowTheAnswer). After a call that asked for
// progress, a marker goes through the same channel; when mcp-go writes it (here it is
// swallowed), everything queued before it is on stdout.
var (
	flushPrefix  = []byte(`{"jsonrpc":"2.0","method":"tallyfy-mcp/flushed"`)
	flushSeq     atomic.Int64
	flushWaiters sync.Map // sequence number -> chan struct{}
)

// flushedMarker is the notification written for flush n.
func flushedMarker(n int64) mcp.JSONRPCNotification {
	return mcp.JSONRPCNotification{JSONRPC: mcp.JSONRPC_VERSION, Notification: mcp.Notification{
		Method: "tallyfy-mcp/flushed", Params: mcp.NotificationParams{AdditionalFields: map[string]any{"n": n}}}}
}

func flushed(marker []byte) {
	var m struct {
		Params struct {
			N int64 `json:"n"`
		} `json:"params"`
	}
	if json.Unmarshal(marker, &m) == nil {
		if ch, ok := flushWaiters.LoadAndDelete(m.Params.N); ok {
			close(ch.(chan struct{}))
		}
	}
}

// flushProgress is a tool middleware on the stdio transport: a call that carried a
// progressToken returns once its notifications are written (at most a second later).
func flushProgress(next mcpserver.ToolHandlerFunc) mcpserver.ToolHandlerFunc {
	return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		res, err := next(ctx, req)
		s := mcpserver.ClientSessionFromContext(ctx)
		if req.Params.Meta == nil || req.Params.Meta.ProgressToken == nil || ctx.Value(connKey{}) == nil || s == nil {
			return res, err
		}
		n := flushSeq.Add(1)
		done := make(chan struct{})
		flushWaiters.Store(n, done)
		defer flushWaiters.Delete(n)
		timeout := time.After(time.Second)
		select {
		case s.NotificationChannel() <- flushedMarker(n):
			select {
			case <-done:
			case <-timeout:
			}
		case <-timeout:
		}
		return res, err
	}
}

// Register adds the stdio transport's hooks to those of the MCP server being built for it (the
// refusal before initialize, the handshake it waits for) and returns its tool middleware
// (progress written before answers).
func Register(hooks *mcpserver.Hooks) []mcpserver.ToolHandlerMiddleware {
	hooks.AddOnRequestInitialization(refuseBeforeInitialize)
	hooks.AddAfterInitialize(func(ctx context.Context, _ any, _ *mcp.InitializeRequest, _ *mcp.InitializeResult) {
		if c, ok := ctx.Value(connKey{}).(*conn); ok {
			c.handshake.Store(true)
		}
	})
	return []mcpserver.ToolHandlerMiddleware{flushProgress}
}

// refuseBeforeInitialize refuses a stdio request that comes before initialize, other than
// ping, on the protocols that have the handshake: "The client SHOULD NOT send requests other
// than pings before the server has responded to the initialize request" (MCP 2025-11-25,
// Lifecycle), and a tools/call that ran then would act before the client said who it is.
// mcp-go answers it (TestMCPGoGap_StdioServesCallsBeforeInitialize). A request that declares
// protocol 2026-07-28 in _meta has no handshake to wait for: that revision requires
// io.modelcontextprotocol/protocolVersion and io.modelcontextprotocol/clientCapabilities in
// every request's _meta (MCP 2026-07-28, Base Protocol: _meta), and mcp-go answers a request
// missing the capabilities with -32602. Streamable-HTTP sessions exist only once initialize has
// answered; SSE has its own check (mcphttp's handshaken).
func refuseBeforeInitialize(ctx context.Context, _ any, message any) error {
	c, ok := ctx.Value(connKey{}).(*conn)
	raw, isRaw := message.(json.RawMessage)
	if !ok || !isRaw || c.handshake.Load() {
		return nil
	}
	m := jsonrpc.Parse(raw)
	if m.Method == string(mcp.MethodInitialize) || m.Method == string(mcp.MethodPing) || mcp.IsModernProtocol(m.Protocol) {
		return nil
	}
	return errors.New(logsafe.ClipHeader(m.Method) + ` before initialize: send initialize first (protocol 2025-11-25 and earlier), or carry io.modelcontextprotocol/protocolVersion "2026-07-28" and io.modelcontextprotocol/clientCapabilities in params._meta`)
}
