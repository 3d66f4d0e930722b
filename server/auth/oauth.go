package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	mcpserver "github.com/mark3labs/mcp-go/server"
	"golang.org/x/sync/singleflight"

	"github.com/tallyfy-mcp/tallyfy-mcp/logsafe"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
)

// The scopes an OAuth access token needs, per tier. Permanent delete has its own scope, which
// an authorization server should leave out of the default grant.
const (
	ScopeRead      = "tallyfy.read"
	ScopeLifecycle = "tallyfy.lifecycle"
	ScopeDelete    = "tallyfy.delete"
)

var tierScope = map[tools.Tier]string{tools.TierRead: ScopeRead, tools.TierLifecycle: ScopeLifecycle, tools.TierPermanent: ScopeDelete}

// asymmetricAlgs are the only signature algorithms accepted: never "none", never HMAC (an
// HS256 token "signed" with the issuer's public key must not verify).
var asymmetricAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA}

// OAuth is the resource-server side of the MCP authorization spec: it validates bearer JWTs
// from one issuer for one audience (this server's resource URL) and serves the RFC 9728
// protected-resource metadata.
type OAuth struct {
	issuer, audience string
	metadataURL      string // absolute URL of the metadata document, for WWW-Authenticate
	metadata         map[string]http.Handler
	verifier         *oidc.IDTokenVerifier
	keys             *jwksCache
	tokenTypes       []string // normalized (tokenType) typ headers accepted
	maxLifetime      time.Duration
}

// OAuthOptions configure NewOAuth: the --oauth-* flags, which the configuration has checked
// (CheckTokenTypes, a lifetime over 0).
type OAuthOptions struct {
	Issuer, Audience string
	TokenTypes       []string      // typ headers accepted
	MaxLifetime      time.Duration // longest exp - iat accepted
	HTTP             *http.Client  // fetches discovery and keys (redirect rules are added)
}

// The clock skew allowed for a token's iat: a token issued later than now plus this is refused.
const iatSkew = time.Minute

// jwksRefreshTimeout bounds one fetch of the issuer's keys, whoever waits for it.
const jwksRefreshTimeout = 5 * time.Second

// NewOAuth discovers the issuer's keys (OpenID Connect discovery, else RFC 8414 metadata),
// fetches them once, and returns the validator.
func NewOAuth(ctx context.Context, opts OAuthOptions) (*OAuth, error) {
	issuer, audience := opts.Issuer, opts.Audience
	au, err := url.Parse(audience)
	if err != nil || (au.Scheme != "https" && au.Scheme != "http") || au.Host == "" {
		return nil, fmt.Errorf("--oauth-audience %q must be this server's resource URL, e.g. https://mcp.example.com/mcp", audience)
	}
	if iu, err := url.Parse(issuer); err != nil || iu.Host == "" || (iu.Scheme != "https" && iu.Scheme != "http") {
		return nil, fmt.Errorf("--oauth-issuer %q must be the authorization server's issuer URL, e.g. https://login.example.com/realms/acme", issuer)
	} else if err := requireHTTPS("--oauth-issuer", iu); err != nil {
		return nil, err
	}
	hc := oauthHTTPClient(opts.HTTP)
	jwksURI, err := discoverJWKS(ctx, issuer, hc)
	if err != nil {
		return nil, err
	}
	o := &OAuth{issuer: issuer, audience: audience, maxLifetime: opts.MaxLifetime,
		keys: &jwksCache{url: jwksURI, hc: hc, minInterval: 30 * time.Second, timeout: jwksRefreshTimeout}}
	for _, t := range opts.TokenTypes {
		o.tokenTypes = append(o.tokenTypes, tokenType(t))
	}
	// Read at startup without counting against minInterval, so the first unknown key id after
	// startup can still fetch (the issuer may just have rotated).
	if err := o.keys.fetch(); err != nil {
		return nil, fmt.Errorf("--oauth-issuer %q: its keys (%s) could not be read: %w", issuer, jwksURI, err)
	}
	algs := make([]string, len(asymmetricAlgs))
	for i, a := range asymmetricAlgs {
		algs[i] = string(a)
	}
	// go-oidc checks the signature (through o.keys), iss, aud (equal to the audience or an
	// array that contains it), exp and nbf; validate adds typ, iat, lifetime and sub.
	o.verifier = oidc.NewVerifier(issuer, o.keys, &oidc.Config{ClientID: audience, SupportedSigningAlgs: algs})
	path := mcpserver.ProtectedResourceMetadataPath(audience)
	o.metadataURL = au.Scheme + "://" + au.Host + path
	meta := func(resource string) http.Handler {
		return mcpserver.NewProtectedResourceMetadataHandler(mcpserver.ProtectedResourceMetadataConfig{
			Resource: resource, AuthorizationServers: []string{issuer}, ScopesSupported: []string{ScopeRead, ScopeLifecycle, ScopeDelete},
			BearerMethodsSupported: []string{"header"}, ResourceName: "Tallyfy (tallyfy-mcp)",
		})
	}
	o.metadata = map[string]http.Handler{path: meta(audience)}
	if path != mcpserver.WellKnownProtectedResourcePath {
		// The bare location, which some clients try first. RFC 9728 §3.3: its resource is the
		// identifier the well-known path was inserted into, here the origin alone; tokens are
		// still checked against --oauth-audience.
		o.metadata[mcpserver.WellKnownProtectedResourcePath] = meta(au.Scheme + "://" + au.Host)
	}
	return o, nil
}

