package blackbox

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tallyfy-mcp/tallyfy-mcp/internal/testkit"
	"github.com/tallyfy-mcp/tallyfy-mcp/preflight"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
)

// Issue 17 point 10 and issue 20 point 3: `check` through the built binary.
func TestCheckHonest(t *testing.T) {
	t.Parallel()
	t.Run("callers file with tallyfy_token_env: no crash, one named block per caller", func(t *testing.T) {
		t.Parallel()
		sb, base := testkit.StartSandbox(t)
		path := filepath.Join(t.TempDir(), "callers.json")
		testkit.WriteCallers(t, path,
			map[string]any{"name": "morgan", "token_sha256": testkit.TokenSHA256("mcp-morgan"), "tallyfy_token_env": "MORGAN_TALLYFY"},
			map[string]any{"name": "lee", "token_sha256": testkit.TokenSHA256("mcp-lee"), "tallyfy_token_env": "LEE_TALLYFY"})
		// The deployed container's setup: HTTP transport, callers' tokens in its environment.
		env := map[string]string{"MCP_TRANSPORT": "http", "TALLYFY_ORG_ID": sandbox.OrgID, "TALLYFY_BASE_URL": base, "TALLYFY_RATE": "0",
			"MORGAN_TALLYFY": sandbox.MemberToken, "LEE_TALLYFY": sandbox.LightToken}
		r := runCheck(t, env, "--callers", path)
		if r.code != 0 || strings.Contains(r.stderr, "panic") || strings.Count(r.stdout, "tallyfy-mcp check: caller ") != 2 ||
			!strings.Contains(r.stdout, `caller "morgan"`) || !strings.Contains(r.stdout, `caller "lee"`) ||
			!strings.Contains(r.stdout, "✓ role: standard:") || !strings.Contains(r.stdout, "✓ role: light:") {
			t.Fatalf("exit %d:\n%s\nstderr: %s", r.code, r.stdout, r.stderr)
		}
		var set struct {
			OK      bool
			Reports []struct {
				Caller  string
				Refused []struct{ Tool, Reason string }
			}
		}
		j := runCheck(t, env, "--callers", path, "--json")
		if err := json.Unmarshal([]byte(j.stdout), &set); err != nil || !set.OK || len(set.Reports) != 2 ||
			set.Reports[0].Caller != "morgan" || set.Reports[1].Caller != "lee" || len(set.Reports[1].Refused) != 6 {
			t.Fatalf("json (%v): %s", err, j.stdout)
		}
		onlyGETs(t, sb)
		for _, tok := range []string{sandbox.MemberToken, sandbox.LightToken} {
			noToken(t, r, tok)
			noToken(t, j, tok)
		}
	})
	t.Run("base URL credentials are never shown", func(t *testing.T) {
		t.Parallel()
		for _, raw := range []string{"https://alice:hunter2pw@api.example.test/api", "https://api.example.test/api?token=s3cr3tQ", "not a url hunter2pw"} {
			env := map[string]string{"TALLYFY_ACCESS_TOKEN": "tok-abcdef", "TALLYFY_ORG_ID": sandbox.OrgID, "TALLYFY_BASE_URL": raw}
			for _, args := range [][]string{nil, {"--json"}} {
				r := runCheck(t, env, args...)
				out := r.stdout + r.stderr
				if r.code != 1 || strings.Contains(out, "hunter2pw") || strings.Contains(out, "s3cr3tQ") || strings.Contains(out, "alice") {
					t.Errorf("%q %v: exit %d:\n%s", raw, args, r.code, out)
				}
				if !strings.Contains(out, "configuration") {
					t.Errorf("%q: no configuration line:\n%s", raw, out)
				}
			}
		}
	})
	t.Run("a swapped org id and token are never echoed, in check or at startup", func(t *testing.T) {
		t.Parallel()
		token := "tfy-live-9f8e7d6c5b4a3210-PersonalAccessTokenSecretPart"
		env := map[string]string{"TALLYFY_ACCESS_TOKEN": sandbox.OrgID, "TALLYFY_ORG_ID": token, "TALLYFY_BASE_URL": "https://go.tallyfy.com/api"}
		for _, args := range [][]string{nil, {"--json"}} {
			r := runCheck(t, env, args...)
			if r.code != 1 || strings.Contains(r.stdout+r.stderr, "PersonalAccessToken") || strings.Contains(r.stdout+r.stderr, "9f8e7d6c") {
				t.Errorf("check %v echoed the token: exit %d\n%s%s", args, r.code, r.stdout, r.stderr)
			}
		}
		b := runBinary(t, []string{"TALLYFY_ACCESS_TOKEN=" + sandbox.OrgID, "TALLYFY_ORG_ID=" + token})
		b.Wait(t, 20*time.Second)
		if s := b.Stderr.String(); strings.Contains(s, "PersonalAccessToken") || strings.Contains(s, "9f8e7d6c") || !strings.Contains(s, "organization id") {
			t.Errorf("startup error echoes the token (or says nothing of the org id):\n%s", s)
		}
	})
	t.Run("--sandbox warns that a set token and org were not checked", func(t *testing.T) {
		t.Parallel()
		r := runCheck(t, map[string]string{"TALLYFY_ACCESS_TOKEN": "a-wrong-token", "TALLYFY_ORG_ID": "0123456789abcdef0123456789abcdef"}, "--sandbox")
		if !strings.Contains(r.stdout, "⚠ --sandbox: the Tallyfy token (TALLYFY_ACCESS_TOKEN or --token-file) is set but was ignored and NOT checked") ||
			!strings.Contains(r.stdout, "⚠ --sandbox: the organization") || strings.Contains(r.stdout, "All checks passed") {
			t.Errorf("exit %d:\n%s", r.code, r.stdout)
		}
		noToken(t, r, "a-wrong-token")
	})
	t.Run("unreachable Tallyfy: no ✓ at all", func(t *testing.T) {
		t.Parallel()
		r := runCheck(t, map[string]string{"TALLYFY_ACCESS_TOKEN": "tok", "TALLYFY_ORG_ID": sandbox.OrgID, "TALLYFY_BASE_URL": "http://127.0.0.1:1/api"})
		if r.code != 1 || strings.Contains(r.stdout, "✓") || !strings.Contains(r.stdout, "– rate limits: not checked: Tallyfy could not be reached") ||
			strings.Count(r.stdout, "– ") != 6 {
			t.Errorf("exit %d:\n%s", r.code, r.stdout)
		}
	})
	t.Run("a wrong org id lists the user's organizations", func(t *testing.T) {
		t.Parallel()
		_, base := testkit.StartSandbox(t)
		env := sandboxEnv(base, sandbox.MemberToken)
		env["TALLYFY_ORG_ID"] = "0123456789abcdef0123456789abcdef"
		r := runCheck(t, env)
		if r.code != 1 || !strings.Contains(r.stdout, `"Sandbox Co" (`+sandbox.OrgID+`, standard)`) || !strings.Contains(r.stdout, `"Sandbox Holdings" (`) {
			t.Errorf("exit %d:\n%s", r.code, r.stdout)
		}
		var rep struct{ Organizations []struct{ ID, Name string } }
		j := runCheck(t, env, "--json")
		if json.Unmarshal([]byte(j.stdout), &rep) != nil || len(rep.Organizations) != 2 {
			t.Errorf("json: %s", j.stdout)
		}
	})
	t.Run("per role: what Tallyfy will refuse", func(t *testing.T) {
		t.Parallel()
		_, base := testkit.StartSandbox(t)
		want := map[string][]string{
			sandbox.AdminToken:  nil,
			sandbox.MemberToken: {"delete_run", "delete_template"},
			sandbox.LightToken:  {"archive_run", "activate_run", "archive_template", "restore_template", "delete_run", "delete_template"},
		}
		for tok, refused := range want {
			var rep struct {
				Refused []struct{ Tool string }
				PerItem []struct{ Tool string } `json:"per_item"`
			}
			r := runCheck(t, sandboxEnv(base, tok), "--json")
			if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != 0 {
				t.Fatalf("%s: exit %d %v: %s", tok, r.code, err, r.stdout)
			}
			var got []string
			for _, x := range rep.Refused {
				got = append(got, x.Tool)
			}
			if !slices.Equal(got, refused) {
				t.Errorf("%s: refused %v, want %v", tok, got, refused)
			}
			if (tok == sandbox.MemberToken) != (len(rep.PerItem) == 2) {
				t.Errorf("%s: per item %v", tok, rep.PerItem)
			}
		}
	})
}

