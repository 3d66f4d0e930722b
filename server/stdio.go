package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
)

// serveStdio serves JSON-RPC on stdin/stdout with a loop of its own rather than mcp-go's
// StdioServer, for two reasons:
//   - Latency. mcp-go passes each line through three goroutines (a reader per line, the read
//     loop, a worker), about 150 µs per call on a 2-core VM. Here the goroutine that read a
//     request hands the reader to another goroutine and answers the request itself: the
//     request never waits for another thread to wake up.
//   - Shutdown. mcp-go cancels every request the moment its input ends, so a pipeline that
//     writes its requests and closes stdin would get them cancelled. Here EOF and SIGTERM stop
//     the input, every request already read is answered (bounded by --shutdown-timeout), and
//     only then does the server stop.
func (a *App) serveStdio(ctx context.Context, stdin io.Reader, stdout io.Writer) error {
	c := &stdioConn{app: a, out: stdout, session: newStdioSession(), flush: make(chan chan struct{})}
	c.session.send = c.write
	if err := a.MCP.RegisterSession(ctx, c.session); err != nil {
		return fmt.Errorf("stdio session: %w", err)
	}
	defer a.MCP.UnregisterSession(context.WithoutCancel(ctx), c.session.SessionID())

	// Requests outlive SIGTERM until answered or until the shutdown timeout cancels them.
	reqCtx, cancelRequests := context.WithCancel(a.MCP.WithContext(tools.WithTransport(context.WithoutCancel(ctx), "stdio", true), c.session))
	defer cancelRequests()

	notifyDone := make(chan struct{})
	c.notifyDone = notifyDone
	defer close(notifyDone)
	go c.forwardNotifications(notifyDone)

	inputDone := make(chan error, 1)
	go c.readFrom(reqCtx, bufio.NewReaderSize(stdin, 64<<10), inputDone)

	a.Logger.Info("serving MCP on stdio", "version", a.Config.Version, "tools", a.Toolset.Offered())
	var err error
	select {
	case err = <-inputDone:
	case <-ctx.Done():
		a.Logger.Info("SIGTERM: finishing in-flight calls", "timeout", a.Config.ShutdownTimeout)
	}
	c.inflight.stop()
	a.Toolset.BeginShutdown() // a question still open to the person can no longer be answered
	if !c.inflight.wait(a.Config.ShutdownTimeout) {
		a.Logger.Warn("shutdown timeout: cancelling the calls still running", "timeout", a.Config.ShutdownTimeout)
		cancelRequests()
		c.inflight.wait(2 * time.Second)
	}
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) {
		return nil
	}
	return err
}

// stdioConn is one stdio connection: the single client of this process.
type stdioConn struct {
	app      *App
	session  *stdioSession
	inflight inflight

	rmu     sync.Mutex // the turn at the reader
	readErr error      // under rmu: why the input ended
	waiting atomic.Int32

	wmu sync.Mutex
	out io.Writer

	// flush asks the notification forwarder to write everything queued so far, then close
	// the channel it was given: a call's progress is written before the call's answer.
	flush chan chan struct{}
	// notifyDone closes when the forwarder stops.
	notifyDone chan struct{}
}

