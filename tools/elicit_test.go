package tools_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tallyfy-mcp/tallyfy-mcp/schemas"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
)

// elicitor is a client's elicitation handler that records what it was asked and answers
// with answer.
type elicitor struct {
	mu     sync.Mutex
	asked  []mcp.ElicitationRequest
	answer func(ctx context.Context, req mcp.ElicitationRequest) (*mcp.ElicitationResult, error)
}

func (e *elicitor) Elicit(ctx context.Context, req mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
	e.mu.Lock()
	e.asked = append(e.asked, req)
	answer := e.answer
	e.mu.Unlock()
	return answer(ctx, req)
}

// set installs the next answer and forgets earlier questions.
func (e *elicitor) set(answer func(context.Context, mcp.ElicitationRequest) (*mcp.ElicitationResult, error)) {
	e.mu.Lock()
	e.answer, e.asked = answer, nil
	e.mu.Unlock()
}

func (e *elicitor) requests() []mcp.ElicitationRequest {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]mcp.ElicitationRequest(nil), e.asked...)
}

func reply(action mcp.ElicitationResponseAction, content any) *mcp.ElicitationResult {
	return &mcp.ElicitationResult{ElicitationResponse: mcp.ElicitationResponse{Action: action, Content: content}}
}

func accept(name string) func(context.Context, mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
	return func(context.Context, mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
		return reply(mcp.ElicitationResponseActionAccept, map[string]any{"name": name}), nil
	}
}

var elicitModes = []tools.ConfirmMode{tools.ConfirmAuto, tools.ConfirmElicit}

// elicitMatrix runs f for both elicitation modes at both protocols, on the run kind and
// (for the happy path) every kind.
func elicitMatrix(t *testing.T, f func(t *testing.T, p protocol, mode tools.ConfirmMode)) {
	t.Helper()
	for _, mode := range elicitModes {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			forEachProtocol(t, func(t *testing.T, p protocol) { f(t, p, mode) })
		})
	}
}

// newElicitHarness builds a harness whose client answers elicitations with the elicitor it
// returns (set its answer before a call).
func newElicitHarness(t *testing.T, p protocol, mode tools.ConfirmMode, opts ...option) (*harness, *elicitor) {
	t.Helper()
	e := &elicitor{}
	return newHarness(t, append([]option{withProto(p), withConfirm(mode), withElicit(e)}, opts...)...), e
}

// checkQuestion asserts the person was asked exactly once, about this item, in words.
func checkQuestion(t *testing.T, e *elicitor, name, id string) {
	t.Helper()
	reqs := e.requests()
	if len(reqs) != 1 {
		t.Fatalf("asked %d times, want once", len(reqs))
	}
	msg := reqs[0].Params.Message
	contains(t, "elicitation message", msg, name, id, "cannot be undone", "To confirm, type")
	schema, _ := json.Marshal(reqs[0].Params.RequestedSchema)
	contains(t, "requested schema", string(schema), `"name"`, `"required":["name"]`, `"type":"object"`)
}

func TestElicitationAcceptDeletes(t *testing.T) {
	t.Parallel()
	elicitMatrix(t, func(t *testing.T, p protocol, mode tools.ConfirmMode) {
		h, e := newElicitHarness(t, p, mode)
		for _, k := range kinds {
			for _, variant := range []string{"exact", "case and spaces"} {
				h.reset()
				name := h.lookup(k.kind, k.archived).Name
				typed := name
				if variant != "exact" {
					typed = "  " + strings.ToUpper(name) + " \t"
				}
				e.set(accept(typed))
				r := h.call(k.del, map[string]any{k.idArg: k.archived}).ok(t)
				res := decode[schemas.DeleteResult](t, r)
				if res.Status != "deleted" || res.Confirmation != "elicitation" || res.Resource.State != "deleted" || res.Resource.Name != name {
					t.Errorf("%s %s: %+v", k.kind, variant, res)
				}
				contains(t, "text", r.text, name, "permanently deleted")
				if !h.gone(k.kind, k.archived) {
					t.Errorf("%s %s: still in the sandbox", k.kind, variant)
				}
				if n := h.deleteCount(); n != 1 {
					t.Errorf("%d delete requests", n)
				}
				checkQuestion(t, e, name, k.archived)
				recs := h.audit.decisions()
				if len(recs) != 1 || recs[0].Outcome != "ok" || recs[0].Confirmation != "elicitation" || recs[0].ResourceName != name {
					t.Errorf("audit: %+v", recs)
				}
				// 2026-07-28: the ask is a call of its own and is audited too.
				if all := h.audit.outcomes(); p.version == "" && (len(all) != 2 || all[0].Outcome != "confirmation_required" || all[0].ResourceName != name) {
					t.Errorf("modern ask not audited: %+v", all)
				}
			}
		}
	})
}

