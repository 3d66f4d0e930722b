package tools_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/tallyfy-mcp/tallyfy-mcp/schemas"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
)

// TestRolesDecideBeforeThePersonIsAsked: a permanent delete Tallyfy refuses for the caller's
// role (admins only, for processes and templates) is refused before any read, preview or
// question, with the reason, in every confirmation mode; one-off task deletes, which no source
// reserves to admins, go ahead for every role; and tools/list leaves out what the role cannot do.
func TestRolesDecideBeforeThePersonIsAsked(t *testing.T) {
	t.Parallel()
	for _, role := range []struct {
		name, token string
	}{{"Standard", sandbox.MemberToken}, {"Light", sandbox.LightToken}} {
		for _, mode := range []tools.ConfirmMode{tools.ConfirmToken, tools.ConfirmAuto, tools.ConfirmOff} {
			t.Run(role.name+"/"+string(mode), func(t *testing.T) {
				t.Parallel()
				opts := []option{withToken(role.token), withConfirm(mode)}
				if mode == tools.ConfirmAuto {
					opts = append(opts, withAllowToken()) // this client cannot elicit: the token flow
				}
				h := newHarness(t, opts...)
				for _, k := range kinds[1:] { // runs and templates
					mark := h.logLen()
					res := h.call(k.del, map[string]any{k.idArg: k.archived}).failed(t,
						"Refused before anything was asked or changed", role.name+" member",
						"permanent deletes of processes and templates are for Tallyfy administrators", "no one was asked to confirm")
					if strings.Contains(res.text, "confirm_token") {
						t.Errorf("%s: the refusal offers a confirmation: %s", k.del, res.text)
					}
					for _, l := range h.sb.RequestLog()[mark:] {
						if !strings.HasPrefix(l, "GET /api/me/organizations") {
							t.Errorf("%s: sent %q before refusing (only the role read is allowed)", k.del, l)
						}
					}
					if h.gone(k.kind, k.archived) {
						t.Fatalf("%s deleted by a %s member", k.kind, role.name)
					}
					recs := h.audit.outcomes()
					if last := recs[len(recs)-1]; last.Outcome != "refused" || last.Detail != "role" || last.Tool != k.del {
						t.Errorf("audit of the refusal: %+v", last)
					}
				}
				// A one-off task: no source says admin only, so it is asked for and done.
				k := kinds[0]
				first := h.call(k.del, map[string]any{k.idArg: k.archived}).ok(t)
				if mode == tools.ConfirmToken {
					tok := decode[schemas.DeleteResult](t, first).ConfirmToken
					h.call(k.del, map[string]any{k.idArg: k.archived, "confirm_token": tok}).ok(t)
				}
				if mode != tools.ConfirmAuto && !h.gone(k.kind, k.archived) {
					t.Errorf("a %s member's one-off task delete did not happen", role.name)
				}
				names := listedNames(t, h)
				for _, hidden := range []string{"delete_run", "delete_template"} {
					if slices.Contains(names, hidden) {
						t.Errorf("tools/list shows %s to a %s member: %v", hidden, role.name, names)
					}
				}
				if mode != tools.ConfirmOff && !slices.Contains(names, "delete_task") {
					t.Errorf("tools/list hides delete_task: %v", names)
				}
			})
		}
	}
}

// The role is read once and kept: many calls, one GET /me/organizations.
func TestRoleIsReadOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withToken(sandbox.MemberToken))
	for i := 0; i < 3; i++ {
		listedNames(t, h)
		h.call("delete_run", map[string]any{"run_id": sandbox.IDs.ArchivedRun}).failed(t, "Standard member")
	}
	n := 0
	for _, l := range h.sb.RequestLog() {
		if strings.HasPrefix(l, "GET /api/me/organizations") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d role reads, want 1: %v", n, h.sb.RequestLog())
	}
}

// An admin sees and may do everything; a role Tallyfy does not tell (or that cannot be read)
// refuses nothing in advance: Tallyfy's own answer decides, and its 403 is explained.
func TestRoleUnknownLeavesItToTallyfy(t *testing.T) {
	t.Parallel()
	admin := newHarness(t)
	if names := listedNames(t, admin); !slices.Contains(names, "delete_run") || !slices.Contains(names, "delete_template") {
		t.Errorf("admin tools/list: %v", names)
	}
	noRole := newHarness(t, withToken(sandbox.MemberToken), withWrap(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/me/organizations") {
				http.Error(w, `{"error":true,"message":"down","code":"X"}`, http.StatusServiceUnavailable)
				return
			}
			next.ServeHTTP(w, r)
		})
	}), withMaxTries(1))
	if names := listedNames(t, noRole); !slices.Contains(names, "delete_run") {
		t.Errorf("an unknown role hides delete_run: %v", names)
	}
	first := noRole.call("delete_run", map[string]any{"run_id": sandbox.IDs.ArchivedRun}).ok(t)
	tok := decode[schemas.DeleteResult](t, first).ConfirmToken
	noRole.call("delete_run", map[string]any{"run_id": sandbox.IDs.ArchivedRun, "confirm_token": tok}).failed(t, "403")
	if noRole.gone("run", sandbox.IDs.ArchivedRun) {
		t.Error("deleted")
	}
}

// A bulk delete of processes or templates by a member is refused before it is planned, so no
// one is asked to confirm a plan Tallyfy would refuse item by item.
func TestBulkDeleteRefusedForRoleBeforeThePlan(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withToken(sandbox.MemberToken))
	res := h.call("bulk_delete", map[string]any{"type": "run", "ids": []string{sandbox.IDs.ArchivedRun}}).failed(t,
		"Refused before anything was asked or changed", "Standard member")
	if strings.Contains(res.text, "plan_token") {
		t.Errorf("a plan was made: %s", res.text)
	}
	if w := h.writesSince(0); len(w) != 0 {
		t.Errorf("writes: %v", w)
	}
	// One-off tasks: planned as usual.
	h.call("bulk_delete", map[string]any{"type": "task", "ids": []string{sandbox.IDs.ArchivedTask}}).ok(t)
}

// A Standard member archives the templates they have rights on; one they were given no rights
// on is Tallyfy's to refuse (the server cannot read per-template rights), and the refusal says
// so and that nothing changed. A Light member's process archive is refused before any change
// once the role is known.
func TestRolesPerItemAndLifecycle(t *testing.T) {
	t.Parallel()
	std := newHarness(t, withToken(sandbox.MemberToken))
	std.call("archive_template", map[string]any{"template_id": sandbox.IDs.LiveTemplate}).ok(t)
	std.call("archive_template", map[string]any{"template_id": sandbox.IDs.RestrictedTemplate}).failed(t, "403")
	if std.lookup("template", sandbox.IDs.RestrictedTemplate).Archived {
		t.Error("a template the member has no rights on was archived")
	}
	light := newHarness(t, withToken(sandbox.LightToken))
	listedNames(t, light) // tools/list reads the role
	mark := light.logLen()
	light.call("archive_run", map[string]any{"run_id": sandbox.IDs.ActiveRun}).failed(t,
		"Refused before anything was asked or changed", "Light member", "Light members cannot archive or unarchive processes")
	if w := light.writesSince(mark); len(w) != 0 {
		t.Errorf("writes: %v", w)
	}
	light.call("archive_task", map[string]any{"task_id": sandbox.IDs.LiveTask}).ok(t)
}
