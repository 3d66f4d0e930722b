package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"sync"
	"time"

	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
)

// serveStdio serves JSON-RPC on stdin/stdout. mcp-go's StdioServer cancels every request the
// moment its input ends, so a pipeline that writes its requests and closes stdin would get them
// cancelled or dropped. Here stdin EOF and SIGTERM first stop the input, then every request
// already read is answered (bounded by --shutdown-timeout), and only then does the server stop.
func (a *App) serveStdio(ctx context.Context, stdin io.Reader, stdout io.Writer) error {
	s := mcpserver.NewStdioServer(a.MCP)
	s.SetErrorLogger(slog.NewLogLogger(a.Logger.Handler(), slog.LevelError))
	// More workers than the default 5: a delete waiting for the person holds one.
	mcpserver.WithWorkerPoolSize(16)(s)
	s.SetContextFunc(func(ctx context.Context) context.Context { return tools.WithTransport(ctx, "stdio", true) })

	tr := &rpcTracker{drained: make(chan struct{}, 1)}
	pr, pw := io.Pipe()
	inputDone := make(chan struct{})
	go func() { // copy stdin, counting the requests that will need an answer
		defer close(inputDone)
		r := bufio.NewReaderSize(stdin, 64<<10)
		for {
			line, err := r.ReadBytes('\n')
			if len(line) > 0 {
				if isRequest(line) {
					tr.add(1)
				}
				if _, werr := pw.Write(line); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	go func() { // EOF or SIGTERM: end the input the server sees, once the answers are out
		select {
		case <-inputDone:
		case <-ctx.Done():
			a.Logger.Info("SIGTERM: finishing in-flight calls", "timeout", a.Config.ShutdownTimeout)
		}
		a.Toolset.BeginShutdown() // a question still open to the person can no longer be answered
		tr.wait(a.Config.ShutdownTimeout)
		_ = pw.Close()
	}()

	a.Logger.Info("serving MCP on stdio", "version", a.Config.Version, "tools", len(a.Toolset.Filter(ctx, allTools())))
	err := s.Listen(context.WithoutCancel(ctx), pr, &answerCounter{w: stdout, tr: tr})
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) {
		return nil
	}
	return err
}

// rpcTracker counts requests read and not yet answered.
type rpcTracker struct {
	mu          sync.Mutex
	outstanding int
	drained     chan struct{}
}

func (t *rpcTracker) add(n int) {
	t.mu.Lock()
	t.outstanding += n
	zero := t.outstanding <= 0
	t.mu.Unlock()
	if zero {
		select {
		case t.drained <- struct{}{}:
		default:
		}
	}
}

// wait returns once every request read so far is answered, or after timeout.
func (t *rpcTracker) wait(timeout time.Duration) {
	deadline := time.After(timeout)
	for {
		t.mu.Lock()
		n := t.outstanding
		t.mu.Unlock()
		if n <= 0 {
			return
		}
		select {
		case <-t.drained:
		case <-deadline:
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// rpcShape is just enough of a JSON-RPC message to tell requests from responses.
type rpcShape struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Result json.RawMessage `json:"result"`
	Error  json.RawMessage `json:"error"`
}

func isRequest(line []byte) bool {
	if !bytes.Contains(line, []byte(`"method"`)) {
		return false
	}
	var m rpcShape
	return json.Unmarshal(line, &m) == nil && m.Method != "" && len(m.ID) > 0 && string(m.ID) != "null"
}

// isResponse reads only as far as it must: a response has an id and a result or error and no
// method. It stops at the first decisive key, so a large result is not parsed (hot path).
func isResponse(line []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(line))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return false
	}
	hasID, hasResult := false, false
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return false
		}
		switch key {
		case "method":
			return false
		case "result", "error":
			if hasID {
				return true
			}
			hasResult = true
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return false
		}
		if key == "id" {
			hasID = len(v) > 0 && string(v) != "null"
		}
	}
	return hasID && hasResult
}

// answerCounter passes stdout through and counts the responses written.
type answerCounter struct {
	w   io.Writer
	tr  *rpcTracker
	mu  sync.Mutex
	buf []byte
}

func (c *answerCounter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.mu.Lock()
	c.buf = append(c.buf, p[:n]...)
	answered := 0
	for {
		i := bytes.IndexByte(c.buf, '\n')
		if i < 0 {
			break
		}
		if isResponse(c.buf[:i]) {
			answered++
		}
		c.buf = c.buf[i+1:]
	}
	c.mu.Unlock()
	if answered > 0 {
		c.tr.add(-answered)
	}
	return n, err
}