func TestElicitationRefusalsDeleteNothing(t *testing.T) {
	t.Parallel()
	k := kinds[1]
	cases := []struct {
		name   string
		answer func(string) func(context.Context, mcp.ElicitationRequest) (*mcp.ElicitationResult, error)
		says   []string
	}{
		{"wrong name", func(string) func(context.Context, mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
			return accept("Onboarding - Someone Else")
		}, []string{"did not match", "nothing was deleted"}},
		{"empty name", func(string) func(context.Context, mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
			return accept("")
		}, []string{"did not match", "nothing was deleted"}},
		{"accept without content", func(string) func(context.Context, mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
			return func(context.Context, mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
				return reply(mcp.ElicitationResponseActionAccept, nil), nil
			}
		}, []string{"did not match", "nothing was deleted"}},
		{"name prefix", func(n string) func(context.Context, mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
			return accept(n[:len(n)-3])
		}, []string{"did not match"}},
		{"decline", func(n string) func(context.Context, mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
			return func(context.Context, mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
				return reply(mcp.ElicitationResponseActionDecline, map[string]any{"name": n}), nil
			}
		}, []string{"declined", "nothing was deleted"}},
		{"cancel", func(n string) func(context.Context, mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
			return func(context.Context, mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
				return reply(mcp.ElicitationResponseActionCancel, nil), nil
			}
		}, []string{"dismissed", "nothing was deleted"}},
	}
	elicitMatrix(t, func(t *testing.T, p protocol, mode tools.ConfirmMode) {
		h, e := newElicitHarness(t, p, mode)
		for _, c := range cases {
			h.reset()
			name := h.lookup(k.kind, k.archived).Name
			e.set(c.answer(name))
			r := h.call(k.del, map[string]any{k.idArg: k.archived}).ok(t)
			res := decode[schemas.DeleteResult](t, r)
			if res.Status != "cancelled" || res.Reversible || res.Confirmation != "elicitation" || res.Resource.State != "archived" {
				t.Errorf("%s: %+v", c.name, res)
			}
			for _, s := range c.says {
				if !strings.Contains(strings.ToLower(r.text), strings.ToLower(s)) {
					t.Errorf("%s: text lacks %q: %s", c.name, s, r.text)
				}
			}
			if h.gone(k.kind, k.archived) || h.deleteCount() != 0 {
				t.Fatalf("%s: deleted", c.name)
			}
			checkQuestion(t, e, name, k.archived)
			recs := h.audit.decisions()
			if len(recs) != 1 || recs[0].Outcome != "cancelled" || recs[0].Detail == "" {
				t.Errorf("%s: audit %+v", c.name, recs)
			}
		}
	})
}

