package blackbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/tallyfy-mcp/tallyfy-mcp/internal/harness"
	"github.com/tallyfy-mcp/tallyfy-mcp/internal/testkit"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
)

// checkRun is one run of `tallyfy-mcp check` as a subprocess.
type checkRun struct {
	code           int
	stdout, stderr string
}

func runCheck(t *testing.T, env map[string]string, args ...string) checkRun {
	t.Helper()
	cmd := exec.Command(harness.Path(), append([]string{"check"}, args...)...)
	cmd.Env = harness.CleanEnv(env)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running check: %v", err)
	}
	return checkRun{code: code, stdout: out.String(), stderr: errb.String()}
}

type checkReport struct {
	OK           bool
	Organization struct{ Role string }
	Permanent    *bool                             `json:"permanent_delete_allowed"`
	RateLimit    struct{ Limit, Remaining string } `json:"rate_limit"`
	Checks       []struct {
		Name, Status, Message, Fix string
		ShapeIssues                []struct{ Field, Found string } `json:"shape_issues"`
	}
}

func decodeCheck(t *testing.T, r checkRun) checkReport {
	t.Helper()
	var rep checkReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("stdout is not one JSON report: %v\n%s", err, r.stdout)
	}
	return rep
}

func TestCheckBinary(t *testing.T) {
	t.Parallel()
	t.Run("admin json", func(t *testing.T) {
		t.Parallel()
		sb, base := testkit.StartSandbox(t)
		r := runCheck(t, sandboxEnv(base, sandbox.AdminToken), "--json")
		rep := decodeCheck(t, r)
		if r.code != 0 || !rep.OK || rep.Organization.Role != "admin" || rep.Permanent == nil || !*rep.Permanent ||
			rep.RateLimit.Limit != "" || rep.RateLimit.Remaining == "" || len(rep.Checks) != 7 {
			t.Errorf("exit %d, report %+v\nstderr: %s", r.code, rep, r.stderr)
		}
		for _, c := range rep.Checks {
			if c.Status != "ok" {
				t.Errorf("check %s = %s: %s", c.Name, c.Status, c.Message)
			}
		}
		onlyGETs(t, sb)
		noToken(t, r, sandbox.AdminToken)
	})
	t.Run("member text", func(t *testing.T) {
		t.Parallel()
		sb, base := testkit.StartSandbox(t)
		r := runCheck(t, sandboxEnv(base, sandbox.MemberToken))
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if r.code != 0 || len(lines) != 9 {
			t.Fatalf("exit %d, %d lines:\n%s\nstderr: %s", r.code, len(lines), r.stdout, r.stderr)
		}
		for _, l := range lines[1:8] {
			if !strings.HasPrefix(l, "✓ ") {
				t.Errorf("line %q is not a ✓", l)
			}
		}
		if !strings.Contains(r.stdout, "✓ role: standard: Tallyfy will refuse delete_run, delete_template (permanent deletes of processes and templates are for Tallyfy administrators)") {
			t.Errorf("the role line does not say deletes will be refused:\n%s", r.stdout)
		}
		onlyGETs(t, sb)
		noToken(t, r, sandbox.MemberToken)
	})
	t.Run("bad token", func(t *testing.T) {
		t.Parallel()
		sb, base := testkit.StartSandbox(t)
		r := runCheck(t, sandboxEnv(base, "expired-token-xyz"))
		if r.code != 1 || !strings.Contains(r.stdout, "✗ token: Tallyfy refused the token (401 Unauthorized)") ||
			!strings.Contains(r.stdout, "Next: make a new personal access token in Tallyfy under Settings > Integrations > REST API") {
			t.Errorf("exit %d:\n%s", r.code, r.stdout)
		}
		onlyGETs(t, sb)
		noToken(t, r, "expired-token-xyz")
	})
	t.Run("broken shape", func(t *testing.T) {
		t.Parallel()
		sb, base := testkit.StartSandbox(t, sandbox.WithBrokenShape(sandbox.BrokenShape{Kind: "run", Field: "progress", Type: "array"}))
		r := runCheck(t, sandboxEnv(base, sandbox.AdminToken), "--json")
		rep := decodeCheck(t, r)
		var runs, tasks string
		for _, c := range rep.Checks {
			switch c.Name {
			case "runs":
				runs = c.Status
				if len(c.ShapeIssues) != 1 || c.ShapeIssues[0].Field != "runs[].progress" || c.ShapeIssues[0].Found != "array" || c.Fix == "" {
					t.Errorf("runs check = %+v", c)
				}
			case "tasks":
				tasks = c.Status
			}
		}
		// A shape drift is a ⚠ to report, not a failure: the tools work and show it as unknown.
		if r.code != 0 || !rep.OK || runs != "warn" || tasks != "ok" {
			t.Errorf("exit %d, runs %s, tasks %s:\n%s", r.code, runs, tasks, r.stdout)
		}
		onlyGETs(t, sb)
	})
	t.Run("broken identity shape", func(t *testing.T) {
		t.Parallel()
		sb, base := testkit.StartSandbox(t, sandbox.WithBrokenShape(sandbox.BrokenShape{Kind: "organization", Field: "user_role", Type: "object"}))
		r := runCheck(t, sandboxEnv(base, sandbox.AdminToken), "--json")
		rep := decodeCheck(t, r)
		status := map[string]string{}
		for _, c := range rep.Checks {
			status[c.Name] = c.Status
			switch c.Name {
			case "organization":
				if len(c.ShapeIssues) != 1 || c.ShapeIssues[0].Field != "organizations[].user_role" || c.ShapeIssues[0].Found != "object" ||
					!strings.Contains(c.Message, "organizations[].user_role arrived as object") || c.Fix == "" {
					t.Errorf("organization check = %+v", c)
				}
			case "role":
				if !strings.Contains(c.Message, "(organizations[].user_role arrived as object)") {
					t.Errorf("role check = %+v", c)
				}
			}
		}
		if r.code != 0 || !rep.OK || status["organization"] != "warn" || status["token"] != "ok" || status["role"] != "warn" ||
			status["runs"] != "ok" || rep.Organization.Role != "" || rep.Permanent != nil {
			t.Errorf("exit %d, checks %v:\n%s", r.code, status, r.stdout)
		}
		text := runCheck(t, sandboxEnv(base, sandbox.AdminToken))
		if text.code != 0 || !strings.Contains(text.stdout, "⚠ organization: member of") || !strings.Contains(text.stdout, "Ready for an agent, with 2 warning(s): report each ⚠ line") ||
			!strings.Contains(text.stdout, "organizations[].user_role arrived as object, a shape no Tallyfy source documents") {
			t.Errorf("exit %d:\n%s", text.code, text.stdout)
		}
		onlyGETs(t, sb)
	})
	t.Run("no configuration", func(t *testing.T) {
		t.Parallel()
		r := runCheck(t, nil, "--json")
		rep := decodeCheck(t, r)
		if r.code != 1 || rep.OK || len(rep.Checks) != 8 || rep.Checks[0].Name != "configuration" || rep.Checks[7].Status != "skipped" ||
			!strings.Contains(rep.Checks[0].Message, "TALLYFY_ACCESS_TOKEN") || rep.Checks[0].Fix == "" {
			t.Errorf("exit %d: %s", r.code, r.stdout)
		}
	})
	t.Run("sandbox flag", func(t *testing.T) {
		t.Parallel()
		r := runCheck(t, nil, "--sandbox")
		if r.code != 0 || !strings.Contains(r.stdout, "All checks passed") || strings.Count(r.stdout, "✓ ") != 7 {
			t.Errorf("exit %d:\n%s\nstderr: %s", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("bad flag", func(t *testing.T) {
		t.Parallel()
		r := runCheck(t, nil, "--no-such-flag")
		if r.code != 2 || r.stdout != "" || !strings.Contains(r.stderr, "tallyfy-mcp check --help") {
			t.Errorf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("help", func(t *testing.T) {
		t.Parallel()
		r := runCheck(t, nil, "--help")
		if r.code != 0 || !strings.Contains(r.stderr, "--json") || !strings.Contains(r.stderr, "only GET requests") {
			t.Errorf("exit %d, stderr %q", r.code, r.stderr)
		}
	})
}

func onlyGETs(t *testing.T, sb *sandbox.Sandbox) {
	t.Helper()
	log := sb.RequestLog()
	if len(log) == 0 {
		t.Fatal("the sandbox received no request")
	}
	for _, l := range log {
		if !strings.HasPrefix(l, "GET ") {
			t.Errorf("check sent %q: it must only read", l)
		}
	}
}

func noToken(t *testing.T, r checkRun, token string) {
	t.Helper()
	if strings.Contains(r.stdout, token) || strings.Contains(r.stderr, token) {
		t.Errorf("the token appears in the output")
	}
}
