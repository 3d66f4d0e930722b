package blackbox

// Whose Tallyfy token each caller acts with, through the built binary (issue 17 points 2 and
// 3): OAuth users map to callers-file entries by sub first, by a verified email compared
// ASCII-case-insensitively, never to two entries at once; and no combination of --auth-token,
// --callers, OAuth and the server's own token lets one caller act with another's token.

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tallyfy-mcp/tallyfy-mcp/internal/testkit"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
)

// tallyfyTokenOf makes one get_task call as the bearer and returns the Tallyfy token the
// sandbox received for it.
func tallyfyTokenOf(t *testing.T, sb *testkit.SpySandbox, url string, headers map[string]string) string {
	t.Helper()
	c := testkit.ConnectHTTP(t, testkit.Streamable, url, testkit.ClientOpts{Era: testkit.Legacy, Headers: headers})
	defer c.Close()
	n := len(sb.Done())
	if res := testkit.MustCall(t, testkit.Context(t, 20*time.Second), c, "get_task", map[string]any{"task_id": sandbox.IDs.LiveTask}); res.IsError {
		t.Fatalf("get_task: %s", testkit.Text(res))
	}
	reqs := sb.Done()
	if len(reqs) == n {
		t.Fatal("get_task made no Tallyfy request")
	}
	return strings.TrimPrefix(reqs[len(reqs)-1].Auth, "Bearer ")
}

// TestOAuthCallerMappingBinary: sub first across all entries, email only when verified
// explicitly, ASCII case folding only, and a token whose sub and email name two entries is
// refused.
func TestOAuthCallerMappingBinary(t *testing.T) {
	t.Parallel()
	is := testkit.NewIssuer(t, testkit.IssuerOpts{})
	sb := testkit.NewSpySandbox(t)
	file := filepath.Join(t.TempDir(), "callers.json")
	entry := func(name, env string, kv ...string) map[string]any {
		e := map[string]any{"name": name, "token_sha256": testkit.TokenSHA256("static-" + name), "tallyfy_token_env": env}
		for i := 0; i+1 < len(kv); i += 2 {
			e[kv[i]] = kv[i+1]
		}
		return e
	}
	// noah comes first: a first-match-wins lookup by "sub or email" would pick him.
	testkit.WriteCallers(t, file,
		entry("noah", "NOAH_TALLYFY", "email", "noah@example.com"),
		entry("mia", "MIA_TALLYFY", "oauth_subject", "user-mia"),
		entry("kate", "MIA_TALLYFY", "email", "kate@example.com"),
		entry("ross", "MIA_TALLYFY", "email", "ross@example.com"))
	b := runBinary(t, []string{"NOAH_TALLYFY=" + sandbox.AdminToken, "MIA_TALLYFY=" + sandbox.MemberToken, "TALLYFY_RATE=0"},
		"--transport", "http", "--addr", "127.0.0.1:0", "--base-url", sb.URL, "--org-id", sandbox.OrgID, "--callers", file,
		"--oauth-issuer", is.URL, "--oauth-audience", oauthAudience)
	url := b.ListenURL(t)
	tok := func(sub string, extra map[string]any) map[string]string {
		return bearer(is.Token(t, oauthAudience, testkit.TokenOpts{Sub: sub, Scope: "tallyfy.read", Extra: extra}))
	}
	verified := func(email string) map[string]any { return map[string]any{"email": email, "email_verified": true} }

	for _, tc := range []struct {
		name   string
		sub    string
		extra  map[string]any
		tokenT string // the Tallyfy token used; "" for a 403
		says   string // in the 403's message
	}{
		{"sub", "user-mia", nil, sandbox.MemberToken, ""},
		{"verified email", "idp-noah", verified("noah@example.com"), sandbox.AdminToken, ""},
		{"verified email, ASCII case differs", "idp-noah", verified("NOAH@Example.COM"), sandbox.AdminToken, ""},
		{"email without email_verified", "idp-noah", map[string]any{"email": "noah@example.com"}, "", "no entry"},
		{"email_verified the string \"true\"", "idp-noah", map[string]any{"email": "noah@example.com", "email_verified": "true"}, "", "no entry"},
		{"email_verified false", "idp-noah", map[string]any{"email": "noah@example.com", "email_verified": false}, "", "no entry"},
		{"Kelvin sign for k", "idp-x", verified("\u212Aate@example.com"), "", "no entry"},
		{"long s for s", "idp-x", verified("ro\u017Fs@example.com"), "", "no entry"},
		{"sub wins over an unverified email of an earlier entry", "user-mia", map[string]any{"email": "noah@example.com"}, sandbox.MemberToken, ""},
		{"sub and verified email name different entries", "user-mia", verified("noah@example.com"), "", "two different entries"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := tok(tc.sub, tc.extra)
			if tc.tokenT == "" {
				status, _, body := testkit.RawPost(t, url+"/mcp", testkit.InitBody, h)
				if status != 403 || !strings.Contains(body, tc.says) {
					t.Fatalf("%d %s; want 403 saying %q", status, body, tc.says)
				}
				return
			}
			if got := tallyfyTokenOf(t, sb, url, h); got != tc.tokenT {
				t.Fatalf("acted with Tallyfy token %q, want %q", got, tc.tokenT)
			}
		})
	}

	t.Run("a file mapping one subject or email to two entries does not load", func(t *testing.T) {
		for _, dup := range [][2]map[string]any{
			{entry("a", "MIA_TALLYFY", "oauth_subject", "same"), entry("b", "MIA_TALLYFY", "oauth_subject", "same")},
			{entry("a", "MIA_TALLYFY", "email", "x@example.com"), entry("b", "MIA_TALLYFY", "email", "X@EXAMPLE.com")},
		} {
			bad := filepath.Join(t.TempDir(), "callers.json")
			testkit.WriteCallers(t, bad, dup[0], dup[1])
			b := runBinary(t, []string{"MIA_TALLYFY=" + sandbox.MemberToken}, "--transport", "http", "--addr", "127.0.0.1:0",
				"--base-url", sb.URL, "--org-id", sandbox.OrgID, "--callers", bad)
			if code := b.Wait(t, 20*time.Second); code == 0 || !strings.Contains(b.Stderr.String(), "maps to one entry") {
				t.Fatalf("exit %d:\n%s", code, b.Stderr.String())
			}
		}
	})
}

