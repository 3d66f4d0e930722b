package blackbox

// OAuth through the built binary against an in-process issuer with real discovery and JWKS
// (issue 17 points 3, 5, 6, 7 and the refusals that must keep holding): token checks, caller
// mapping, transport rules for discovery and keys, and a slow key refresh that must not hold up
// anybody else's login.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tallyfy-mcp/tallyfy-mcp/internal/harness"
	"github.com/tallyfy-mcp/tallyfy-mcp/internal/testkit"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
)

// oauthAudience is the resource URL the binaries under test are told they are.
const oauthAudience = "http://127.0.0.1:9999/mcp"

// oauthBinary runs the binary over HTTP on a sandbox with OAuth from is, plus args.
func oauthBinary(t *testing.T, is *testkit.Issuer, env []string, args ...string) *harness.Binary {
	t.Helper()
	return runBinary(t, append([]string{"TALLYFY_RATE=0"}, env...), append([]string{"--sandbox", "--transport", "http", "--addr", "127.0.0.1:0",
		"--log-level", "debug", "--oauth-issuer", is.URL, "--oauth-audience", oauthAudience}, args...)...)
}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

// TestOAuthTokenChecksBinary: each token is let in or refused with the right status, and each
// refusal is logged with its own reason (so it is refused for that reason, not another).
func TestOAuthTokenChecksBinary(t *testing.T) {
	t.Parallel()
	is := testkit.NewIssuer(t, testkit.IssuerOpts{})
	b := oauthBinary(t, is, nil)
	url := b.ListenURL(t)
	const all = "tallyfy.read tallyfy.lifecycle"
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&is.Key.PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	tok := func(o testkit.TokenOpts) string {
		if o.Scope == "" {
			o.Scope = all
		}
		return is.Token(t, oauthAudience, o)
	}
	now := time.Now()
	for _, tc := range []struct {
		name   string
		tok    string
		status int
		why    string // in the debug log for a 401
	}{
		{"valid", tok(testkit.TokenOpts{}), 200, ""},
		{"typ JWT (Keycloak, Okta, Entra)", tok(testkit.TokenOpts{Typ: "JWT"}), 200, ""},
		{"typ application/at+jwt", tok(testkit.TokenOpts{Typ: "application/at+jwt"}), 200, ""},
		{"no typ", tok(testkit.TokenOpts{Typ: "-"}), 401, `token type (typ) \"\"`},
		{"typ JOSE", tok(testkit.TokenOpts{Typ: "JOSE"}), 401, `token type (typ) \"JOSE\"`},
		{"iat 30 s ahead (clock skew)", tok(testkit.TokenOpts{Iat: now.Add(30 * time.Second)}), 200, ""},
		{"iat 10 min ahead", tok(testkit.TokenOpts{Iat: now.Add(10 * time.Minute)}), 401, "issued in the future"},
		{"lifetime 48 h", tok(testkit.TokenOpts{Exp: now.Add(48 * time.Hour)}), 401, "longer than --oauth-max-token-lifetime"},
		{"no iat, 48 h left", tok(testkit.TokenOpts{NoIat: true, Exp: now.Add(48 * time.Hour)}), 401, "longer than --oauth-max-token-lifetime"},
		{"aud array holding the audience", tok(testkit.TokenOpts{Aud: []string{"https://other.example/api", oauthAudience}}), 200, ""},
		{"aud array without it", tok(testkit.TokenOpts{Aud: []string{"https://other.example/api"}}), 401, "expected audience"},
		{"scope as a JSON array", tok(testkit.TokenOpts{Extra: map[string]any{"scope": []string{"tallyfy.read"}}}), 200, ""},
		{"scope array without tallyfy.read: a scope decision", tok(testkit.TokenOpts{Extra: map[string]any{"scope": []string{"profile"}}}), 403, ""},
		{"scope an object: grants nothing", tok(testkit.TokenOpts{Extra: map[string]any{"scope": map[string]any{"a": 1}}}), 403, ""},
		// Keep holding (issue 17, "Keep holding").
		{"alg none", is.NoneToken(oauthAudience), 401, `unexpected signature algorithm \"none\"`},
		{"HS256 signed with the public key", tok(testkit.TokenOpts{Alg: jose.HS256, Key: pubPEM}), 401, `unexpected signature algorithm \"HS256\"`},
		{"unknown key id", tok(testkit.TokenOpts{Kid: "k2", Key: other}), 401, `unknown key id \"k2\"`},
		{"known key id, another key", tok(testkit.TokenOpts{Key: other}), 401, "error in cryptographic primitive"},
		{"known key id, another algorithm", tok(testkit.TokenOpts{Alg: jose.ES256, Key: ec}), 401, "is for RS256, the token says ES256"},
		{"expired", tok(testkit.TokenOpts{Exp: now.Add(-time.Minute), Iat: now.Add(-time.Hour)}), 401, "token is expired"},
		{"not yet valid (nbf)", tok(testkit.TokenOpts{Extra: map[string]any{"nbf": now.Add(time.Hour).Unix()}}), 401, "before the nbf"},
		{"another issuer", tok(testkit.TokenOpts{Iss: "https://evil.example"}), 401, "issued by a different provider"},
		{"another audience", tok(testkit.TokenOpts{Aud: "http://127.0.0.1:9999/other"}), 401, "expected audience"},
		{"no subject", tok(testkit.TokenOpts{Extra: map[string]any{"sub": nil}}), 401, "no subject"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, hdr, body := testkit.RawPost(t, url+"/mcp", testkit.InitBody, bearer(tc.tok))
			if status != tc.status {
				t.Fatalf("%d %s, want %d; log:\n%s", status, body, tc.status, b.Stderr.String())
			}
			ch := hdr.Get("WWW-Authenticate")
			switch tc.status {
			case 401:
				if !strings.Contains(ch, `error="invalid_token"`) {
					t.Fatalf("401 challenge %q", ch)
				}
				testkit.Eventually(t, 5*time.Second, "the log to give the reason "+tc.why, func() bool { return strings.Contains(b.Stderr.String(), tc.why) })
			case 403:
				if !strings.Contains(ch, `error="insufficient_scope"`) || !strings.Contains(ch, `scope="tallyfy.read"`) {
					t.Fatalf("403 challenge %q", ch)
				}
			}
		})
	}
	if strings.Contains(b.Stderr.String(), tok(testkit.TokenOpts{})[:40]) {
		t.Fatal("the log holds a token")
	}

	t.Run("--oauth-token-types at+jwt refuses JWT", func(t *testing.T) {
		t.Parallel()
		strict := oauthBinary(t, is, nil, "--oauth-token-types", "at+jwt", "--oauth-max-token-lifetime", "72h")
		surl := strict.ListenURL(t)
		for typ, want := range map[string]int{"at+jwt": 200, "JWT": 401} {
			if s, _, body := testkit.RawPost(t, surl+"/mcp", testkit.InitBody, bearer(is.Token(t, oauthAudience, testkit.TokenOpts{Typ: typ, Scope: all, Exp: time.Now().Add(48 * time.Hour)}))); s != want {
				t.Fatalf("typ %s: %d %s, want %d", typ, s, body, want)
			}
		}
	})
}