func TestElicitationHandlerError(t *testing.T) {
	t.Parallel()
	k := kinds[2]
	elicitMatrix(t, func(t *testing.T, p protocol, mode tools.ConfirmMode) {
		h, e := newElicitHarness(t, p, mode)
		e.set(func(context.Context, mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
			return nil, errors.New("the window was closed")
		})
		r := h.call(k.del, map[string]any{k.idArg: k.archived})
		if p.version != "" {
			// Legacy: the server asked and reports the failure as a cancelled delete.
			res := decode[schemas.DeleteResult](t, r.ok(t))
			if res.Status != "cancelled" || !strings.Contains(r.text, "could not be shown") {
				t.Errorf("%+v", res)
			}
			if recs := h.audit.decisions(); len(recs) != 1 || recs[0].Outcome != "cancelled" {
				t.Errorf("audit %+v", recs)
			}
		} else {
			// 2026-07-28: the client could not fulfil the input request, so it never called
			// back; the server's first round returned input_required and changed nothing.
			if r.err == nil || !strings.Contains(r.err.Error(), "the window was closed") {
				t.Errorf("want the client's own failure, got err=%v text=%s", r.err, r.text)
			}
		}
		if h.gone(k.kind, k.archived) || h.deleteCount() != 0 {
			t.Fatal("deleted")
		}
	})
}

func TestElicitationWithoutCapability(t *testing.T) {
	t.Parallel()
	k := kinds[0]
	forEachProtocol(t, func(t *testing.T, p protocol) {
		// auto falls back to the token only where the operator allows it (--confirm-allow-token);
		// without, it refuses and says which channels would work.
		h := newHarness(t, withProto(p), withConfirm(tools.ConfirmAuto), withAllowToken())
		askToken(t, h, k, k.archived)
		h = newHarness(t, withProto(p), withConfirm(tools.ConfirmAuto))
		h.call(k.del, map[string]any{k.idArg: k.archived}).failed(t, "Nothing was deleted", "neither MCP Apps nor elicitation", "--confirm-allow-token", "approval passphrase")
		if h.gone(k.kind, k.archived) || h.deleteCount() != 0 {
			t.Fatal("deleted without a channel")
		}
		// elicit refuses clearly.
		h = newHarness(t, withProto(p), withConfirm(tools.ConfirmElicit))
		h.call(k.del, map[string]any{k.idArg: k.archived}).failed(t, "Nothing was deleted", "cannot show such a question", "--confirm auto")
		if h.gone(k.kind, k.archived) || h.deleteCount() != 0 {
			t.Fatal("deleted")
		}
		recs := h.audit.outcomes()
		if len(recs) != 1 || recs[0].Outcome != "refused" || recs[0].Confirmation != "" {
			t.Errorf("audit %+v", recs)
		}
	})
}

// TestElicitationTimeout: a person who never answers. Under 2025-11-25 the server itself waits
// and gives up after ElicitTimeout. Under 2026-07-28 the client drives the round trip, so the
// server holds nothing while the person thinks; what it must do is refuse an answer that comes
// back after the sealed request state expired.
func TestElicitationTimeout(t *testing.T) {
	t.Parallel()
	k := kinds[1]
	for _, mode := range elicitModes {
		t.Run(string(mode)+"/legacy waits at most ElicitTimeout", func(t *testing.T) {
			t.Parallel()
			h, e := newElicitHarness(t, protocols[0], mode, withElicitTimeout(300*time.Millisecond))
			e.set(func(ctx context.Context, _ mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
				select {
				case <-ctx.Done():
					return nil, ctx.Err()
				case <-time.After(10 * time.Second):
					return reply(mcp.ElicitationResponseActionAccept, map[string]any{"name": "Onboarding - Sam Patel (offer withdrawn)"}), nil
				}
			})
			start := time.Now()
			r := h.call(k.del, map[string]any{k.idArg: k.archived}).ok(t)
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("the call took %s with a 300ms ElicitTimeout", d)
			}
			res := decode[schemas.DeleteResult](t, r)
			if res.Status != "cancelled" || !strings.Contains(r.text, "nobody answered within 300ms") {
				t.Errorf("%+v", res)
			}
			if h.gone(k.kind, k.archived) || h.deleteCount() != 0 {
				t.Fatal("deleted")
			}
			if recs := h.audit.decisions(); len(recs) != 1 || recs[0].Outcome != "cancelled" {
				t.Errorf("audit %+v", recs)
			}
		})
		for _, p := range protocols {
			t.Run(string(mode)+"/"+p.name+"/late answer is refused", func(t *testing.T) {
				t.Parallel()
				h, e := newElicitHarness(t, p, mode, withElicitTimeout(300*time.Millisecond))
				name := h.lookup(k.kind, k.archived).Name
				e.answer = func(ctx context.Context, req mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
					h.clock.Advance(2 * time.Minute) // the person took far longer than allowed
					return accept(name)(ctx, req)
				}
				h.call(k.del, map[string]any{k.idArg: k.archived}).failed(t, "Nothing was deleted", "could not be verified", "expired")
				if h.gone(k.kind, k.archived) || h.deleteCount() != 0 {
					t.Fatal("deleted on a late answer")
				}
			})
		}
	}
}

