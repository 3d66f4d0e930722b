package testkit

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tallyfy-mcp/tallyfy-mcp/internal/harness"
)

// Era is an MCP protocol era a client negotiates.
type Era struct {
	Name    string
	Version string // "" = the client's default (2026-07-28)
}

var (
	// Legacy is the 2025-11-25 session-based protocol.
	Legacy = Era{"legacy", mcp.ProtocolVersion20251125}
	// Modern is the client's default, the 2026-07-28 stateless protocol.
	Modern = Era{"modern", ""}
	// Eras is every era the server serves.
	Eras = []Era{Legacy, Modern}
)

// The transports, named as the audit log names them.
const (
	Stdio      = "stdio"
	Streamable = "streamable-http"
	SSE        = "sse"
)

// Kinds is every transport.
var Kinds = []string{Stdio, Streamable, SSE}

// ClientOpts says how a client connects.
type ClientOpts struct {
	Era     Era
	Headers map[string]string
	Elicit  client.ElicitationHandler
	HTTP    *http.Client // nil = the transport's default
}

// Quiet silences the clients' own logs (a stream ending at shutdown is expected there).
var Quiet = slog.New(slog.DiscardHandler)

// ConnectHTTP opens and initializes an mcp-go client on /mcp or /sse of baseURL.
func ConnectHTTP(t testing.TB, kind, baseURL string, o ClientOpts) *client.Client {
	t.Helper()
	c, err := DialHTTP(kind, baseURL, o)
	if err != nil {
		t.Fatalf("connecting over %s (%s): %v", kind, o.Era.Name, err)
	}
	return c
}

// DialHTTP is ConnectHTTP returning the error.
func DialHTTP(kind, baseURL string, o ClientOpts) (*client.Client, error) {
	var tr transport.Interface
	var err error
	switch kind {
	case Streamable:
		opts := []transport.StreamableHTTPCOption{transport.WithHTTPHeaders(o.Headers), transport.WithHTTPLogger(Quiet)}
		if o.HTTP != nil {
			opts = append(opts, transport.WithHTTPBasicClient(o.HTTP))
		}
		tr, err = transport.NewStreamableHTTP(baseURL+"/mcp", opts...)
	case SSE:
		opts := []transport.ClientOption{transport.WithHeaders(o.Headers), transport.WithSSELogger(Quiet)}
		if o.HTTP != nil {
			opts = append(opts, transport.WithHTTPClient(o.HTTP))
		}
		tr, err = transport.NewSSE(baseURL+"/sse", opts...)
	default:
		err = fmt.Errorf("unknown transport %q", kind)
	}
	if err != nil {
		return nil, err
	}
	return initialize(tr, o)
}

// ConnectStdio starts the binary internal/harness built, with args and a clean environment
// plus env ("K=V" entries), and initializes a client on its pipes.
func ConnectStdio(t testing.TB, env []string, args []string, o ClientOpts) *client.Client {
	t.Helper()
	stderr := &harness.Buffer{}
	tr := harness.StdioTransport(harness.MinimalEnv(t, env...), args, stderr)
	c, err := initialize(tr, o)
	if err != nil {
		t.Fatalf("starting the binary (%s): %v\nstderr:\n%s", o.Era.Name, err, stderr.String())
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("binary stderr:\n%s", stderr.String())
		}
	})
	return c
}

func initialize(tr transport.Interface, o ClientOpts) (*client.Client, error) {
	var opts []client.ClientOption
	if o.Era.Version != "" {
		opts = append(opts, client.WithProtocolVersion(o.Era.Version))
	}
	if o.Elicit != nil {
		opts = append(opts, client.WithElicitationHandler(o.Elicit))
	}
	c := client.NewClient(tr, opts...)
	// The Start context governs the SSE stream and the child process: it must outlive the test.
	if err := c.Start(context.Background()); err != nil {
		_ = c.Close()
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req := mcp.InitializeRequest{}
	req.Params.ClientInfo = mcp.Implementation{Name: "server-test", Version: "1"}
	req.Params.ProtocolVersion = o.Era.Version
	if _, err := c.Initialize(ctx, req); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

// ModernClient opens a 2026-07-28 (stateless) streamable HTTP client that declares name and
// sends headers, and fails unless the stateless protocol was negotiated.
func ModernClient(t testing.TB, url, name string, headers map[string]string) *client.Client {
	t.Helper()
	tr, err := transport.NewStreamableHTTP(url+"/mcp", transport.WithHTTPHeaders(headers), transport.WithHTTPLogger(Quiet))
	if err != nil {
		t.Fatal(err)
	}
	c := client.NewClient(tr)
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	req := mcp.InitializeRequest{}
	req.Params.ClientInfo = mcp.Implementation{Name: name, Version: "1"}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if _, err := c.Initialize(ctx, req); err != nil {
		t.Fatalf("initialize %s: %v", name, err)
	}
	if v := c.ProtocolVersion(); v != mcp.LATEST_PROTOCOL_VERSION {
		t.Fatalf("%s negotiated %q, want the stateless %s", name, v, mcp.LATEST_PROTOCOL_VERSION)
	}
	return c
}
