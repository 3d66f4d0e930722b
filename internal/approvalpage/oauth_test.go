package approvalpage

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tallyfy-mcp/tallyfy-mcp/internal/harness"
	"github.com/tallyfy-mcp/tallyfy-mcp/internal/testkit"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
)

// issuer is an in-process OpenID provider on loopback: discovery, JWKS, an authorization
// endpoint that logs in whoever the test says is at the browser (no password page: the test
// is about the server's side), and a token endpoint that checks the PKCE verifier.
type issuer struct {
	*httptest.Server
	key      *rsa.PrivateKey
	clientID string
	mu       sync.Mutex
	user     string                // who is "logged in" at the issuer
	codes    map[string][2]string  // code -> {challenge, user}
	pkceBad  int                   // token requests refused for a wrong verifier
	seen     map[string]url.Values // what /authorize was asked, by state
}

func newIssuer(t *testing.T, clientID string) *issuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	is := &issuer{key: key, clientID: clientID, codes: map[string][2]string{}, seen: map[string]url.Values{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": is.URL, "jwks_uri": is.URL + "/jwks",
			"authorization_endpoint": is.URL + "/authorize", "token_endpoint": is.URL + "/token",
			"id_token_signing_alg_values_supported": []string{"RS256"}, "code_challenge_methods_supported": []string{"S256"}})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	})
	mux.HandleFunc("/authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		is.mu.Lock()
		defer is.mu.Unlock()
		is.seen[q.Get("state")] = q
		if q.Get("client_id") != is.clientID || q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" {
			http.Error(w, "bad authorization request", http.StatusBadRequest)
			return
		}
		code := randomCode()
		is.codes[code] = [2]string{q.Get("code_challenge"), is.user}
		http.Redirect(w, r, q.Get("redirect_uri")+"?code="+code+"&state="+url.QueryEscape(q.Get("state")), http.StatusFound)
	})
	mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		is.mu.Lock()
		c, ok := is.codes[r.PostForm.Get("code")]
		delete(is.codes, r.PostForm.Get("code"))
		sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		if ok && base64.RawURLEncoding.EncodeToString(sum[:]) != c[0] {
			is.pkceBad++
			ok = false
		}
		is.mu.Unlock()
		if !ok {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":"invalid_grant"}`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "opaque", "token_type": "Bearer", "expires_in": 300,
			"id_token": is.sign(t, jwt.Claims{Issuer: is.URL, Subject: c[1], Audience: jwt.Audience{is.clientID},
				Expiry: jwt.NewNumericDate(time.Now().Add(5 * time.Minute)), IssuedAt: jwt.NewNumericDate(time.Now())}, nil)})
	})
	is.Server = httptest.NewServer(mux)
	t.Cleanup(is.Close)
	return is
}