// Metadata is the RFC 9728 protected-resource metadata, by path: public, as that RFC requires.
func (o *OAuth) Metadata() map[string]http.Handler { return o.metadata }

// CheckTokenTypes refuses an empty or odd --oauth-token-types.
func CheckTokenTypes(types []string) error {
	if len(types) == 0 {
		return errors.New("--oauth-token-types needs at least one type, e.g. at+jwt,JWT")
	}
	for _, t := range types {
		if n := tokenType(t); n != "at+jwt" && n != "jwt" {
			return fmt.Errorf("--oauth-token-types: %q is not at+jwt or JWT", t)
		}
	}
	return nil
}

// tokenType normalizes a typ header: media types compare case-insensitively, and
// "application/" may be left out (RFC 7515 §4.1.9).
func tokenType(typ string) string {
	t := strings.ToLower(strings.TrimSpace(typ))
	return strings.TrimPrefix(t, "application/")
}

// requireHTTPS refuses a plain-http URL off loopback (as --base-url does): keys and metadata
// read over plain HTTP could be swapped on the way, and with them who is let in.
func requireHTTPS(what string, u *url.URL) error {
	switch {
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && tallyfy.IsLoopbackHost(u.Hostname()):
		return nil
	}
	return fmt.Errorf("%s %s must use https (plain http only on loopback)", what, origin(u))
}

// origin is scheme://host[:port] of u: what is safe to show of a URL.
func origin(u *url.URL) string { return u.Scheme + "://" + u.Host }

// oauthHTTPClient is hc with the redirect rules of every OAuth fetch: at most 5, never to
// another origin, never to plain http off loopback.
func oauthHTTPClient(hc *http.Client) *http.Client {
	c := *hc
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		from := via[0].URL
		switch {
		case len(via) >= 5:
			return errors.New("stopped after 5 redirects")
		case origin(req.URL) != origin(from):
			return fmt.Errorf("refused a redirect from %s to another origin, %s", origin(from), origin(req.URL))
		}
		return requireHTTPS("a redirect to", req.URL)
	}
	return &c
}

// discoveryURLs are where the issuer's metadata may be: OpenID Connect discovery appends the
// well-known path to the issuer; RFC 8414 §3.1 inserts it between the host and the issuer's
// path (https://login.example.com/tenant: /.well-known/oauth-authorization-server/tenant).
func discoveryURLs(issuer string) []string {
	u, _ := url.Parse(issuer)
	p := strings.TrimSuffix(u.EscapedPath(), "/")
	return []string{
		origin(u) + p + "/.well-known/openid-configuration",
		origin(u) + "/.well-known/oauth-authorization-server" + p,
	}
}

