package server

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/tallyfy-mcp/tallyfy-mcp/internal/logsafe"
)

// stdioSession is the MCP session of the stdio connection: what the client said at initialize,
// its log level, and the questions (elicitation requests) the server has sent it and awaits.
type stdioSession struct {
	notifications chan mcp.JSONRPCNotification
	send          func(msg any) error
	initialized   atomic.Bool // mcp-go's flag: also set by any 2026-07-28 request
	handshake     atomic.Bool // initialize answered without error (see stdioConn.beforeInitialize)
	nextID        atomic.Int64

	mu           sync.Mutex
	clientInfo   mcp.Implementation
	capabilities mcp.ClientCapabilities
	protocol     string
	logLevel     mcp.LoggingLevel
	pending      map[string]chan rpcShape // by the JSON text of the request id
}

var (
	_ mcpserver.SessionWithClientInfo      = (*stdioSession)(nil)
	_ mcpserver.SessionWithElicitation     = (*stdioSession)(nil)
	_ mcpserver.SessionWithLogging         = (*stdioSession)(nil)
	_ mcpserver.SessionWithProtocolVersion = (*stdioSession)(nil)
)

func newStdioSession() *stdioSession {
	return &stdioSession{notifications: make(chan mcp.JSONRPCNotification, 100), logLevel: mcp.LoggingLevelError, pending: map[string]chan rpcShape{}}
}

func (s *stdioSession) SessionID() string { return "stdio" }

func (s *stdioSession) NotificationChannel() chan<- mcp.JSONRPCNotification { return s.notifications }

func (s *stdioSession) Initialize() { s.initialized.Store(true) }

func (s *stdioSession) Initialized() bool { return s.initialized.Load() }

func (s *stdioSession) GetClientInfo() mcp.Implementation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.clientInfo
}

// SetClientInfo keeps what the client says it is, clipped: the name and version go into every
// audit record, and a client must not be able to make those megabytes.
func (s *stdioSession) SetClientInfo(info mcp.Implementation) {
	info.Name = logsafe.Clip(info.Name, logsafe.ClientTextMax)
	info.Version = logsafe.Clip(info.Version, logsafe.ClientTextMax)
	info.Title = logsafe.Clip(info.Title, logsafe.ClientTextMax)
	info.Description = logsafe.Clip(info.Description, logsafe.ClientTextMax)
	info.WebsiteURL = logsafe.Clip(info.WebsiteURL, logsafe.ClientTextMax)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clientInfo = info
}

func (s *stdioSession) GetClientCapabilities() mcp.ClientCapabilities {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.capabilities
}

func (s *stdioSession) SetClientCapabilities(c mcp.ClientCapabilities) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.capabilities = c
}

func (s *stdioSession) ProtocolVersion() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.protocol
}

func (s *stdioSession) SetProtocolVersion(v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.protocol = v
}

func (s *stdioSession) SetLogLevel(l mcp.LoggingLevel) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logLevel = l
}

func (s *stdioSession) GetLogLevel() mcp.LoggingLevel {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logLevel
}

// RequestElicitation asks the client (elicitation/create) and waits for its answer or ctx.
func (s *stdioSession) RequestElicitation(ctx context.Context, req mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
	id := s.nextID.Add(1)
	key := strconv.FormatInt(id, 10)
	answer := make(chan rpcShape, 1)
	s.mu.Lock()
	s.pending[key] = answer
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.pending, key)
		s.mu.Unlock()
	}()
	err := s.send(struct {
		JSONRPC string                `json:"jsonrpc"`
		ID      int64                 `json:"id"`
		Method  mcp.MCPMethod         `json:"method"`
		Params  mcp.ElicitationParams `json:"params"`
	}{mcp.JSONRPC_VERSION, id, mcp.MethodElicitationCreate, req.Params})
	if err != nil {
		return nil, fmt.Errorf("sending the elicitation request: %w", err)
	}
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case m := <-answer:
		if m.Error != nil {
			return nil, fmt.Errorf("elicitation request failed: %s", m.Error.Message)
		}
		var res mcp.ElicitationResult
		if err := json.Unmarshal(m.Result, &res); err != nil {
			return nil, fmt.Errorf("reading the elicitation answer: %w", err)
		}
		return &res, nil
	}
}

// deliver hands the client's answer to the request waiting for it; an answer nobody awaits
// (late, or never asked) is dropped.
func (s *stdioSession) deliver(m rpcShape) {
	key := string(m.ID)
	if k, err := strconv.Unquote(key); err == nil { // a client that echoes the id as a string
		key = k
	}
	s.mu.Lock()
	ch := s.pending[key]
	s.mu.Unlock()
	if ch != nil {
		select {
		case ch <- m:
		default:
		}
	}
}