// readFrom reads one message per line. A request is answered by the goroutine that read it,
// once another goroutine has taken over the reader (leader/follower): the request never waits
// for a thread to wake up. The goroutines are kept and take turns at the reader, so their
// stacks, grown by the first requests, need not grow again on every call. Notifications and
// the client's answers to our own requests are quick and handled at the reader.
func (c *stdioConn) readFrom(ctx context.Context, r *bufio.Reader, done chan<- error) {
	for {
		c.waiting.Add(1)
		c.rmu.Lock()
		c.waiting.Add(-1)
		if c.readErr != nil { // the input ended while this goroutine waited for its turn
			c.rmu.Unlock()
			return
		}
		line, tooLong, err := readLine(r, c.app.Config.MaxBodyBytes)
		if err != nil {
			c.readErr = err
		}
		request := false
		if tooLong {
			_ = c.write(mcp.NewJSONRPCError(mcp.NewRequestId(nil), mcp.INVALID_REQUEST,
				fmt.Sprintf("message larger than %d bytes (--max-body-bytes): skipped unread", c.app.Config.MaxBodyBytes), nil))
		} else if len(line) > 0 && !c.inflight.stopped() {
			switch m, refusal := checkMessage(line); {
			case refusal != nil:
				_ = c.write(refusal)
			case m.isResponse():
				c.session.deliver(m)
			case m.isRequest() && m.Method == string(mcp.MethodInitialize):
				// Answered at the reader, like notifications: a request piped right behind it
				// (echo initialize; echo tools/call) then finds the handshake done.
				c.answer(ctx, m, boundClientText(line))
			case m.isRequest():
				if refusal := c.beforeInitialize(m, line); refusal != nil {
					_ = c.write(refusal)
					break
				}
				ok, busy := c.inflight.begin()
				if busy {
					_ = c.write(mcp.NewJSONRPCError(mcp.NewRequestId(m.ID), errCodeBusy, fmt.Sprintf(
						"server busy: %d requests are already being answered on this connection; send this one again once some answers are in", stdioMaxInFlight), nil))
				}
				if request = ok; request {
					if err == nil && c.waiting.Load() == 0 {
						go c.readFrom(ctx, r, done) // someone must read the next line
					}
					c.rmu.Unlock()
					c.answer(ctx, m, boundClientText(line))
					c.inflight.end()
				}
			case isBlank(line):
			default: // a notification (no answer) or a message mcp-go answers with a JSON-RPC error
				c.answer(ctx, m, boundClientText(line))
			}
		}
		if !request {
			c.rmu.Unlock()
		}
		if err != nil {
			done <- err
			return
		}
	}
}

