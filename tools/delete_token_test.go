package tools_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tallyfy-mcp/tallyfy-mcp/schemas"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
)

// deleteCount is how many permanent-delete requests the sandbox has seen.
func (h *harness) deleteCount() int {
	n := 0
	for _, l := range h.sb.RequestLog() {
		if strings.HasPrefix(l, "DELETE ") && strings.HasSuffix(l, "/delete") {
			n++
		}
	}
	return n
}

// askToken makes the first call of the token flow and checks its answer.
func askToken(t *testing.T, h *harness, k kindInfo, id string) schemas.DeleteResult {
	t.Helper()
	rec := h.lookup(k.kind, id)
	r := h.call(k.del, map[string]any{k.idArg: id}).ok(t)
	res := decode[schemas.DeleteResult](t, r)
	if res.Status != "confirmation_required" || res.Reversible || res.Confirmation != "token" {
		t.Fatalf("first call: %+v", res)
	}
	pv := res.Preview
	if pv == nil || pv.Name != rec.Name || pv.ID != id || pv.Type != k.kind || pv.State != "archived" || pv.Destroys == "" || (k.kind == "run" && pv.ArchivedAt == "") {
		t.Errorf("preview: %+v, sandbox %+v", pv, rec)
	}
	if !strings.HasPrefix(res.ConfirmToken, "tcf1.") {
		t.Errorf("confirm_token %q", res.ConfirmToken)
	}
	exp, err := time.Parse(time.RFC3339, res.ExpiresAt)
	if err != nil {
		t.Fatalf("expires_at %q: %v", res.ExpiresAt, err)
	}
	if d := exp.Sub(h.clock.Now()); d < 4*time.Minute+50*time.Second || d > 5*time.Minute+time.Second {
		t.Errorf("expires_at is %s ahead, want about 5 min", d)
	}
	contains(t, "first-call text", r.text, rec.Name, "cannot be undone", "Nothing deleted yet", res.ConfirmToken, pv.Destroys)
	if h.gone(k.kind, id) || h.deleteCount() != 0 {
		t.Fatal("the first call deleted something")
	}
	return res
}

func TestTokenFlowDeletes(t *testing.T) {
	t.Parallel()
	// In auto mode a client without an elicitation handler falls back to the token.
	perKindInModes(t, []tools.ConfirmMode{tools.ConfirmToken, tools.ConfirmAuto}, func(t *testing.T, h *harness, k kindInfo, mode tools.ConfirmMode) {
		name := h.lookup(k.kind, k.archived).Name
		first := askToken(t, h, k, k.archived)
		r := h.call(k.del, map[string]any{k.idArg: k.archived, "confirm_token": first.ConfirmToken}).ok(t)
		res := decode[schemas.DeleteResult](t, r)
		if res.Status != "deleted" || res.Reversible || res.Confirmation != "token" || res.Resource.State != "deleted" ||
			res.Resource.ID != k.archived || res.Resource.Name != name || res.ConfirmToken != "" {
			t.Errorf("second call: %+v", res)
		}
		contains(t, "text", r.text, name, "permanently deleted", "cannot be undone")
		if !h.gone(k.kind, k.archived) {
			t.Error("sandbox: still there")
		}
		if n := h.deleteCount(); n != 1 {
			t.Errorf("%d delete requests, want 1", n)
		}
		recs := h.audit.outcomes()
		if len(recs) != 2 || recs[0].Outcome != "confirmation_required" || recs[1].Outcome != "ok" ||
			recs[1].Confirmation != "token" || recs[1].ConfirmMode != string(mode) {
			t.Errorf("audit: %+v", recs)
		}
	})
}

// refused asserts a token refusal: isError naming why, nothing deleted, no delete request.
func refused(t *testing.T, h *harness, k kindInfo, id, token string, why ...string) result {
	t.Helper()
	before := h.deleteCount()
	r := h.call(k.del, map[string]any{k.idArg: id, "confirm_token": token}).failed(t, append(why, "Nothing was deleted")...)
	if h.gone(k.kind, id) {
		t.Fatalf("%s %s was deleted", k.kind, id)
	}
	if h.deleteCount() != before {
		t.Errorf("a delete request was sent")
	}
	return r
}

