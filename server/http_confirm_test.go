package server

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tallyfy-mcp/tallyfy-mcp/internal/testkit"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
)

// elicitor answers delete confirmations like a person would: with action, typing name.
type elicitor struct {
	action mcp.ElicitationResponseAction
	name   string
	calls  atomic.Int32
	mu     sync.Mutex
	msgs   []string
}

func (e *elicitor) Elicit(_ context.Context, req mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
	e.calls.Add(1)
	e.mu.Lock()
	e.msgs = append(e.msgs, req.Params.Message)
	e.mu.Unlock()
	res := &mcp.ElicitationResult{}
	res.Action = e.action
	if e.action == mcp.ElicitationResponseActionAccept {
		res.Content = map[string]any{"name": e.name}
	}
	return res, nil
}

const archivedTemplateName = "Legacy Expense Report (2023)"

// TestElicitationOverStreamableHTTP: a client that declared elicitation is asked for the name
// and the delete happens in one call, in both protocol eras; a wrong name or a decline
// deletes nothing.
func TestElicitationOverStreamableHTTP(t *testing.T) {
	t.Parallel()
	for _, e := range eras {
		for _, tc := range []struct {
			name    string
			action  mcp.ElicitationResponseAction
			typed   string
			status  string
			deleted bool
		}{
			{"accept", mcp.ElicitationResponseActionAccept, archivedTemplateName, "deleted", true},
			{"wrong name", mcp.ElicitationResponseActionAccept, "Employee Onboarding", "cancelled", false},
			{"decline", mcp.ElicitationResponseActionDecline, "", "cancelled", false},
		} {
			t.Run(e.Name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				f := newFixture(t, fixtureOpts{spy: true}) // --confirm auto
				el := &elicitor{action: tc.action, name: tc.typed}
				c := connectHTTP(t, kindStreamable, f.URL, clientOpts{era: e, elicit: el})
				t.Cleanup(func() { _ = c.Close() })
				res := mustCall(t, ctxT(t, 15*time.Second), c, "delete_template", map[string]any{"template_id": sandbox.IDs.ArchivedTemplate})
				m := structured(t, res)
				if res.IsError || m["status"] != tc.status || m["confirmation"] != "elicitation" {
					t.Fatalf("delete_template: isError=%v status=%v confirmation=%v: %s", res.IsError, m["status"], m["confirmation"], text(res))
				}
				if n := el.calls.Load(); n != 1 {
					t.Fatalf("the person was asked %d times, want 1", n)
				}
				if msg := el.msgs[0]; !strings.Contains(msg, archivedTemplateName) || !strings.Contains(msg, "cannot be undone") {
					t.Fatalf("question %q does not name the template and the consequence", msg)
				}
				_, exists := f.SB.Lookup("template", sandbox.IDs.ArchivedTemplate)
				if exists == tc.deleted {
					t.Fatalf("template exists=%v after %s", exists, tc.name)
				}
			})
		}
	}
}

// TestConfirmOverSSE: SSE cannot carry a question to a legacy client, so --confirm auto falls
// back at once (no hang) to the token flow where the operator allows it (--confirm-allow-token)
// and --confirm elicit refuses clearly; a 2026-07-28
// client gets the question in the result (multi round-trip) even over SSE.
func TestConfirmOverSSE(t *testing.T) {
	t.Parallel()
	args := map[string]any{"template_id": sandbox.IDs.ArchivedTemplate}
	t.Run("auto, legacy: token flow without hanging", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, fixtureOpts{spy: true}, "--confirm", "auto", "--confirm-allow-token")
		el := &elicitor{action: mcp.ElicitationResponseActionAccept, name: archivedTemplateName}
		c := connectHTTP(t, kindSSE, f.URL, clientOpts{era: legacyEra, elicit: el})
		t.Cleanup(func() { _ = c.Close() })
		start := time.Now()
		res := mustCall(t, ctxT(t, 10*time.Second), c, "delete_template", args)
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("the call took %s", d)
		}
		m := structured(t, res)
		if res.IsError || m["status"] != "confirmation_required" || m["confirm_token"] == nil {
			t.Fatalf("want confirmation_required with a token, got %s", text(res))
		}
		if el.calls.Load() != 0 {
			t.Fatal("an elicitation was attempted over SSE")
		}
		args := map[string]any{"template_id": sandbox.IDs.ArchivedTemplate, "confirm_token": m["confirm_token"]}
		res = mustCall(t, ctxT(t, 10*time.Second), c, "delete_template", args)
		if res.IsError || structured(t, res)["status"] != "deleted" {
			t.Fatalf("with the token: %s", text(res))
		}
	})
	t.Run("elicit, legacy: refused", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, fixtureOpts{spy: true}, "--confirm", "elicit")
		el := &elicitor{action: mcp.ElicitationResponseActionAccept, name: archivedTemplateName}
		c := connectHTTP(t, kindSSE, f.URL, clientOpts{era: legacyEra, elicit: el})
		t.Cleanup(func() { _ = c.Close() })
		start := time.Now()
		res := mustCall(t, ctxT(t, 10*time.Second), c, "delete_template", args)
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("the call took %s", d)
		}
		if !res.IsError || !strings.Contains(text(res), "Nothing was deleted") || !strings.Contains(text(res), "--confirm elicit") {
			t.Fatalf("want a clear refusal, got isError=%v %q", res.IsError, text(res))
		}
		if _, ok := f.SB.Lookup("template", sandbox.IDs.ArchivedTemplate); !ok || el.calls.Load() != 0 {
			t.Fatalf("template exists=%v, asked %d times", ok, el.calls.Load())
		}
	})
	t.Run("auto, modern: asked in the result", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, fixtureOpts{spy: true}, "--confirm", "auto")
		el := &elicitor{action: mcp.ElicitationResponseActionAccept, name: archivedTemplateName}
		c := connectHTTP(t, kindSSE, f.URL, clientOpts{era: modernEra, elicit: el})
		t.Cleanup(func() { _ = c.Close() })
		res := mustCall(t, ctxT(t, 10*time.Second), c, "delete_template", args)
		if res.IsError || structured(t, res)["status"] != "deleted" || el.calls.Load() != 1 {
			t.Fatalf("asked %d times: %s", el.calls.Load(), text(res))
		}
	})
}