// TestOAuthStepUpIgnoresHeadersOnOlderProtocol: on an older-protocol request the 403 step-up
// pre-check reads the tool from the body, whatever Mcp-Method/Mcp-Name claim.
func TestOAuthStepUpIgnoresHeadersOnOlderProtocol(t *testing.T) {
	t.Parallel()
	is := testkit.NewIssuer(t, testkit.IssuerOpts{})
	url := oauthBinary(t, is, nil).ListenURL(t)
	tok := is.Token(t, oauthAudience, testkit.TokenOpts{Scope: "tallyfy.read tallyfy.lifecycle"})
	call := `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"delete_task","arguments":{"task_id":"` + sandbox.IDs.ArchivedTask + `"}}}`
	for _, lie := range []map[string]string{
		{"Mcp-Method": "tools/call", "Mcp-Name": "get_task"},
		{"Mcp-Method": "initialize"},
	} {
		h := bearer(tok)
		h["Mcp-Session-Id"] = "mcp-session-00000000-0000-0000-0000-000000000000"
		for k, v := range lie {
			h[k] = v
		}
		status, hdr, body := testkit.RawPost(t, url+"/mcp", call, h)
		if ch := hdr.Get("WWW-Authenticate"); status != 403 || !strings.Contains(ch, `scope="tallyfy.delete"`) {
			t.Fatalf("headers %v on an older-protocol delete_task: %d %q %s; want 403 naming tallyfy.delete", lie, status, ch, body)
		}
	}
}

