package preflight

import (
	"context"
	"strings"
	"testing"

	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
)

func TestCheckNamesABrokenField(t *testing.T) {
	t.Parallel()
	e := startSandbox(t, sandbox.WithBrokenShape(sandbox.BrokenShape{Kind: "run", Field: "progress", Type: "array"}))
	rep := Run(context.Background(), e.client(t, sandbox.AdminToken, sandbox.OrgID))
	m := byName(t, rep)
	runs := m["runs"]
	if runs.Status != StatusWarn || len(runs.ShapeIssues) != 1 || runs.ShapeIssues[0] != (Shape{Field: "runs[].progress", Found: "array"}) ||
		!strings.Contains(runs.Message, "runs[].progress arrived as array") {
		t.Errorf("runs = %+v", runs)
	}
	// A shape drift is a ⚠ to report, not a failure: the tools work, showing it as unknown.
	if m["tasks"].Status != StatusOK || m["templates"].Status != StatusOK || !rep.OK {
		t.Errorf("report = %+v", rep.Checks)
	}
	var text strings.Builder
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "⚠ processes: ") || strings.Contains(text.String(), "fix the ✗ lines") ||
		!strings.Contains(text.String(), "report each ⚠ line to the tallyfy-mcp maintainers") {
		t.Errorf("text:\n%s", text.String())
	}
	e.onlyGETs(t)
}

// The identity answers report their undocumented shapes too: the check names the field rather
// than only saying that Tallyfy did not tell the role.
func TestCheckNamesABrokenIdentityField(t *testing.T) {
	t.Parallel()
	t.Run("role", func(t *testing.T) {
		t.Parallel()
		for _, typ := range []string{"object", "number"} {
			e := startSandbox(t, sandbox.WithBrokenShape(sandbox.BrokenShape{Kind: "organization", Field: "user_role", Type: typ}))
			rep := Run(context.Background(), e.client(t, sandbox.AdminToken, sandbox.OrgID))
			m := byName(t, rep)
			org, role := m["organization"], m["role"]
			named := "organizations[].user_role arrived as " + typ
			if org.Status != StatusWarn || len(org.ShapeIssues) != 1 || org.ShapeIssues[0] != (Shape{Field: "organizations[].user_role", Found: typ}) ||
				!strings.Contains(org.Message, `member of "`+sandbox.OrgName+`"`) || !strings.Contains(org.Message, named) || org.Fix == "" {
				t.Errorf("%s: organization = %+v", typ, org)
			}
			if role.Status != StatusWarn || !strings.Contains(role.Message, "Tallyfy sent the role in a shape no Tallyfy source documents ("+named+")") ||
				rep.PermanentDeleteAllowed != nil || rep.Organization == nil || rep.Organization.Role != "" {
				t.Errorf("%s: role = %+v, permanent %v", typ, role, rep.PermanentDeleteAllowed)
			}
			for _, name := range []string{"token", "tasks", "runs", "templates", "rate_limits"} {
				if m[name].Status != StatusOK {
					t.Errorf("%s: %s = %+v", typ, name, m[name])
				}
			}
			if !rep.OK {
				t.Errorf("%s: a shape drift failed the report", typ)
			}
			var text strings.Builder
			if err := rep.WriteText(&text); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(text.String(), "⚠ organization: member of") || !strings.Contains(text.String(), named+", a shape no Tallyfy source documents") {
				t.Errorf("%s: text:\n%s", typ, text.String())
			}
			e.onlyGETs(t)
		}
	})
	t.Run("user", func(t *testing.T) {
		t.Parallel()
		e := startSandbox(t, sandbox.WithBrokenShape(sandbox.BrokenShape{Kind: "me", Field: "first_name", Type: "array"}))
		rep := Run(context.Background(), e.client(t, sandbox.MemberToken, sandbox.OrgID))
		m := byName(t, rep)
		tok := m["token"]
		if tok.Status != StatusWarn || len(tok.ShapeIssues) != 1 || tok.ShapeIssues[0] != (Shape{Field: "me.first_name", Found: "array"}) ||
			!strings.Contains(tok.Message, "Tallyfy accepts it: user Member") || !strings.Contains(tok.Message, "me.first_name arrived as array") {
			t.Errorf("token = %+v", tok)
		}
		// The other checks still ran: a shape is not a refused token.
		if m["organization"].Status != StatusOK || m["role"].Status != StatusOK || m["runs"].Status != StatusOK || !rep.OK {
			t.Errorf("report = %+v", rep.Checks)
		}
	})
}