// TestCancellation: when a streamable-HTTP client gives up on a call while Tallyfy hangs, the
// request to Tallyfy is cancelled promptly; a hung call on one session does not hold up
// another session's calls.
func TestCancellation(t *testing.T) {
	t.Parallel()
	for _, e := range eras {
		t.Run(e.Name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, fixtureOpts{spy: true})
			f.SB.SetFaults(sandbox.Fault{Kind: "hang", PathContains: sandbox.IDs.ActiveRun})
			hung := connectHTTP(t, kindStreamable, f.URL, clientOpts{era: e})
			otherHTTP := connectHTTP(t, kindStreamable, f.URL, clientOpts{era: e})
			otherSSE := connectHTTP(t, kindSSE, f.URL, clientOpts{era: e})
			t.Cleanup(func() { _ = hung.Close(); _ = otherHTTP.Close(); _ = otherSSE.Close() })

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			errc := make(chan error, 1)
			go func() {
				_, err := call(ctx, hung, "get_run", map[string]any{"run_id": sandbox.IDs.ActiveRun})
				errc <- err
			}()
			eventually(t, 5*time.Second, "the call to reach the hung Tallyfy", func() bool { return f.SB.InFlight() == 1 })

			// Other sessions go on.
			for name, c := range map[string]interface {
				CallTool(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error)
			}{"streamable": otherHTTP, "sse": otherSSE} {
				start := time.Now()
				req := mcp.CallToolRequest{}
				req.Params.Name, req.Params.Arguments = "get_run", map[string]any{"run_id": sandbox.IDs.CompleteRun}
				res, err := c.CallTool(ctxT(t, 5*time.Second), req)
				if err != nil || res.IsError {
					t.Fatalf("%s session while another hangs: %v %v", name, err, res)
				}
				if d := time.Since(start); d > time.Second {
					t.Fatalf("%s session took %s while another hangs", name, d)
				}
			}
			if f.SB.InFlight() != 1 {
				t.Fatal("the hung request ended early")
			}

			cancelled := time.Now()
			cancel()
			select {
			case err := <-errc:
				if err == nil || !errors.Is(err, context.Canceled) {
					t.Fatalf("cancelled call: %v", err)
				}
			case <-time.After(2 * time.Second):
				t.Fatal("the cancelled call did not return")
			}
			eventually(t, 2*time.Second, "the request to Tallyfy to be cancelled", func() bool { return f.SB.InFlight() == 0 })
			var got *testkit.SandboxRequest
			for _, r := range f.SB.Done() {
				if strings.Contains(r.Path, sandbox.IDs.ActiveRun) {
					got = &r
				}
			}
			if got == nil || got.CtxErr == nil {
				t.Fatalf("the hung request was not cancelled: %+v", got)
			}
			if d := got.End.Sub(cancelled); d > time.Second {
				t.Fatalf("Tallyfy's request ended %s after the client cancelled", d)
			}
			for _, r := range f.SB.Done() {
				if strings.Contains(r.Path, sandbox.IDs.ActiveRun) && r != *got {
					t.Fatalf("the cancelled call was retried: %+v", r)
				}
			}
		})
	}
}