// TestOAuthDiscoveryBinary: RFC 8414 discovery for an issuer with a path, https required off
// loopback for the issuer and its jwks_uri, redirects followed only within one origin, and the
// bare protected-resource document's resource (RFC 9728 §3.3).
func TestOAuthDiscoveryBinary(t *testing.T) {
	t.Parallel()
	t.Run("issuer with a path, RFC 8414 only", func(t *testing.T) {
		t.Parallel()
		is := testkit.NewIssuer(t, testkit.IssuerOpts{Path: "/tenant-a", RFC8414Only: true})
		url := oauthBinary(t, is, nil).ListenURL(t)
		if s, _, body := testkit.RawPost(t, url+"/mcp", testkit.InitBody, bearer(is.Token(t, oauthAudience, testkit.TokenOpts{Scope: "tallyfy.read"}))); s != 200 {
			t.Fatalf("%d %s", s, body)
		}
		resp, err := http.Get(url + "/.well-known/oauth-protected-resource")
		if err != nil {
			t.Fatal(err)
		}
		var meta map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&meta)
		resp.Body.Close()
		if meta["resource"] != "http://127.0.0.1:9999" {
			t.Fatalf("bare document's resource %v; RFC 9728 §3.3 wants the origin http://127.0.0.1:9999", meta["resource"])
		}
	})
	refusedStart := func(t *testing.T, issuer string, want string) {
		t.Helper()
		b := runBinary(t, nil, "--sandbox", "--transport", "http", "--addr", "127.0.0.1:0", "--oauth-issuer", issuer, "--oauth-audience", oauthAudience)
		if code := b.Wait(t, 30*time.Second); code == 0 || !strings.Contains(b.Stderr.String(), want) {
			t.Fatalf("exit %d; stderr does not say %q:\n%s", code, want, b.Stderr.String())
		}
	}
	t.Run("plain http issuer off loopback", func(t *testing.T) {
		t.Parallel()
		refusedStart(t, "http://login.example.test/realms/acme", "must use https")
	})
	t.Run("plain http jwks_uri off loopback", func(t *testing.T) {
		t.Parallel()
		is := testkit.NewIssuer(t, testkit.IssuerOpts{Doc: func(d map[string]any) { d["jwks_uri"] = "http://keys.example.test/jwks" }})
		refusedStart(t, is.URL, "jwks_uri http://keys.example.test must use https")
	})
	// A loopback server that redirects every request to target's same path.
	redirector := func(t *testing.T, target func() string) *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, target()+r.URL.Path, http.StatusFound)
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	t.Run("discovery redirected to another origin", func(t *testing.T) {
		t.Parallel()
		var frontURL atomic.Value // set once the redirector is up; read by the issuer's handler
		is := testkit.NewIssuer(t, testkit.IssuerOpts{Doc: func(d map[string]any) { d["issuer"] = frontURL.Load() }})
		front := redirector(t, func() string { return is.Server.URL })
		frontURL.Store(front.URL)
		refusedStart(t, front.URL, "refused a redirect from "+front.URL+" to another origin")
	})
	t.Run("keys redirected to another origin", func(t *testing.T) {
		t.Parallel()
		var keysURL atomic.Value // set once the redirector is up; read by the issuer's handler
		is := testkit.NewIssuer(t, testkit.IssuerOpts{Doc: func(d map[string]any) {
			d["jwks_uri"], _ = keysURL.Load().(string)
			d["jwks_uri"] = d["jwks_uri"].(string) + "/jwks"
		}})
		keys := redirector(t, func() string { return is.Server.URL })
		keysURL.Store(keys.URL)
		refusedStart(t, is.URL, "to another origin")
	})
	t.Run("a redirect within the issuer's origin is followed", func(t *testing.T) {
		t.Parallel()
		is := testkit.NewIssuer(t, testkit.IssuerOpts{Path: "/moved", RFC8414Only: true, Routes: func(mux *http.ServeMux, _ *testkit.Issuer) {
			mux.HandleFunc("GET /moved/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "/.well-known/oauth-authorization-server/moved", http.StatusMovedPermanently)
			})
		}})
		url := oauthBinary(t, is, nil).ListenURL(t)
		if s, _, body := testkit.RawPost(t, url+"/mcp", testkit.InitBody, bearer(is.Token(t, oauthAudience, testkit.TokenOpts{Scope: "tallyfy.read"}))); s != 200 {
			t.Fatalf("%d %s", s, body)
		}
	})
}

// TestOAuthSlowKeyRefreshDoesNotHoldUpLogins: while the issuer takes 3 s to answer a key
// refresh that a token with an unknown key id started, five valid logins (a known key) each
// get in without waiting for it.
func TestOAuthSlowKeyRefreshDoesNotHoldUpLogins(t *testing.T) {
	t.Parallel()
	is := testkit.NewIssuer(t, testkit.IssuerOpts{})
	const delay = 3 * time.Second
	is.JWKSDelay.Store(int64(delay))
	url := oauthBinary(t, is, nil).ListenURL(t)
	before := is.JWKSServed()
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	unknown := is.Token(t, oauthAudience, testkit.TokenOpts{Kid: "rotated-k9", Key: other, Scope: "tallyfy.read"})
	// Three at once: one fetch serves them all (singleflight).
	refused := make(chan int, 3)
	for range 3 {
		go func() {
			s, _, _ := testkit.RawPost(t, url+"/mcp", testkit.InitBody, bearer(unknown))
			refused <- s
		}()
	}
	testkit.Eventually(t, 5*time.Second, "the key refresh to reach the issuer", func() bool { return is.JWKSServed() > before })

	var wg sync.WaitGroup
	took := make([]time.Duration, 5)
	status := make([]int, 5)
	for i := range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			status[i], _, _ = testkit.RawPost(t, url+"/mcp", testkit.InitBody, bearer(is.Token(t, oauthAudience, testkit.TokenOpts{Scope: "tallyfy.read"})))
			took[i] = time.Since(start)
		}()
	}
	wg.Wait()
	for i := range 5 {
		if status[i] != 200 || took[i] > delay/2 {
			t.Fatalf("login %d: %d after %s while a %s key refresh ran; all: %v", i, status[i], took[i], delay, took)
		}
	}
	for range 3 {
		if s := <-refused; s != 401 {
			t.Fatalf("a token with an unknown key id: %d, want 401", s)
		}
	}
	if n := is.JWKSServed() - before; n != 1 {
		t.Fatalf("%d key fetches for three tokens with one unknown key id", n)
	}
}