// Keep holding (issue 17): check sends GET only and stays bounded against a hostile Tallyfy.
func TestCheckAgainstAHostileTallyfy(t *testing.T) {
	t.Parallel()
	var bomb bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&bomb, gzip.BestCompression)
	zeros := make([]byte, 1<<20)
	for i := 0; i < 200; i++ { // 200 MiB once inflated
		_, _ = zw.Write(zeros)
	}
	_ = zw.Close()
	var elsewhere atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere.Add(1) }))
	t.Cleanup(other.Close)
	cases := map[string]http.HandlerFunc{
		"redirect": func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, other.URL+r.URL.Path, http.StatusFound)
		},
		"200 MiB body": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"data":{"id":1,"email":"`))
			chunk := bytes.Repeat([]byte("a"), 1<<20)
			for i := 0; i < 200; i++ {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		},
		"gzip bomb": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Encoding", "gzip")
			_, _ = w.Write(bomb.Bytes())
		},
		"slow": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(200)
			for i := 0; i < 600; i++ {
				if _, err := w.Write([]byte(" ")); err != nil {
					return
				}
				w.(http.Flusher).Flush()
				select {
				case <-r.Context().Done():
					return
				case <-time.After(100 * time.Millisecond):
				}
			}
		},
		"hung": func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() },
	}
	for name, h := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var methods []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				methods = append(methods, r.Method)
				mu.Unlock()
				h(w, r)
			}))
			t.Cleanup(srv.Close)
			start := time.Now()
			r := runCheck(t, map[string]string{"TALLYFY_ACCESS_TOKEN": "tok", "TALLYFY_ORG_ID": sandbox.OrgID, "TALLYFY_BASE_URL": srv.URL + "/api",
				"TALLYFY_REQUEST_TIMEOUT": "1s", "TALLYFY_TOOL_TIMEOUT": "8s"}, "--json")
			took := time.Since(start)
			var rep preflight.Report
			if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != 1 || rep.OK {
				t.Fatalf("exit %d (%v): %s\nstderr: %s", r.code, err, r.stdout, r.stderr)
			}
			if took > 25*time.Second {
				t.Errorf("check took %s against a %s Tallyfy", took, name)
			}
			for _, c := range rep.Checks {
				if c.Status == preflight.StatusOK {
					t.Errorf("%s ✓ against a %s Tallyfy: %s", c.Name, name, c.Message)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			for _, m := range methods {
				if m != http.MethodGet {
					t.Errorf("check sent %s", m)
				}
			}
			if elsewhere.Load() != 0 {
				t.Errorf("a redirect was followed")
			}
		})
	}
}

