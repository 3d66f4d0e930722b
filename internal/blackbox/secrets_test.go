package blackbox

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tallyfy-mcp/tallyfy-mcp/internal/harness"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
)

// madeUpToken is a token no sandbox accepts (every call is then 401), distinctive enough
// that any copy of it, or of a good part of it, is found.
const madeUpToken = "tfy-SECRET-7f3c9a2e4b6d8f1029384756abcdef01-do-not-print"

// longAdminToken and longMemberToken replace the sandbox's short tokens in the scenarios that
// reach retries, deletes and elicitation: long and distinctive (no run of hex long enough to
// match an ID by chance), so that any window of them can be searched for.
const (
	longAdminToken  = "tfy-ADMIN-Qz7Kp2Wx9Rm4Tv8Ny3Lb6Hs1Jd5Fg0-LongToken"
	longMemberToken = "tfy-MEMBER-Wq3Zr8Pk5Xt2Nm7Vy4Gh9Js6Lc1Bd0-LongToken"
)

// TestNoSecretInAnyOutput runs every tool and failure path (as TestStdoutIsOnlyJSONRPC does)
// with the token given by variable, by --token-file and by --access-token, at debug level in
// both log formats, and checks that no token appears in stdout, stderr, the audit file or any
// tool result; that confirm_tokens stay out of the logs and the audit file; and that nothing
// shaped like the 32-byte confirmation key is ever logged.
//
// The token file's PATH may appear in messages (it says where the token came from); its
// CONTENT may not.
func TestNoSecretInAnyOutput(t *testing.T) {
	t.Parallel()
	legacy := mcp.ProtocolVersion20251125
	scenarios := []scenario{
		// An admin token: every tool works, every failure path (retries, deletes, elicitation)
		// is reached.
		{mode: modeAdmin, format: "text", protocol: legacy, token: longAdminToken},
		{mode: modeAdmin, format: "json", tokenVia: "file", token: longAdminToken},
		{mode: modeAdmin, format: "text", tokenVia: "flag", elicit: true, token: longAdminToken},
		{mode: modeAdmin, format: "json", protocol: legacy, elicit: true, token: longAdminToken},
		{mode: modeAdmin, format: "text"}, // the sandbox's own short token
		{mode: modeMember, format: "json", protocol: legacy, tokenVia: "file", token: longMemberToken},
		// A made-up token: every call is 401.
		{mode: modeUnauth, format: "text", token: madeUpToken},
		{mode: modeUnauth, format: "json", protocol: legacy, token: madeUpToken},
		{mode: modeUnauth, format: "text", protocol: legacy, token: madeUpToken, tokenVia: "file"},
		{mode: modeUnauth, format: "json", token: madeUpToken, tokenVia: "file"},
		{mode: modeUnauth, format: "json", token: madeUpToken, tokenVia: "flag"},
	}
	for _, sc := range scenarios {
		t.Run(sc.String(), func(t *testing.T) {
			t.Parallel()
			run := runScenario(t, sc)
			outputs := map[string][]byte{
				"stdout":       run.stdout,
				"stderr":       run.stderr,
				"audit file":   run.audit,
				"tool results": []byte(run.results),
			}
			// What the confirm_tokens and elicitation states carry, decoded: base64 would hide
			// anything sealed inside them from a plain search.
			decoded := sealedPayloads(run.stdout, run.stderr, run.audit, []byte(run.results))
			outputs["sealed token payloads"] = decoded
			if !sc.elicit && sc.mode == modeAdmin && len(decoded) == 0 {
				t.Errorf("no confirm_token payload was decoded: the check would prove nothing")
			}
			if len(run.audit) == 0 {
				t.Errorf("the audit file is empty: the check would prove nothing")
			}
			if !strings.Contains(run.results, `"isError":true`) {
				t.Errorf("no error results: the failure paths were not reached")
			}
			for name, out := range outputs {
				for _, secret := range secretForms(run.token) {
					if i := bytes.Index(out, []byte(secret)); i >= 0 {
						t.Errorf("%s contains the access token (as %q): …%s…", name, secret, around(out, i, 80))
					}
				}
				for _, secret := range []string{sandbox.AdminToken, sandbox.MemberToken} {
					if bytes.Contains(out, []byte(secret)) {
						t.Errorf("%s contains a sandbox token %q", name, secret)
					}
				}
			}
			// Confirmation tokens belong to the conversation (stdout), not to logs or audit.
			for _, tok := range run.confirmTokens {
				_, mac, _ := strings.Cut(strings.TrimPrefix(tok, "tcf1."), ".")
				for _, name := range []string{"stderr", "audit file"} {
					if bytes.Contains(outputs[name], []byte(tok)) || (mac != "" && bytes.Contains(outputs[name], []byte(mac))) {
						t.Errorf("%s contains a confirm_token", name)
					}
				}
			}
			if sc.mode == modeAdmin && !sc.elicit && len(run.confirmTokens) == 0 {
				t.Errorf("no confirm_token was issued: the token flow was not reached")
			}
			public := publicValues(run.stderr, run.audit)
			if sc.mode == modeAdmin && len(public) < 2 {
				t.Errorf("the approval public key and an approval record's digest were not found: the exemption would prove nothing")
			}
			for _, name := range []string{"stderr", "audit file"} {
				for _, k := range keyLike(outputs[name]) {
					if !public[k] {
						t.Errorf("%s contains a value shaped like a 32-byte key: %q", name, k)
					}
				}
			}
			if run.tokenFile != "" && bytes.Contains(run.stderr, []byte(run.tokenFile)) {
				t.Logf("the token file path appears in stderr (allowed; its content does not)")
			}
		})
	}

	t.Run("key-detector-works", func(t *testing.T) {
		// The detector itself must find what it looks for, or the checks above prove nothing.
		key := bytes.Repeat([]byte{0xa5, 0x3c}, 16)
		for _, enc := range []string{
			strings.Repeat("ab12", 16),
			base64.StdEncoding.EncodeToString(key),
			base64.RawURLEncoding.EncodeToString(key),
		} {
			if got := keyLike([]byte("time=1 key=" + enc + " msg=x")); len(got) != 1 {
				t.Errorf("keyLike missed %q", enc)
			}
		}
		if got := keyLike([]byte("GET /organizations/" + sandbox.OrgID + "/runs/" + sandbox.IDs.ActiveRun)); len(got) != 0 {
			t.Errorf("keyLike flags a plain request path: %q", got)
		}
		// Three quarters of a token, or any quarter of it, is found.
		for _, tok := range []string{madeUpToken, longAdminToken, sandbox.AdminToken} {
			forms := secretForms(tok)
			for _, part := range []string{tok[:len(tok)*3/4], tok[len(tok)/4:], tok[len(tok)/3 : len(tok)/3+max(8, len(tok)/4)]} {
				if !slices.ContainsFunc(forms, func(f string) bool { return strings.Contains(part, f) }) {
					t.Errorf("secretForms(%q) misses the part %q", tok, part)
				}
			}
		}
		// A token sealed inside a confirm_token is found once decoded.
		payload := base64.RawURLEncoding.EncodeToString([]byte(`{"o":"x","a":"` + longAdminToken + `"}`))
		if got := sealedPayloads([]byte(`"confirm_token":"tcf1.` + payload + `.bWFj"`)); !bytes.Contains(got, []byte(longAdminToken)) {
			t.Errorf("sealedPayloads did not decode the payload: %q", got)
		}
	})
}