func randomCode() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (is *issuer) sign(t *testing.T, c jwt.Claims, extra map[string]any) string {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: is.key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
	if err != nil {
		t.Fatal(err)
	}
	b := jwt.Signed(signer).Claims(c)
	if extra != nil {
		b = b.Claims(extra)
	}
	s, err := b.Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (is *issuer) loginAs(user string) {
	is.mu.Lock()
	is.user = user
	is.mu.Unlock()
}

// freeAddr is a loopback address nothing listens on now, for a server whose own URL (the
// OAuth audience) must be known before it starts.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// TestHTTPApprovalPageOAuthLogin: with --oauth-issuer and --approval-oauth-client-id, the
// approver logs in through the issuer (authorization code with PKCE): before logging in the
// page offers no form; another user logged in at the issuer may not decide; the requester can,
// and the delete then names them. Both protocol versions.
func TestHTTPApprovalPageOAuthLogin(t *testing.T) {
	for _, era := range testkit.Eras {
		t.Run(era.Name, func(t *testing.T) {
			const clientID = "tallyfy-mcp-approvals"
			is := newIssuer(t, clientID)
			_, sbURL := testkit.StartSandbox(t)
			addr := freeAddr(t)
			audience := "http://" + addr + "/mcp"
			audit, key := testkit.AuditPath(t), approvalKeyFile(t)
			b := harness.Run(t, harness.MinimalEnv(t, "TALLYFY_ACCESS_TOKEN="+sandbox.AdminToken), "--transport", "http", "--addr", addr,
				"--base-url", sbURL, "--org-id", sandbox.OrgID, "--tallyfy-rate", "0", "--oauth-issuer", is.URL, "--oauth-audience", audience,
				"--approval-oauth-client-id", clientID, "--audit-log", audit, "--approval-key-file", key)
			base := b.ListenURL(t)
			access := is.sign(t, jwt.Claims{Issuer: is.URL, Subject: "alice", Audience: jwt.Audience{audience},
				Expiry: jwt.NewNumericDate(time.Now().Add(time.Hour))}, map[string]any{"scope": "tallyfy.read tallyfy.lifecycle tallyfy.delete"})
			c := testkit.ConnectHTTP(t, testkit.Streamable, base, testkit.ClientOpts{Era: era, Headers: map[string]string{"Authorization": "Bearer " + access}})
			t.Cleanup(func() { _ = c.Close() })

			args := map[string]any{"run_id": sandbox.IDs.ArchivedRun}
			res, text := call(t, c, "delete_run", args)
			if status(t, res) != "approval_pending" || !strings.Contains(text, "identity provider") {
				t.Fatalf("first call: %s", text)
			}
			id, _ := testkit.Field(testkit.Structured(t, res), "approval_id").(string)
			ctx := browser(t)
			page := open(t, ctx, base+"/approve/"+id)
			contains(t, "before login", page, "Onboarding - Sam Patel", "log in through your organization's identity provider")
			if strings.Contains(page, "Delete 1 item") {
				t.Fatal("a decision form before any login")
			}

			// Mallory is logged in at the issuer: she gets in, but may not decide on alice's request.
			is.loginAs("mallory")
			page = clickLogin(t, ctx)
			contains(t, "mallory logged in", page, "Logged in as mallory")
			page = submit(t, ctx, map[string]string{"confirm": "Onboarding - Sam Patel (offer withdrawn)"}, "approve")
			contains(t, "another user", page, "may not decide")
			if _, text := call(t, c, "delete_run", args); !strings.Contains(text, "Still waiting") {
				t.Fatalf("after mallory: %s", text)
			}

			is.loginAs("alice")
			open(t, ctx, base+"/approve/"+id)
			if err := chromedpClearCookies(ctx); err != nil {
				t.Fatal(err)
			}
			open(t, ctx, base+"/approve/"+id)
			page = clickLogin(t, ctx)
			contains(t, "alice logged in", page, "Logged in as alice")
			page = submit(t, ctx, map[string]string{"confirm": "Onboarding - Sam Patel (offer withdrawn)"}, "approve")
			contains(t, "alice approves", page, "Approved by alice")
			res, text = call(t, c, "delete_run", args)
			if m := testkit.Structured(t, res); m["status"] != "deleted" || m["confirmed_by"] != "alice" || m["confirmation"] != "approval_page" {
				t.Fatalf("after approval: %s", text)
			}
			is.mu.Lock()
			bad := is.pkceBad
			is.mu.Unlock()
			if bad != 0 {
				t.Fatalf("%d token requests with a wrong PKCE verifier", bad)
			}
			if out, code := verify(t, key, audit); code != 0 {
				t.Fatalf("approvals verify (exit %d):\n%s", code, out)
			}
		})
	}
}

// clickLogin follows the page's login link through the issuer and back.
func clickLogin(t *testing.T, ctx context.Context) string {
	t.Helper()
	if err := chromedp.Run(ctx, chromedp.Click("#login", chromedp.ByID), chromedp.Sleep(500*time.Millisecond), chromedp.WaitReady("main", chromedp.ByQuery)); err != nil {
		t.Fatalf("logging in: %v", err)
	}
	return pageText(t, ctx)
}

func chromedpClearCookies(ctx context.Context) error {
	return chromedp.Run(ctx, network.ClearBrowserCookies())
}