// TestNoBorrowedIdentities: every combination of --auth-token (A), --callers (C), OAuth (O)
// and the server's own Tallyfy token (S). Each either refuses to start, saying why, or lets
// each kind of caller act with exactly their own Tallyfy identity: the --auth-token caller and
// OAuth users without a callers file with the server's token, a callers entry (by bearer or
// OAuth) with that entry's. The server's token is the sandbox's admin token; the one entry's,
// the member token.
func TestNoBorrowedIdentities(t *testing.T) {
	t.Parallel()
	const authToken = "auth-token-for-the-single-caller-7f3a"
	is := testkit.NewIssuer(t, testkit.IssuerOpts{})
	for _, a := range []bool{false, true} {
		for _, c := range []bool{false, true} {
			for _, o := range []bool{false, true} {
				for _, s := range []bool{false, true} {
					name := fmt.Sprintf("auth-token=%v callers=%v oauth=%v server-token=%v", a, c, o, s)
					t.Run(name, func(t *testing.T) {
						t.Parallel()
						sb := testkit.NewSpySandbox(t)
						env := []string{"ALICE_TALLYFY=" + sandbox.MemberToken, "TALLYFY_RATE=0"}
						args := []string{"--transport", "http", "--addr", "127.0.0.1:0", "--base-url", sb.URL, "--org-id", sandbox.OrgID}
						if a {
							env = append(env, "MCP_AUTH_TOKEN="+authToken)
						}
						if s {
							env = append(env, "TALLYFY_ACCESS_TOKEN="+sandbox.AdminToken)
						}
						if c {
							file := filepath.Join(t.TempDir(), "callers.json")
							testkit.WriteCallers(t, file, map[string]any{"name": "alice", "token_sha256": testkit.TokenSHA256("alice-bearer"),
								"tallyfy_token_env": "ALICE_TALLYFY", "oauth_subject": "user-alice"})
							args = append(args, "--callers", file)
						}
						if o {
							args = append(args, "--oauth-issuer", is.URL, "--oauth-audience", oauthAudience)
						}
						b := runBinary(t, env, args...)
						switch {
						case !s && !c:
							if code := b.Wait(t, 20*time.Second); code == 0 || !strings.Contains(b.Stderr.String(), "no Tallyfy access token") {
								t.Fatalf("exit %d:\n%s", code, b.Stderr.String())
							}
							return
						case a && c && !s:
							if code := b.Wait(t, 20*time.Second); code == 0 || !strings.Contains(b.Stderr.String(), "--auth-token beside --callers needs the server's own Tallyfy token") {
								t.Fatalf("started, or without saying why (exit %d):\n%s", code, b.Stderr.String())
							}
							return
						}
						url := b.ListenURL(t)
						// Each way in, and the Tallyfy token it must act with ("" = refused).
						ways := map[string]struct {
							headers map[string]string
							want    string
						}{
							"no bearer":      {nil, ""},
							"--auth-token":   {bearer(authToken), ""},
							"alice's bearer": {bearer("alice-bearer"), ""},
							"OAuth alice":    {bearer(is.Token(t, oauthAudience, testkit.TokenOpts{Sub: "user-alice", Scope: "tallyfy.read"})), ""},
							"OAuth stranger": {bearer(is.Token(t, oauthAudience, testkit.TokenOpts{Sub: "user-zed", Scope: "tallyfy.read"})), ""},
						}
						set := func(k, v string) { w := ways[k]; w.want = v; ways[k] = w }
						if !a && !c && !o {
							set("no bearer", sandbox.AdminToken) // open loopback server
							set("--auth-token", sandbox.AdminToken)
							set("alice's bearer", sandbox.AdminToken)
							set("OAuth alice", sandbox.AdminToken)
							set("OAuth stranger", sandbox.AdminToken)
						}
						if a {
							set("--auth-token", sandbox.AdminToken)
						}
						if c {
							set("alice's bearer", sandbox.MemberToken)
						}
						if o && c {
							set("OAuth alice", sandbox.MemberToken)
						}
						if o && !c {
							set("OAuth alice", sandbox.AdminToken)
							set("OAuth stranger", sandbox.AdminToken)
						}
						for way, w := range ways {
							if w.want == "" {
								if status, _, _ := testkit.RawPost(t, url+"/mcp", testkit.InitBody, w.headers); status != 401 && status != 403 {
									t.Fatalf("%s: %d, want 401 or 403", way, status)
								}
								continue
							}
							if got := tallyfyTokenOf(t, sb, url, w.headers); got != w.want {
								t.Fatalf("%s acted with Tallyfy token %q, want %q", way, got, w.want)
							}
						}
						if a && c && !strings.Contains(b.Stderr.String(), "the --auth-token caller acts with the server's own Tallyfy token") {
							t.Fatalf("no startup message saying whose token the --auth-token caller uses:\n%s", b.Stderr.String())
						}
						if strings.Contains(b.Stderr.String(), authToken) || strings.Contains(b.Stderr.String(), sandbox.MemberToken) {
							t.Fatal("the log holds a token")
						}
					})
				}
			}
		}
	}
}