// Issue 18 point 9: check --live, refused without --yes off a terminal, and with --yes a table
// of what it met; whatever fails, what it created is deleted.
func TestCheckLive(t *testing.T) {
	t.Parallel()
	t.Run("refused without --yes when stdin is not a terminal", func(t *testing.T) {
		t.Parallel()
		sb, base := testkit.StartSandbox(t)
		r := runCheck(t, sandboxEnv(base, sandbox.AdminToken), "--live")
		if r.code != 2 || r.stdout != "" || !strings.Contains(r.stderr, "--yes") || len(sb.RequestLog()) != 0 {
			t.Errorf("exit %d, %d requests, stdout %q, stderr %q", r.code, len(sb.RequestLog()), r.stdout, r.stderr)
		}
	})
	t.Run("with --yes: the table, text and json, and nothing left", func(t *testing.T) {
		t.Parallel()
		sb, base := testkit.StartSandbox(t)
		r := runCheck(t, sandboxEnv(base, sandbox.AdminToken), "--live", "--yes")
		for _, want := range []string{
			"tallyfy-mcp check --live: met the tallyfy-mcp sandbox, variants: default",
			"archiving an archived item", "refused: 404 RESOURCE_NOT_FOUND",
			"PUT /tasks/{id}/restore exists", "yes: 200",
			"GET of an archived one-off task", "GET of an archived process", "GET of an archived template",
			"timestamp resolution", "default status filter of task lists", "activating a live process",
			"✓ cleanup: every task created",
		} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("no %q in:\n%s", want, r.stdout)
			}
		}
		if r.code != 0 {
			t.Errorf("exit %d:\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		noLiveTaskLeft(t, sb)
		j := runCheck(t, sandboxEnv(base, sandbox.AdminToken), "--live", "--yes", "--json")
		rep := liveOf(t, j)
		if !rep.OK || len(rep.Observed) != 11 || rep.Met != "the tallyfy-mcp sandbox, variants: default" {
			t.Errorf("live json: %+v", rep)
		}
		for _, o := range rep.Observed {
			if strings.HasPrefix(o.Answer, "not observed: an earlier step failed") {
				t.Errorf("row %s not observed", o.Key)
			}
		}
		noLiveTaskLeft(t, sb)
		noToken(t, r, sandbox.AdminToken)
	})
	t.Run("a step fails: still cleaned up", func(t *testing.T) {
		t.Parallel()
		sb, base := testkit.StartSandbox(t)
		sb.SetFaults(mustFaults(t, "500:PUT~/restore")...)
		r := runCheck(t, sandboxEnv(base, sandbox.AdminToken), "--live", "--yes", "--json")
		rep := liveOf(t, r)
		if !strings.Contains(rep.Cleanup, "permanently deleted") || len(rep.Left) != 0 {
			t.Errorf("cleanup %q", rep.Cleanup)
		}
		noLiveTaskLeft(t, sb)
	})
}