// secretForms is the token and every window of a quarter of it (at least 8 characters): a
// log that clipped, masked or split the token anywhere still shows one of them whole.
func secretForms(token string) []string {
	forms := []string{token, "Bearer " + token}
	w := max(8, len(token)/4)
	for i := 0; i+w <= len(token); i++ {
		forms = append(forms, token[i:i+w])
	}
	return forms
}

var sealedToken = regexp.MustCompile(`tcf1\.([A-Za-z0-9_-]+)\.[A-Za-z0-9_-]+`)

// sealedPayloads decodes the payload of every confirm_token and elicitation state (tcf1.…)
// found in outs, one per line.
func sealedPayloads(outs ...[]byte) []byte {
	var b bytes.Buffer
	for _, out := range outs {
		for _, m := range sealedToken.FindAllSubmatch(out, -1) {
			if p, err := base64.RawURLEncoding.DecodeString(string(m[1])); err == nil {
				b.Write(p)
				b.WriteByte('\n')
			}
		}
	}
	return b.Bytes()
}

var (
	hex64  = regexp.MustCompile(`[0-9a-fA-F]{64,}`)
	b64Key = regexp.MustCompile(`(?:^|[^A-Za-z0-9_\-+/])([A-Za-z0-9_\-+/]{43}=?)(?:$|[^A-Za-z0-9_\-+/=])`)
)

