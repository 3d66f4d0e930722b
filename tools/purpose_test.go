package tools_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
)

// stateCapture is an in-process transport that keeps every requestState the server sends
// back (the sealed state of a 2026-07-28 elicitation round trip), which the client otherwise
// consumes without showing.
type stateCapture struct {
	*transport.InProcessTransport
	mu     sync.Mutex
	states []string
}

func (s *stateCapture) SendRequest(ctx context.Context, req transport.JSONRPCRequest) (*transport.JSONRPCResponse, error) {
	resp, err := s.InProcessTransport.SendRequest(ctx, req)
	if err == nil && resp != nil && resp.Result != nil {
		var r struct {
			RequestState string `json:"requestState"`
		}
		if json.Unmarshal(resp.Result, &r) == nil && r.RequestState != "" {
			s.mu.Lock()
			s.states = append(s.states, r.RequestState)
			s.mu.Unlock()
		}
	}
	return resp, err
}

// TestElicitationStateIsNotAConfirmToken: the sealed state of an elicitation (the person was
// asked, and declined) has the same shape as a confirm_token and is bound to the same org,
// tool, item, session and caller; only its purpose differs. Sent back as a confirm_token it
// must be refused, or an agent could delete what the person was only asked about.
func TestElicitationStateIsNotAConfirmToken(t *testing.T) {
	t.Parallel()
	for _, k := range kinds {
		t.Run(k.kind, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, withConfirm(tools.ConfirmAuto))
			capture := &stateCapture{InProcessTransport: transport.NewInProcessTransport(h.srv)}
			e := &elicitor{answer: func(context.Context, mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
				return &mcp.ElicitationResult{ElicitationResponse: mcp.ElicitationResponse{Action: mcp.ElicitationResponseActionDecline}}, nil
			}}
			c := client.NewClient(capture, client.WithElicitationHandler(e))
			t.Cleanup(func() { _ = c.Close() })
			if err := c.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			init := mcp.InitializeRequest{}
			init.Params.ClientInfo = mcp.Implementation{Name: testClientName, Version: testClientVersion}
			if _, err := c.Initialize(context.Background(), init); err != nil {
				t.Fatal(err)
			}
			r := h.callWith(c, k.del, map[string]any{k.idArg: k.archived})
			if r.err != nil || !strings.Contains(r.text, "declined") {
				t.Fatalf("the person's decline: err=%v %s", r.err, r.text)
			}
			capture.mu.Lock()
			states := capture.states
			capture.mu.Unlock()
			if len(states) != 1 || !strings.HasPrefix(states[0], "tcf1.") {
				t.Fatalf("captured request states %q: want one sealed state", states)
			}
			r = h.callWith(c, k.del, map[string]any{k.idArg: k.archived, "confirm_token": states[0]})
			r.failed(t, "Nothing was deleted", "different item, tool, organization, session or caller")
			if h.gone(k.kind, k.archived) || h.deleteCount() != 0 {
				t.Fatal("an elicitation's state deleted the item as a confirm_token")
			}
		})
	}
}
