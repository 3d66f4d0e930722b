package auth

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
)

// TestIdentifyGivesEveryAcceptedCallerAKey: with any bearer authentication configured
// (--auth-token, a callers file, or both), every request Identify lets in carries a caller
// with a Key, whatever its Authorization header looks like; with none configured, nobody is
// named. So nothing keyed by caller (confirm binding, cancel scope, rate limit, session
// ownership) ever needs the bearer token itself: the bearer-hash fallbacks it once had were
// unreachable. (An OAuth caller's Binding is "oauth:" + issuer + "|" + subject, never empty.)
func TestIdentifyGivesEveryAcceptedCallerAKey(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "callers.json")
	writeCallers(t, file, map[string]any{"name": "alice", "token_sha256": sha("tok-alice"), "tallyfy_token_env": "T"},
		map[string]any{"name": "bob", "token_sha256": sha("tok-bob"), "tallyfy_token_env": "T"})
	callers, err := LoadCallers(file, tallyfy.Config{BaseURL: "http://127.0.0.1:1", OrgID: sandbox.OrgID}, func(string) string { return "a-tallyfy-token" })
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	headers := []string{"", "Bearer", "Bearer ", "Basic dG9rLWFsaWNl", "Bearer wrong", "Bearer the-auth-token", "bearer   the-auth-token  ",
		"BEARER the-auth-token", "Bearer tok-alice", "Bearer  tok-bob ", "Bearertok-alice", "Token tok-alice"}
	for _, tc := range []struct {
		name     string
		a        *Authenticator
		accepted map[string]string // header -> the key it must get; every other header is refused
	}{
		{"open loopback", New("", nil, nil, false, log), nil},
		{"--auth-token", New("the-auth-token", nil, nil, true, log), map[string]string{
			"Bearer the-auth-token": "bearer", "bearer   the-auth-token  ": "bearer", "BEARER the-auth-token": "bearer"}},
		{"--callers", New("", callers, nil, false, log), map[string]string{
			"Bearer tok-alice": "caller:callers:alice", "Bearer  tok-bob ": "caller:callers:bob"}},
		{"--callers and --auth-token", New("the-auth-token", callers, nil, true, log), map[string]string{
			"Bearer the-auth-token": "bearer", "bearer   the-auth-token  ": "bearer", "BEARER the-auth-token": "bearer",
			"Bearer tok-alice": "caller:callers:alice", "Bearer  tok-bob ": "caller:callers:bob"}},
		// Without the server's own Tallyfy token the --auth-token caller has no identity: refused.
		{"--callers and --auth-token, no own token", New("the-auth-token", callers, nil, false, log), map[string]string{
			"Bearer tok-alice": "caller:callers:alice", "Bearer  tok-bob ": "caller:callers:bob"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tokenKey := ""
			for _, h := range headers {
				r := httptest.NewRequest(http.MethodPost, "/mcp", strings.NewReader("{}"))
				if h != "" {
					r.Header.Set("Authorization", h)
				}
				who, _, refused := tc.a.Identify(r)
				want, accept := tc.accepted[h]
				switch {
				case tc.accepted == nil:
					if who != nil || refused != nil {
						t.Fatalf("%q on an open server: caller %+v, refusal %+v", h, who, refused)
					}
				case !accept:
					if who != nil || refused == nil || refused.Status != http.StatusUnauthorized || !strings.HasPrefix(refused.Msg, "Unauthorized: ") ||
						refused.Challenge != `Bearer realm="tallyfy-mcp"` {
						t.Fatalf("%q was not refused with 401: caller %+v, refusal %+v", h, who, refused)
					}
				case refused != nil || who == nil || who.Key() == "":
					t.Fatalf("%q: caller %+v without a key (refusal %+v)", h, who, refused)
				case want == "bearer":
					// The --auth-token caller: one key for every spelling of the token, and
					// never the token itself.
					if !strings.HasPrefix(who.Key(), "caller:bearer:") || strings.Contains(who.Key(), "the-auth-token") ||
						(tokenKey != "" && who.Key() != tokenKey) {
						t.Fatalf("%q: key %q (the token's other spellings: %q)", h, who.Key(), tokenKey)
					}
					tokenKey = who.Key()
				case who.Key() != want:
					t.Fatalf("%q: key %q, want %q", h, who.Key(), want)
				}
			}
		})
	}
}
