package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
)

// issuer is an in-process authorization server on loopback: OpenID discovery, a JWKS with one
// RSA key ("k1"), and a signer for test tokens.
type issuer struct {
	*httptest.Server
	key             *rsa.PrivateKey
	jwksservedCount atomic.Int32
}

func newIssuer(t *testing.T) *issuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	is := &issuer{key: key}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": is.URL, "jwks_uri": is.URL + "/jwks",
			"authorization_endpoint": is.URL + "/authorize", "token_endpoint": is.URL + "/token"})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, _ *http.Request) {
		is.jwksservedCount.Add(1)
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	})
	is.Server = httptest.NewServer(mux)
	t.Cleanup(is.Close)
	return is
}

type tokenOpts struct {
	iss, aud, sub, scope string
	extra                map[string]any // more claims
	exp                  time.Time
	kid                  string
	key                  any // signing key; default the issuer's
	alg                  jose.SignatureAlgorithm
}

func (is *issuer) token(t *testing.T, aud string, o tokenOpts) string {
	t.Helper()
	if o.iss == "" {
		o.iss = is.URL
	}
	if o.aud == "" {
		o.aud = aud
	}
	if o.sub == "" {
		o.sub = "user-123"
	}
	if o.exp.IsZero() {
		o.exp = time.Now().Add(time.Hour)
	}
	if o.kid == "" {
		o.kid = "k1"
	}
	if o.key == nil {
		o.key = is.key
	}
	if o.alg == "" {
		o.alg = jose.RS256
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: o.alg, Key: o.key}, (&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", o.kid))
	if err != nil {
		t.Fatal(err)
	}
	claims := map[string]any{"iss": o.iss, "aud": o.aud, "sub": o.sub, "exp": o.exp.Unix(), "iat": time.Now().Unix(), "scope": o.scope}
	for k, v := range o.extra {
		claims[k] = v
	}
	raw, err := jwt.Signed(sig).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// unsignedToken is a JWT with alg "none" (header.payload.), which must never be accepted.
func unsignedToken(iss, aud string) string {
	enc := func(v any) string { b, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(b) }
	return enc(map[string]any{"alg": "none", "typ": "JWT", "kid": "k1"}) + "." +
		enc(map[string]any{"iss": iss, "aud": aud, "sub": "user-123", "exp": time.Now().Add(time.Hour).Unix(), "scope": "tallyfy.read tallyfy.lifecycle tallyfy.delete"}) + "."
}

// TestOAuthResourceServer: the server accepts only access tokens its issuer signed for its
// resource URL, answers each refusal with the right status and WWW-Authenticate, serves the
// protected-resource metadata, and never passes the OAuth token to Tallyfy.
func TestOAuthResourceServer(t *testing.T) {
	t.Parallel()
	is := newIssuer(t)
	sb := newSpySandbox(t)
	const resource = "http://127.0.0.1:9999/mcp" // this server's canonical URL (behind a proxy in real life)
	f := newReplica(t, sb, "--oauth-issuer", is.URL, "--oauth-audience", resource)
	metaURL := "http://127.0.0.1:9999/.well-known/oauth-protected-resource/mcp"
	all := "tallyfy.read tallyfy.lifecycle"

	post := func(tok, body string, headers ...string) (int, http.Header, string) {
		h := map[string]string{}
		if tok != "" {
			h["Authorization"] = "Bearer " + tok
		}
		for i := 0; i+1 < len(headers); i += 2 {
			h[headers[i]] = headers[i+1]
		}
		return rawPost(t, f.URL+"/mcp", body, h)
	}

	t.Run("metadata", func(t *testing.T) {
		// RFC 9728 §3.3: each document's resource is the identifier its well-known path was
		// inserted into: the resource URL for the suffixed one, the origin for the bare one.
		for p, want := range map[string]string{"/.well-known/oauth-protected-resource/mcp": resource, "/.well-known/oauth-protected-resource": "http://127.0.0.1:9999"} {
			resp, err := http.Get(f.URL + p)
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&m)
			resp.Body.Close()
			servers, _ := m["authorization_servers"].([]any)
			if resp.StatusCode != 200 || m["resource"] != want || len(servers) != 1 || servers[0] != is.URL ||
				jsonStr(m["scopes_supported"]) != `["tallyfy.read","tallyfy.lifecycle","tallyfy.delete"]` {
				t.Fatalf("GET %s: %d %v", p, resp.StatusCode, m)
			}
		}
	})

	t.Run("a valid token is accepted and never reaches Tallyfy", func(t *testing.T) {
		tok := is.token(t, resource, tokenOpts{scope: all})
		status, _, body := post(tok, initBody)
		if status != 200 {
			t.Fatalf("initialize with a valid token: %d %s", status, body)
		}
		c := connectHTTP(t, kindStreamable, f.URL, clientOpts{era: modernEra, headers: map[string]string{"Authorization": "Bearer " + tok}})
		defer c.Close()
		names := toolNames(t, ctxT(t, 10*time.Second), c)
		if len(names) != 14 || strings.Contains(strings.Join(names, ","), "delete") {
			t.Fatalf("without tallyfy.delete the tools are %v; want the 14 read and lifecycle tools (bulk ones included)", names)
		}
		if res := mustCall(t, ctxT(t, 10*time.Second), c, "get_task", map[string]any{"task_id": sandbox.IDs.LiveTask}); res.IsError {
			t.Fatal(text(res))
		}
		for _, r := range sb.Done() {
			if r.Auth != "Bearer "+sandbox.AdminToken {
				t.Fatalf("Tallyfy received %q", r.Auth)
			}
		}
	})

	t.Run("no token: 401 naming the metadata", func(t *testing.T) {
		status, hdr, _ := post("", initBody)
		ch := hdr.Get("WWW-Authenticate")
		if status != 401 || !strings.HasPrefix(ch, "Bearer ") || !strings.Contains(ch, `resource_metadata="`+metaURL+`"`) || strings.Contains(ch, "error=") {
			t.Fatalf("%d %q", status, ch)
		}
	})

	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pubPEM := func() []byte {
		der, _ := x509.MarshalPKIXPublicKey(&is.key.PublicKey)
		return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	}()
	for _, tc := range []struct {
		name string
		tok  func() string
		why  string // in the server's debug log (text format, quotes escaped): refused for this reason, not another
	}{
		{"wrong audience", func() string { return is.token(t, resource, tokenOpts{aud: "http://127.0.0.1:9999/other", scope: all}) }, "expected audience"},
		{"wrong issuer", func() string { return is.token(t, resource, tokenOpts{iss: "https://evil.example", scope: all}) }, "issued by a different provider"},
		{"expired", func() string { return is.token(t, resource, tokenOpts{exp: time.Now().Add(-time.Minute), scope: all}) }, "token is expired"},
		{"alg none", func() string { return unsignedToken(is.URL, resource) }, `unexpected signature algorithm \"none\"`},
		{"HS256 signed with the public key", func() string {
			return is.token(t, resource, tokenOpts{alg: jose.HS256, key: pubPEM, scope: all})
		}, `unexpected signature algorithm \"HS256\"`},
		{"unknown key id", func() string { return is.token(t, resource, tokenOpts{kid: "k2", key: other, scope: all}) }, `unknown key id \"k2\"`},
		{"known key id, another key", func() string { return is.token(t, resource, tokenOpts{key: other, scope: all}) }, "error in cryptographic primitive"},
		{"another algorithm than the key's", func() string { return is.token(t, resource, tokenOpts{alg: jose.ES256, key: ec, scope: all}) }, "is for RS256, the token says ES256"},
		{"not a JWT", func() string { return "opaque-token-abc" }, "compact JWS format must have three parts"},
	} {
		t.Run(tc.name+": 401 invalid_token", func(t *testing.T) {
			tok := tc.tok()
			status, hdr, body := post(tok, initBody)
			ch := hdr.Get("WWW-Authenticate")
			if status != 401 || !strings.Contains(ch, `error="invalid_token"`) || !strings.Contains(ch, `resource_metadata="`+metaURL+`"`) {
				t.Fatalf("%d %q %s", status, ch, body)
			}
			if !strings.Contains(f.Logs.String(), tc.why) {
				t.Fatalf("refused, but the log does not give the reason %q:\n%s", tc.why, f.Logs.String())
			}
			if strings.Contains(f.Logs.String(), tok) {
				t.Fatal("the log holds the token")
			}
		})
	}

	t.Run("forged key ids do not hammer the issuer", func(t *testing.T) {
		before := is.jwksServed()
		for range 20 {
			post(is.token(t, resource, tokenOpts{kid: "forged", key: other, scope: all}), initBody)
		}
		if n := is.jwksServed() - before; n > 1 {
			t.Fatalf("20 forged tokens caused %d JWKS fetches", n)
		}
	})

	t.Run("a missing scope: 403 insufficient_scope", func(t *testing.T) {
		call := `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"delete_task","arguments":{"task_id":"` + sandbox.IDs.ArchivedTask + `"}}}`
		tok := is.token(t, resource, tokenOpts{scope: all})
		// Legacy request: the tool name is read from the body.
		status, hdr, _ := post(tok, call, "Mcp-Session-Id", "mcp-session-00000000-0000-0000-0000-000000000000")
		ch := hdr.Get("WWW-Authenticate")
		if status != 403 || !strings.Contains(ch, `error="insufficient_scope"`) || !strings.Contains(ch, `scope="tallyfy.delete"`) || !strings.Contains(ch, "resource_metadata=") {
			t.Fatalf("delete without tallyfy.delete: %d %q", status, ch)
		}
		// Modern request: from the Mcp-Name header.
		status, hdr, _ = post(is.token(t, resource, tokenOpts{scope: "tallyfy.read"}),
			strings.Replace(call, "delete_task", "archive_task", 1), "Mcp-Method", "tools/call", "Mcp-Name", "archive_task", "Mcp-Protocol-Version", "2026-07-28")
		if ch := hdr.Get("WWW-Authenticate"); status != 403 || !strings.Contains(ch, `scope="tallyfy.lifecycle"`) {
			t.Fatalf("archive without tallyfy.lifecycle: %d %q", status, ch)
		}
		// No tallyfy.read at all.
		status, hdr, _ = post(is.token(t, resource, tokenOpts{scope: "profile"}), initBody)
		if ch := hdr.Get("WWW-Authenticate"); status != 403 || !strings.Contains(ch, `scope="tallyfy.read"`) {
			t.Fatalf("no tallyfy.read: %d %q", status, ch)
		}
		if _, exists := sb.Lookup("task", sandbox.IDs.ArchivedTask); !exists {
			t.Fatal("deleted without the scope")
		}
	})

	t.Run("with tallyfy.delete the delete tools appear", func(t *testing.T) {
		tok := is.token(t, resource, tokenOpts{scope: all + " tallyfy.delete"})
		c := connectHTTP(t, kindStreamable, f.URL, clientOpts{era: modernEra, headers: map[string]string{"Authorization": "Bearer " + tok}})
		defer c.Close()
		if n := len(toolNames(t, ctxT(t, 10*time.Second), c)); n != len(tools.All) {
			t.Fatalf("%d tools with every scope", n)
		}
	})
}

func (is *issuer) jwksServed() int32 { return is.jwksservedCount.Load() }

func jsonStr(v any) string { b, _ := json.Marshal(v); return string(b) }

// TestOAuthMapsSubjectToCaller: with --callers, the token's subject picks the caller entry
// whose Tallyfy token is used; an unmapped subject is refused.
func TestOAuthMapsSubjectToCaller(t *testing.T) {
	t.Parallel()
	is := newIssuer(t)
	sb := newSpySandbox(t)
	const resource = "http://127.0.0.1:9999/mcp"
	file := t.TempDir() + "/callers.json"
	writeCallers(t, file,
		map[string]any{"name": "mia", "token_sha256": sha("unused-static-token"), "tallyfy_token_env": "MIA_TALLYFY", "oauth_subject": "user-mia"},
		map[string]any{"name": "noah", "token_sha256": sha("unused-static-token-2"), "tallyfy_token_env": "MIA_TALLYFY", "email": "noah@example.com"})
	all := []string{"--transport", "http", "--base-url", sb.URL, "--org-id", sandbox.OrgID, "--callers", file, "--oauth-issuer", is.URL, "--oauth-audience", resource}
	ts := serveQuiet(t, all, "MIA_TALLYFY", sandbox.MemberToken)

	tok := is.token(t, resource, tokenOpts{sub: "user-mia", scope: "tallyfy.read"})
	c := connectHTTP(t, kindStreamable, ts.URL, clientOpts{era: modernEra, headers: map[string]string{"Authorization": "Bearer " + tok}})
	defer c.Close()
	if res := mustCall(t, ctxT(t, 10*time.Second), c, "get_task", map[string]any{"task_id": sandbox.IDs.LiveTask}); res.IsError {
		t.Fatal(text(res))
	}
	reqs := sb.Done()
	if len(reqs) == 0 || reqs[len(reqs)-1].Auth != "Bearer "+sandbox.MemberToken {
		t.Fatalf("Tallyfy received %+v, want mia's own token", reqs)
	}
	status, hdr, body := rawPost(t, ts.URL+"/mcp", initBody, map[string]string{"Authorization": "Bearer " + is.token(t, resource, tokenOpts{sub: "stranger", scope: "tallyfy.read"})})
	if status != 403 || !strings.Contains(body, "callers file") || !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer ") {
		t.Fatalf("unmapped subject: %d %s", status, body)
	}
	// By email: only an address the provider explicitly verified maps (issue 17 point 3).
	for _, tc := range []struct {
		extra map[string]any
		want  int
	}{
		{map[string]any{"email": "Noah@example.com", "email_verified": true}, 200},
		{map[string]any{"email": "noah@example.com"}, 403},
		{map[string]any{"email": "noah@example.com", "email_verified": "true"}, 403},
		{map[string]any{"email": "noah@example.com", "email_verified": false}, 403},
	} {
		tok := is.token(t, resource, tokenOpts{sub: "user-noah", scope: "tallyfy.read", extra: tc.extra})
		if status, _, body := rawPost(t, ts.URL+"/mcp", initBody, map[string]string{"Authorization": "Bearer " + tok}); status != tc.want {
			t.Fatalf("claims %v: %d %s, want %d", tc.extra, status, body, tc.want)
		}
	}
}
