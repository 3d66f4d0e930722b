package approvalpage

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/tallyfy-mcp/tallyfy-mcp/logsafe"
	"github.com/tallyfy-mcp/tallyfy-mcp/server/auth"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools/confirm"
)

// The approval page's OAuth login (issue 21 point 3, HTTP): with --oauth-issuer and
// --approval-oauth-client-id the approver logs in in their browser through the operator's
// identity provider, an authorization-code flow with PKCE as a client of the same issuer, which
// the model cannot complete. The ID token's subject (mapped through the callers file like an
// access token's) is who decides; tools.DecideApproval checks that they may.

// approvalLogin is the OAuth client of the approval page.
type approvalLogin struct {
	config   oauth2.Config
	verifier *oidc.IDTokenVerifier
	key      []byte // signs the login and session cookies
	callers  *auth.Callers
	hc       *http.Client
}

const (
	loginCookie   = "tallyfy_approve_login"   // state and PKCE verifier, for the callback
	sessionCookie = "tallyfy_approve_session" // who logged in, for the form
	sessionTTL    = 15 * time.Minute
)

// EnableLogin makes the HTTP page log approvers in through the issuer (--oauth-issuer with
// --approval-oauth-client-id and its secret) instead of passphrases: it discovers the issuer
// (OpenID Connect) and sets up the client. Its redirect is /approve/callback on the host of
// --oauth-audience, which must be registered with the issuer for clientID.
func (p *Page) EnableLogin(ctx context.Context, issuer, audience, clientID, clientSecret string, hc *http.Client) error {
	au, err := url.Parse(audience)
	if err != nil || au.Host == "" {
		return fmt.Errorf("--approval-oauth-client-id needs --oauth-audience, this server's URL: %q is not one", audience)
	}
	provider, err := oidc.NewProvider(oidc.ClientContext(ctx, hc), issuer)
	if err != nil {
		return fmt.Errorf("--approval-oauth-client-id: discovering %s: %w", issuer, err)
	}
	p.login = &approvalLogin{
		config: oauth2.Config{ClientID: clientID, ClientSecret: clientSecret, Endpoint: provider.Endpoint(),
			RedirectURL: au.Scheme + "://" + au.Host + "/approve/callback", Scopes: []string{oidc.ScopeOpenID, "email"}},
		verifier: provider.Verifier(&oidc.Config{ClientID: clientID}),
		key:      p.csrfKey, callers: p.callers, hc: hc,
	}
	return nil
}

// sign and open make tamper-proof cookie values: fields joined by "|", then an HMAC.
func (l *approvalLogin) sign(fields ...string) string {
	payload := base64.RawURLEncoding.EncodeToString([]byte(strings.Join(fields, "|")))
	return payload + "." + l.mac(payload)
}

func (l *approvalLogin) mac(payload string) string {
	m := hmac.New(sha256.New, l.key)
	m.Write([]byte(payload))
	return hex.EncodeToString(m.Sum(nil))
}

func (l *approvalLogin) open(value string, n int) ([]string, bool) {
	payload, sig, ok := strings.Cut(value, ".")
	if !ok || !hmac.Equal([]byte(sig), []byte(l.mac(payload))) {
		return nil, false
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return nil, false
	}
	fields := strings.Split(string(b), "|")
	if len(fields) != n {
		return nil, false
	}
	exp, err := strconv.ParseInt(fields[n-1], 10, 64)
	if err != nil || time.Now().Unix() >= exp {
		return nil, false
	}
	return fields, true
}

// start sends the browser to the issuer to log in, for approval id.
func (l *approvalLogin) start(w http.ResponseWriter, r *http.Request, id string) {
	state, verifier := confirm.RandomHex(16), oauth2.GenerateVerifier()
	exp := strconv.FormatInt(time.Now().Add(10*time.Minute).Unix(), 10)
	// Lax: the issuer's redirect back is a top-level cross-site GET, which must carry it.
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: l.sign(id, state, verifier, exp), Path: "/approve/", HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil, MaxAge: 600})
	http.Redirect(w, r, l.config.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)), http.StatusFound)
}

// callback takes the issuer's answer: checks the state, redeems the code with the PKCE
// verifier, verifies the ID token, and keeps who logged in in a signed session cookie.
func (l *approvalLogin) callback(w http.ResponseWriter, r *http.Request) (id string, err error) {
	c, cerr := r.Cookie(loginCookie)
	if cerr != nil {
		return "", errors.New("the login started elsewhere or expired: open the approval link again")
	}
	f, ok := l.open(c.Value, 4)
	if !ok || r.URL.Query().Get("state") == "" || !hmac.Equal([]byte(f[1]), []byte(r.URL.Query().Get("state"))) {
		return "", errors.New("the login answer does not belong to this browser's login: open the approval link again")
	}
	id, verifier := f[0], f[2]
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Path: "/approve/", MaxAge: -1})
	if e := r.URL.Query().Get("error"); e != "" {
		return id, fmt.Errorf("the identity provider refused the login (%s)", logsafe.ClipHeader(e))
	}
	ctx := oidc.ClientContext(r.Context(), l.hc)
	tok, err := l.config.Exchange(ctx, r.URL.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		return id, errors.New("the login code could not be redeemed at the identity provider")
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := l.verifier.Verify(ctx, raw)
	if err != nil {
		return id, errors.New("the identity provider's ID token did not verify")
	}
	var claims struct {
		Email         string `json:"email"`
		EmailVerified bool   `json:"email_verified"`
	}
	_ = idt.Claims(&claims)
	name := idt.Subject
	if l.callers != nil { // the same mapping as an access token's (server/auth)
		entry, ok, err := l.callers.ForOAuth(r.Context(), idt.Subject, claims.Email, claims.EmailVerified)
		if err != nil || !ok {
			return id, errors.New("no single entry in the callers file maps this user: ask the operator")
		}
		name = entry.Name
	}
	exp := strconv.FormatInt(time.Now().Add(sessionTTL).Unix(), 10)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: l.sign(name, exp), Path: "/approve/", HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil, MaxAge: int(sessionTTL.Seconds())})
	return id, nil
}

// who is the approver logged in on this browser ("" when none).
func (l *approvalLogin) who(r *http.Request) string {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return ""
	}
	f, ok := l.open(c.Value, 2)
	if !ok {
		return ""
	}
	return f[0]
}