func flip(s string, i int) string {
	b := []byte(s)
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

func TestTokenRefusals(t *testing.T) {
	t.Parallel()
	run := kinds[1]
	forEachProtocol(t, func(t *testing.T, p protocol) {
		h := newHarness(t, withProto(p), withMaxTries(1))
		h.run(t, "tampered payload", func(t *testing.T) {
			tok := askToken(t, h, run, run.archived).ConfirmToken
			refused(t, h, run, run.archived, flip(tok, len("tcf1.")+10), "altered")
		})
		h.run(t, "tampered mac", func(t *testing.T) {
			tok := askToken(t, h, run, run.archived).ConfirmToken
			refused(t, h, run, run.archived, flip(tok, len(tok)-3), "altered")
			// The genuine token still works afterwards: a forgery does not burn it.
			h.call(run.del, map[string]any{run.idArg: run.archived, "confirm_token": tok}).ok(t)
			if !h.gone(run.kind, run.archived) {
				t.Error("genuine token did not delete")
			}
		})
		h.run(t, "garbage", func(t *testing.T) {
			for _, g := range []string{"yes", "tcf1.", "tcf1.abc", "confirmed by the user", strings.Repeat("z", 1024)} {
				refused(t, h, run, run.archived, g, "not a token this server issued", "new preview")
			}
			// Well-formed but not sealed by this server.
			for _, g := range []string{"tcf1.abc.def", "tcf1.bm90IGpzb24.AAAA"} {
				refused(t, h, run, run.archived, g, "altered", "new preview")
			}
		})
		h.run(t, "expired", func(t *testing.T) {
			tok := askToken(t, h, run, run.archived).ConfirmToken
			h.clock.Advance(5*time.Minute + time.Second)
			refused(t, h, run, run.archived, tok, "expired", run.del)
		})
		h.run(t, "still valid just before expiry", func(t *testing.T) {
			tok := askToken(t, h, run, run.archived).ConfirmToken
			h.clock.Advance(4*time.Minute + 50*time.Second)
			h.call(run.del, map[string]any{run.idArg: run.archived, "confirm_token": tok}).ok(t)
			if !h.gone(run.kind, run.archived) {
				t.Error("not deleted")
			}
		})
		h.run(t, "replayed", func(t *testing.T) {
			tok := askToken(t, h, run, run.archived).ConfirmToken
			// First use: Tallyfy fails before doing anything, so the item survives.
			h.sb.SetFaults(sandbox.Fault{Kind: "500", Method: "DELETE", PathContains: "/delete", Times: 1})
			h.call(run.del, map[string]any{run.idArg: run.archived, "confirm_token": tok}).failed(t, "still there")
			if h.gone(run.kind, run.archived) {
				t.Fatal("deleted despite the 500")
			}
			// Second use of the same token.
			refused(t, h, run, run.archived, tok, "already used")
		})
		h.run(t, "another item", func(t *testing.T) {
			other := sandbox.IDs.CompleteRun
			if _, err := h.api().Archive(context.Background(), tallyfy.KindRun, other); err != nil {
				t.Fatal(err)
			}
			tok := askToken(t, h, run, run.archived).ConfirmToken
			refused(t, h, run, other, tok, "different item")
		})
		h.run(t, "another tool", func(t *testing.T) {
			tok := askToken(t, h, run, run.archived).ConfirmToken
			tpl := kinds[2]
			refused(t, h, tpl, tpl.archived, tok, "different item, tool")
			// and the task tool, with the run's own ID (valid hex, wrong kind: 404 first).
			task := kinds[0]
			refused(t, h, task, task.archived, tok, "different")
		})
		h.run(t, "another server instance", func(t *testing.T) {
			h2 := newHarness(t, withProto(p)) // same seed IDs, its own key
			tok := askToken(t, h2, run, run.archived).ConfirmToken
			refused(t, h, run, run.archived, tok, "another server process")
		})
		h.run(t, "another session", func(t *testing.T) {
			tok := askToken(t, h, run, run.archived).ConfirmToken
			c2 := h.connect(p.version, nil, "other-client")
			before := h.deleteCount()
			h.callWith(c2, run.del, map[string]any{run.idArg: run.archived, "confirm_token": tok}).failed(t, "different", "session", "Nothing was deleted")
			if h.gone(run.kind, run.archived) || h.deleteCount() != before {
				t.Fatal("deleted from another session")
			}
		})
		h.run(t, "changed between the calls", func(t *testing.T) {
			for _, k := range kinds {
				h.reset()
				tok := askToken(t, h, k, k.archived).ConfirmToken
				before := h.lookup(k.kind, k.archived)
				if err := h.touchArchived(context.Background(), k); err != nil {
					t.Fatal(err)
				}
				if after := h.lookup(k.kind, k.archived); !after.Archived || after.LastUpdated == before.LastUpdated {
					t.Fatalf("setup: %+v then %+v", before, after)
				}
				refused(t, h, k, k.archived, tok, "changed since the confirmation", "fresh preview")
				// A fresh round works.
				tok = askToken(t, h, k, k.archived).ConfirmToken
				h.call(k.del, map[string]any{k.idArg: k.archived, "confirm_token": tok}).ok(t)
				if !h.gone(k.kind, k.archived) {
					t.Errorf("%s: fresh token did not delete", k.kind)
				}
			}
		})
		h.run(t, "restored between the calls", func(t *testing.T) {
			tok := askToken(t, h, run, run.archived).ConfirmToken
			if _, err := h.api().Restore(context.Background(), tallyfy.KindRun, run.archived); err != nil {
				t.Fatal(err)
			}
			before := h.deleteCount()
			h.call(run.del, map[string]any{run.idArg: run.archived, "confirm_token": tok}).failed(t, "archive it first")
			if h.gone(run.kind, run.archived) || h.deleteCount() != before {
				t.Fatal("deleted a restored run")
			}
		})
		h.run(t, "token in elicit mode", func(t *testing.T) {
			tok := askToken(t, h, run, run.archived).ConfirmToken
			he := newHarness(t, withProto(p), withConfirm(tools.ConfirmElicit))
			refused(t, he, run, run.archived, tok, "only from the person")
		})
	})
}

// TestTokenNeverCarriesTheAccessToken: the confirm_token is sealed, not encrypted; it must not
// hold anything secret.
func TestTokenNeverCarriesTheAccessToken(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	tok := askToken(t, h, kinds[1], kinds[1].archived).ConfirmToken
	for _, secret := range []string{sandbox.AdminToken, "Bearer"} {
		if strings.Contains(tok, secret) {
			t.Errorf("token holds %q", secret)
		}
	}
	if _, err := tallyfy.New(tallyfy.Config{BaseURL: h.url, Token: tok, OrgID: sandbox.OrgID}); err != nil {
		t.Fatal(err)
	}
	for _, rec := range h.audit.all() {
		if strings.Contains(rec.Detail, tok) || strings.Contains(rec.Detail, sandbox.AdminToken) {
			t.Errorf("audit record holds a token: %+v", rec)
		}
	}
}