// beforeInitialize refuses a request that comes before initialize, other than ping, on the
// protocols that have the handshake: "The client SHOULD NOT send requests other than pings
// before the server has responded to the initialize request" (MCP 2025-11-25, Lifecycle),
// and a tools/call that ran then would act before the client said who it is. A request that
// declares protocol 2026-07-28 in _meta has no handshake to wait for: that revision requires
// io.modelcontextprotocol/protocolVersion and io.modelcontextprotocol/clientCapabilities in
// every request's _meta (MCP 2026-07-28, Base Protocol: _meta), and mcp-go answers a request
// missing the capabilities with -32602.
func (c *stdioConn) beforeInitialize(m rpcShape, line []byte) *mcp.JSONRPCError {
	if c.session.handshake.Load() || m.Method == string(mcp.MethodInitialize) || m.Method == string(mcp.MethodPing) {
		return nil
	}
	if mcp.IsModernProtocol(protocolOf(line)) {
		return nil
	}
	e := mcp.NewJSONRPCError(mcp.NewRequestId(m.ID), mcp.INVALID_REQUEST, fmt.Sprintf(
		"%s before initialize: send initialize first (protocol 2025-11-25 and earlier), or carry io.modelcontextprotocol/protocolVersion \"2026-07-28\" and io.modelcontextprotocol/clientCapabilities in params._meta", clipHeader(m.Method)), nil)
	return &e
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

// answer runs one message through the MCP server and writes its response, if any.
func (c *stdioConn) answer(ctx context.Context, m rpcShape, line []byte) {
	id := m.ID
	defer func() {
		if p := recover(); p != nil {
			c.app.Logger.Error("panic while answering a stdio message", "panic", fmt.Sprint(p))
			if len(id) > 0 {
				_ = c.write(mcp.NewJSONRPCError(mcp.NewRequestId(id), mcp.INTERNAL_ERROR, "internal error", nil))
			}
		}
	}()
	if resp := c.app.MCP.HandleMessage(ctx, line); resp != nil {
		c.flushNotifications()
		if _, ok := resp.(mcp.JSONRPCResponse); ok && m.Method == string(mcp.MethodInitialize) {
			c.session.handshake.Store(true)
		}
		if err := c.write(withID(resp, id)); err != nil { // the id exactly as sent: mcp-go rounds large numbers
			c.app.Logger.Error("writing to stdout", "err", err)
		}
	}
}

// write sends one JSON-RPC message as one line, in one write: stdout carries nothing else.
func (c *stdioConn) write(msg any) error {
	b, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err = c.out.Write(b)
	return err
}

// forwardNotifications writes what mcp-go queues for the client (log messages, list changes,
// progress), one at a time, in order.
func (c *stdioConn) forwardNotifications(done <-chan struct{}) {
	send := func(n mcp.JSONRPCNotification) {
		if err := c.write(n); err != nil {
			c.app.Logger.Error("writing a notification to stdout", "err", err)
		}
	}
	for {
		select {
		case n := <-c.session.notifications:
			send(n)
		case flushed := <-c.flush:
			for drained := false; !drained; {
				select {
				case n := <-c.session.notifications:
					send(n)
				default:
					drained = true
				}
			}
			close(flushed)
		case <-done:
			return
		}
	}
}

// flushNotifications returns once every notification queued before it was called is written:
// a handler's progress notifications were queued before it returned, so they precede its
// answer on stdout (the client drops progress that arrives after the answer).
func (c *stdioConn) flushNotifications() {
	if c.flush == nil || c.notifyDone == nil {
		return
	}
	flushed := make(chan struct{})
	select {
	case c.flush <- flushed:
		<-flushed
	case <-c.notifyDone:
	}
}

// rpcShape is just enough of a JSON-RPC message to route it.
type rpcShape struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func peekMessage(line []byte) rpcShape {
	var m rpcShape
	_ = json.Unmarshal(line, &m)
	return m
}

func (m rpcShape) hasID() bool { return len(m.ID) > 0 && string(m.ID) != "null" }

func (m rpcShape) isRequest() bool { return m.Method != "" && m.hasID() }

func (m rpcShape) isResponse() bool {
	return m.Method == "" && m.hasID() && (m.Result != nil || m.Error != nil)
}

func isBlank(line []byte) bool {
	for _, b := range line {
		if b != ' ' && b != '\t' && b != '\r' && b != '\n' {
			return false
		}
	}
	return true
}

// inflight counts requests being answered; once stopped, no new request begins.
type inflight struct {
	mu      sync.Mutex
	n       int
	closed  bool
	drained chan struct{} // closed when stopped and nothing is in flight
}

// stdioMaxInFlight bounds the requests answered at once: each holds a goroutine and perhaps a
// request to Tallyfy, and a client that writes without reading must not make them unbounded.
var stdioMaxInFlight = 256

// errCodeBusy is the JSON-RPC error (implementation-defined range) for a request refused
// because too many are in flight.
const errCodeBusy = -32000

// begin counts a request in, unless the input is stopped or stdioMaxInFlight are in flight.
func (f *inflight) begin() (ok, busy bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false, false
	}
	if f.n >= stdioMaxInFlight {
		return false, true
	}
	f.n++
	return true, false
}

func (f *inflight) end() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n--
	if f.closed && f.n == 0 && f.drained != nil {
		close(f.drained)
		f.drained = nil
	}
}

func (f *inflight) stopped() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closed
}

func (f *inflight) stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.closed {
		f.closed = true
		f.drained = make(chan struct{})
		if f.n == 0 {
			close(f.drained)
			f.drained = nil
		}
	}
}

// wait reports whether every request in flight was answered within timeout (after stop).
func (f *inflight) wait(timeout time.Duration) bool {
	f.mu.Lock()
	ch := f.drained
	f.mu.Unlock()
	if ch == nil {
		return true
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
		return false
	}
}