// discoverJWKS reads the issuer's metadata document and returns its jwks_uri, checking that
// the document names the same issuer (a mismatch means the wrong URL was configured).
func discoverJWKS(ctx context.Context, issuer string, hc *http.Client) (string, error) {
	var errs []error
	for _, doc := range discoveryURLs(issuer) {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, doc, nil)
		resp, err := hc.Do(req)
		if err != nil {
			cancel()
			errs = append(errs, err)
			continue
		}
		var meta struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		err = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&meta)
		resp.Body.Close()
		cancel()
		switch {
		case resp.StatusCode != http.StatusOK:
			errs = append(errs, fmt.Errorf("%s: status %d", doc, resp.StatusCode))
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: %v", doc, err))
		case meta.Issuer != issuer:
			return "", fmt.Errorf("--oauth-issuer %q: the issuer's metadata names itself %q; use exactly that", issuer, meta.Issuer)
		case meta.JWKSURI == "":
			errs = append(errs, fmt.Errorf("%s: no jwks_uri", doc))
		default:
			ju, err := url.Parse(meta.JWKSURI)
			if err != nil || ju.Host == "" {
				return "", fmt.Errorf("--oauth-issuer %q: its jwks_uri is not a URL", issuer)
			}
			if err := requireHTTPS("--oauth-issuer's jwks_uri", ju); err != nil {
				return "", err
			}
			return meta.JWKSURI, nil
		}
	}
	return "", fmt.Errorf("--oauth-issuer %q: no usable discovery document: %w", issuer, errors.Join(errs...))
}

// jwksCache is the issuer's key set. Known keys are read without waiting (the set is swapped
// whole). A token naming an unknown key id makes it fetch the set again: one fetch at a time
// (singleflight), bounded by its own timeout, at most once per minInterval, so forged tokens
// cannot drive traffic to the issuer, nor hold up anybody else's login.
type jwksCache struct {
	url         string
	hc          *http.Client
	minInterval time.Duration
	timeout     time.Duration
	keys        atomic.Pointer[jose.JSONWebKeySet]
	refreshes   singleflight.Group
	mu          sync.Mutex // guards lastRefresh
	lastRefresh time.Time
}

// fetch reads the key set, within k.timeout whoever is waiting for it.
func (k *jwksCache) fetch() error {
	ctx, cancel := context.WithTimeout(context.Background(), k.timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	resp, err := k.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("JWKS: status %d", resp.StatusCode)
	}
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&set); err != nil {
		return fmt.Errorf("JWKS: %v", err)
	}
	k.keys.Store(&set)
	return nil
}

// refresh fetches the set again unless it was fetched for an unknown key id less than
// minInterval ago. Run only through k.refreshes.
func (k *jwksCache) refresh() (any, error) {
	k.mu.Lock()
	due := k.lastRefresh.IsZero() || time.Since(k.lastRefresh) >= k.minInterval
	if due {
		k.lastRefresh = time.Now()
	}
	k.mu.Unlock()
	if !due {
		return nil, nil
	}
	return nil, k.fetch()
}

// find is the usable signing key kid in the current set, if any.
func (k *jwksCache) find(kid string) *jose.JSONWebKey {
	set := k.keys.Load()
	if set == nil {
		return nil
	}
	for _, key := range set.Keys {
		if key.KeyID == kid && key.Valid() && key.IsPublic() && (key.Use == "" || key.Use == "sig") {
			return &key
		}
	}
	return nil
}