type liveJSON struct {
	OK   bool
	Live *preflight.LiveReport
}

func liveOf(t *testing.T, r checkRun) *preflight.LiveReport {
	t.Helper()
	var rep liveJSON
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || rep.Live == nil {
		t.Fatalf("no live report (%v): %s\nstderr: %s", err, r.stdout, r.stderr)
	}
	return rep.Live
}

// noLiveTaskLeft: no task titled as check --live's is in the sandbox, archived or not.
func noLiveTaskLeft(t *testing.T, sb *sandbox.Sandbox) {
	t.Helper()
	if sb.CreatedCount() == 0 {
		t.Error("check --live created no task")
	}
	for _, it := range sb.Created() {
		t.Errorf("check --live left task %s %q (archived %v)", it.ID, it.Name, it.Archived)
	}
}

// A member is never asked to confirm what Tallyfy will refuse, through the binary on stdio.
func TestMemberNeverAskedToConfirmWhatTallyfyRefuses(t *testing.T) {
	t.Parallel()
	for _, tok := range []string{sandbox.MemberToken, sandbox.LightToken} {
		t.Run(tok, func(t *testing.T) {
			t.Parallel()
			sb, base := testkit.StartSandbox(t)
			var asked atomic.Int64
			env := []string{"TALLYFY_ACCESS_TOKEN=" + tok, "TALLYFY_ORG_ID=" + sandbox.OrgID, "TALLYFY_BASE_URL=" + base, "TALLYFY_RATE=0"}
			c := testkit.ConnectStdio(t, env, nil, testkit.ClientOpts{Era: testkit.Legacy, Elicit: elicitFunc(func(context.Context, mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
				asked.Add(1)
				return &mcp.ElicitationResult{ElicitationResponse: mcp.ElicitationResponse{Action: mcp.ElicitationResponseActionDecline}}, nil
			})})
			ctx := testkit.Context(t, 30*time.Second)
			names := testkit.ToolNames(t, ctx, c)
			if slices.Contains(names, "delete_run") || slices.Contains(names, "delete_template") || !slices.Contains(names, "delete_task") {
				t.Errorf("tools/list: %v", names)
			}
			for _, call := range []struct{ tool, arg, id string }{
				{"delete_run", "run_id", sandbox.IDs.ArchivedRun},
				{"delete_template", "template_id", sandbox.IDs.ArchivedTemplate},
			} {
				res, err := testkit.Call(ctx, c, call.tool, map[string]any{call.arg: call.id})
				if err != nil || !res.IsError || !strings.Contains(testkit.Text(res), "Refused before anything was asked or changed") ||
					!strings.Contains(testkit.Text(res), "for Tallyfy administrators") {
					t.Errorf("%s: %v %+v", call.tool, err, res)
				}
			}
			if asked.Load() != 0 {
				t.Errorf("the person was asked %d times", asked.Load())
			}
			for _, l := range sb.RequestLog() {
				if !strings.HasPrefix(l, "GET ") {
					t.Errorf("sent %s", l)
				}
			}
		})
	}
}