// keyLike finds values that could be a 32-byte key: 64 hex digits, or base64 (standard or
// URL alphabet, padded or not) decoding to exactly 32 bytes that is not plain text.
// publicValues are the 32-byte values that are public by design: the public key approval
// records are signed with (logged at startup when no --approval-key-file is given) and each
// approval record's argument digest (a SHA-256 anyone can recompute from its items).
func publicValues(stderr, audit []byte) map[string]bool {
	out := map[string]bool{}
	for _, m := range publicKeyLog.FindAllSubmatch(stderr, -1) {
		out[string(m[1])] = true
	}
	for _, line := range bytes.Split(audit, []byte("\n")) {
		var rec tools.Record
		if json.Unmarshal(line, &rec) == nil && rec.Approval != nil {
			out[rec.Approval.ArgumentDigest] = true
		}
	}
	return out
}

var publicKeyLog = regexp.MustCompile(`public_key"?[=:]"?([A-Za-z0-9+/]{43}=)`)

func keyLike(b []byte) []string {
	var out []string
	for _, m := range hex64.FindAll(b, -1) {
		out = append(out, string(m))
	}
	for _, m := range b64Key.FindAllSubmatch(b, -1) {
		s := string(m[1])
		if strings.Contains(s, "/") && strings.Count(s, "/") > 1 {
			continue // a path, not a key
		}
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
			if d, err := enc.DecodeString(s); err == nil && len(d) == 32 {
				out = append(out, s)
				break
			}
		}
	}
	return out
}

func around(b []byte, i, n int) []byte {
	lo, hi := max(0, i-n), min(len(b), i+n)
	return b[lo:hi]
}

// TestStartupErrorsHideSecrets starts the binary with configurations it must refuse, each
// carrying the token somewhere, and checks that it exits non-zero with a message on stderr,
// writes nothing to stdout, and never echoes the token.
func TestStartupErrorsHideSecrets(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	emptyFile := filepath.Join(dir, "empty-token")
	if err := os.WriteFile(emptyFile, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tok := madeUpToken
	cases := []struct {
		name     string
		env      map[string]string
		args     []string
		wantExit int // -1: any non-zero
		wantErr  string
	}{ // env values "" unset the variable
		{"base URL with the token as password", map[string]string{"TALLYFY_BASE_URL": "http://user:" + tok + "@127.0.0.1:1/api"}, nil, -1, "credentials"},
		{"unparsable base URL holding the token", map[string]string{"TALLYFY_BASE_URL": "http://user:" + tok + "@[::1"}, nil, -1, "base URL"},
		{"base URL with the token in its query", map[string]string{"TALLYFY_BASE_URL": "https://go.tallyfy.com/api?access_token=" + tok}, nil, -1, "query"},
		{"base URL with the token in its fragment", map[string]string{"TALLYFY_BASE_URL": "https://go.tallyfy.com/api#" + tok}, nil, -1, "fragment"},
		{"bad organization id", map[string]string{"TALLYFY_ORG_ID": "not-an-org"}, nil, -1, "organization"},
		{"missing token file", map[string]string{"TALLYFY_ACCESS_TOKEN": ""}, []string{"--token-file", filepath.Join(dir, "nope")}, -1, "token"},
		{"empty token file", map[string]string{"TALLYFY_ACCESS_TOKEN": ""}, []string{"--token-file", emptyFile}, -1, "empty"},
		{"unknown transport", nil, []string{"--transport", "carrier-pigeon"}, -1, "transport"},
		{"unknown flag after the token flag", nil, []string{"--access-token", tok, "--no-such-flag"}, -1, "no-such-flag"},
		{"unknown tool in --tools", nil, []string{"--tools", "get_task,drop_database"}, -1, "drop_database"},
		{"help", nil, []string{"--help"}, 0, "TALLYFY_ACCESS_TOKEN"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"TALLYFY_ACCESS_TOKEN": tok, "TALLYFY_ORG_ID": sandbox.OrgID, "TALLYFY_BASE_URL": "http://127.0.0.1:1/api"}
			for k, v := range c.env {
				if v == "" {
					delete(env, k)
				} else {
					env[k] = v
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, harness.Path(), c.args...)
			cmd.Env = harness.CleanEnv(env)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := cmd.ProcessState.ExitCode()
			if c.wantExit == 0 && err != nil || c.wantExit != 0 && code == 0 {
				t.Errorf("exit %d (%v), want %d (-1: non-zero)", code, err, c.wantExit)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout is not empty: %q", clipBytes(stdout.Bytes(), 300))
			}
			if !strings.Contains(stderr.String(), c.wantErr) {
				t.Errorf("stderr lacks %q: %s", c.wantErr, stderr.String())
			}
			for _, secret := range secretForms(tok) {
				if strings.Contains(stderr.String(), secret) {
					t.Errorf("stderr echoes the token: %s", stderr.String())
					break
				}
			}
		})
	}
}