// key finds the public key for kid, fetching the set again when it is not known.
func (k *jwksCache) key(ctx context.Context, kid string) (*jose.JSONWebKey, error) {
	if key := k.find(kid); key != nil {
		return key, nil
	}
	select {
	case r := <-k.refreshes.DoChan("refresh", k.refresh):
		if r.Err != nil {
			return nil, r.Err
		}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if key := k.find(kid); key != nil {
		return key, nil
	}
	return nil, fmt.Errorf("unknown key id %q", kid)
}

// VerifySignature implements oidc.KeySet with go-jose: only asymmetric algorithms parse, the
// key is chosen by kid, and a key that declares its algorithm must match the token's.
func (k *jwksCache) VerifySignature(ctx context.Context, raw string) ([]byte, error) {
	jws, err := jose.ParseSignedCompact(raw, asymmetricAlgs)
	if err != nil {
		return nil, err
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("want exactly one signature")
	}
	h := jws.Signatures[0].Header
	key, err := k.key(ctx, h.KeyID)
	if err != nil {
		return nil, err
	}
	if key.Algorithm != "" && key.Algorithm != h.Algorithm {
		return nil, fmt.Errorf("key %q is for %s, the token says %s", h.KeyID, key.Algorithm, h.Algorithm)
	}
	return jws.Verify(key.Key)
}

// accessClaims are the claims read from a validated token.
type accessClaims struct {
	Subject string `json:"sub"`
	Email   string `json:"email"`
	// EmailVerified is the raw claim: only a JSON true counts (a provider that leaves it out,
	// or sends "true" as a string, has not said it checked the address).
	EmailVerified json.RawMessage `json:"email_verified"`
	Scope         json.RawMessage `json:"scope"` // RFC 9068: space-separated; some issuers: an array
	Scp           json.RawMessage `json:"scp"`   // some issuers: an array, or a string
}

// emailVerified reports whether the token says, explicitly, that its email was verified.
func (c accessClaims) emailVerified() bool {
	return bytes.Equal(bytes.TrimSpace(c.EmailVerified), []byte("true"))
}

// scopes are the granted scopes, from scope and scp, each a space-separated string or an array
// of strings. Anything else grants nothing: a scope decision (403), not a broken token.
func (c accessClaims) scopes() []string {
	var out []string
	for _, raw := range []json.RawMessage{c.Scope, c.Scp} {
		var s string
		var list []string
		switch {
		case len(raw) == 0:
		case json.Unmarshal(raw, &s) == nil:
			out = append(out, strings.Fields(s)...)
		case json.Unmarshal(raw, &list) == nil:
			out = append(out, list...)
		}
	}
	return out
}

// validate checks the token and returns its claims.
func (o *OAuth) validate(ctx context.Context, raw string) (accessClaims, error) {
	var c accessClaims
	jws, err := jose.ParseSignedCompact(raw, asymmetricAlgs)
	if err != nil {
		return c, err
	}
	if len(jws.Signatures) == 1 {
		typ, _ := jws.Signatures[0].Header.ExtraHeaders[jose.HeaderType].(string)
		if !slices.Contains(o.tokenTypes, tokenType(typ)) {
			return c, fmt.Errorf("token type (typ) %q is not one of --oauth-token-types", logsafe.ClipHeader(typ))
		}
	}
	tok, err := o.verifier.Verify(ctx, raw)
	if err != nil {
		return c, err
	}
	if err := tok.Claims(&c); err != nil {
		return c, err
	}
	if c.Subject == "" {
		return c, errors.New("the token has no subject")
	}
	now := time.Now()
	start := now
	if !tok.IssuedAt.IsZero() {
		if tok.IssuedAt.After(now.Add(iatSkew)) {
			return c, fmt.Errorf("the token is issued in the future (iat %s)", tok.IssuedAt.UTC().Format(time.RFC3339))
		}
		start = tok.IssuedAt
	}
	if life := tok.Expiry.Sub(start); life > o.maxLifetime {
		return c, fmt.Errorf("the token lives %s, longer than --oauth-max-token-lifetime %s", life.Round(time.Second), o.maxLifetime)
	}
	if !c.emailVerified() {
		c.Email = ""
	}
	return c, nil
}

// challenge is the WWW-Authenticate value of a 401 (errCode "" when no token was sent) or a
// 403 insufficient_scope.
func (o *OAuth) challenge(errCode, desc, scope string) string {
	parts := []string{fmt.Sprintf("resource_metadata=%q", o.metadataURL)}
	if errCode != "" {
		parts = append(parts, fmt.Sprintf("error=%q", errCode))
	}
	if desc != "" {
		parts = append(parts, fmt.Sprintf("error_description=%q", strings.ReplaceAll(desc, `"`, "'")))
	}
	if scope != "" {
		parts = append(parts, fmt.Sprintf("scope=%q", scope))
	}
	return "Bearer " + strings.Join(parts, ", ")
}

// scopeCap turns granted scopes into a policy cap: a tier whose scope is missing is switched off.
func scopeCap(scopes []string) (tools.Policy, bool) {
	var cap tools.Policy
	if !slices.Contains(scopes, ScopeRead) {
		return cap, false
	}
	cap.ReadOnly = !slices.Contains(scopes, ScopeLifecycle) && !slices.Contains(scopes, ScopeDelete)
	cap.DisablePermanentDelete = !slices.Contains(scopes, ScopeDelete)
	if !slices.Contains(scopes, ScopeLifecycle) && !cap.ReadOnly {
		// delete without lifecycle: read and permanent tools only
		for _, t := range tools.All {
			if t.Tier == tools.TierLifecycle {
				cap.ExcludeTools = append(cap.ExcludeTools, t.Name)
			}
		}
	}
	return cap, true
}