func TestElicitationItemChangedWhileAsking(t *testing.T) {
	t.Parallel()
	elicitMatrix(t, func(t *testing.T, p protocol, mode tools.ConfirmMode) {
		h, e := newElicitHarness(t, p, mode)
		for _, k := range kinds {
			h.reset()
			name := h.lookup(k.kind, k.archived).Name
			e.set(func(ctx context.Context, req mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
				if err := h.touchArchived(ctx, k); err != nil {
					t.Error(err)
				}
				return accept(name)(ctx, req)
			})
			h.call(k.del, map[string]any{k.idArg: k.archived}).failed(t, "Nothing was deleted", "changed while the person was being asked")
			if h.gone(k.kind, k.archived) || h.deleteCount() != 0 {
				t.Fatalf("%s: deleted after it changed", k.kind)
			}
			if recs := h.audit.decisions(); len(recs) != 1 || recs[0].Outcome != "refused" || recs[0].Detail != "changed since confirmation" {
				t.Errorf("audit %+v", recs)
			}
		}
	})
}

func TestElicitationItemRestoredWhileAsking(t *testing.T) {
	t.Parallel()
	k := kinds[1]
	elicitMatrix(t, func(t *testing.T, p protocol, mode tools.ConfirmMode) {
		h, e := newElicitHarness(t, p, mode)
		name := h.lookup(k.kind, k.archived).Name
		e.answer = func(ctx context.Context, req mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
			if _, err := h.api().Restore(ctx, tallyfy.KindRun, k.archived); err != nil {
				t.Error(err)
			}
			return accept(name)(ctx, req)
		}
		h.call(k.del, map[string]any{k.idArg: k.archived}).failed(t, "Nothing was deleted")
		if h.gone(k.kind, k.archived) || h.deleteCount() != 0 {
			t.Fatal("deleted a live run")
		}
	})
}

func TestConfirmOffDeletesInOneCall(t *testing.T) {
	t.Parallel()
	forEachProtocol(t, func(t *testing.T, p protocol) {
		h, e := newElicitHarness(t, p, tools.ConfirmOff)
		e.set(accept("never asked"))
		h.eachKind(t, func(t *testing.T, h *harness, k kindInfo) {
			r := h.call(k.del, map[string]any{k.idArg: k.archived}).ok(t)
			res := decode[schemas.DeleteResult](t, r)
			if res.Status != "deleted" || res.Confirmation != "off" {
				t.Errorf("%+v", res)
			}
			if !h.gone(k.kind, k.archived) {
				t.Error("not deleted")
			}
			if n := len(e.requests()); n != 0 {
				t.Errorf("asked %d times with --confirm off", n)
			}
			recs := h.audit.outcomes()
			if len(recs) != 1 || recs[0].Confirmation != "off" || recs[0].ConfirmMode != "off" || recs[0].Outcome != "ok" {
				t.Errorf("audit %+v", recs)
			}
		})
	})
}

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
			h := newHarness(t, withConfirm(tools.ConfirmAuto), withAllowToken())
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
