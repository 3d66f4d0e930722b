package server

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
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"

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
	metadataPaths    []string
	metadata         http.Handler
	verifier         *oidc.IDTokenVerifier
	keys             *jwksCache
}

// NewOAuth discovers the issuer's keys (OpenID Connect discovery, else RFC 8414 metadata) and
// returns the validator. hc fetches discovery and keys.
func NewOAuth(ctx context.Context, issuer, audience string, hc *http.Client) (*OAuth, error) {
	au, err := url.Parse(audience)
	if err != nil || (au.Scheme != "https" && au.Scheme != "http") || au.Host == "" {
		return nil, fmt.Errorf("--oauth-audience %q must be this server's resource URL, e.g. https://mcp.example.com/mcp", audience)
	}
	if _, err := url.Parse(issuer); err != nil || !strings.HasPrefix(issuer, "http") {
		return nil, fmt.Errorf("--oauth-issuer %q must be the authorization server's issuer URL", issuer)
	}
	jwksURI, err := discoverJWKS(ctx, issuer, hc)
	if err != nil {
		return nil, err
	}
	o := &OAuth{issuer: issuer, audience: audience, keys: &jwksCache{url: jwksURI, hc: hc, minInterval: 30 * time.Second}}
	algs := make([]string, len(asymmetricAlgs))
	for i, a := range asymmetricAlgs {
		algs[i] = string(a)
	}
	o.verifier = oidc.NewVerifier(issuer, o.keys, &oidc.Config{ClientID: audience, SupportedSigningAlgs: algs})
	path := mcpserver.ProtectedResourceMetadataPath(audience)
	o.metadataURL = au.Scheme + "://" + au.Host + path
	// Both the path-suffixed location (RFC 9728 for a resource with a path) and the bare one
	// that some clients try first.
	o.metadataPaths = []string{path}
	if path != "/.well-known/oauth-protected-resource" {
		o.metadataPaths = append(o.metadataPaths, "/.well-known/oauth-protected-resource")
	}
	o.metadata = mcpserver.NewProtectedResourceMetadataHandler(mcpserver.ProtectedResourceMetadataConfig{
		Resource: audience, AuthorizationServers: []string{issuer}, ScopesSupported: []string{ScopeRead, ScopeLifecycle, ScopeDelete},
		BearerMethodsSupported: []string{"header"}, ResourceName: "Tallyfy (tallyfy-mcp)",
	})
	return o, nil
}

// discoverJWKS reads the issuer's metadata document and returns its jwks_uri, checking that
// the document names the same issuer (a mismatch means the wrong URL was configured).
func discoverJWKS(ctx context.Context, issuer string, hc *http.Client) (string, error) {
	base := strings.TrimSuffix(issuer, "/")
	var errs []error
	for _, p := range []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"} {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+p, nil)
		resp, err := hc.Do(req)
		if err != nil {
			cancel()
			errs = append(errs, err)
			continue
		}
		var doc struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		err = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&doc)
		resp.Body.Close()
		cancel()
		switch {
		case resp.StatusCode != http.StatusOK:
			errs = append(errs, fmt.Errorf("%s: status %d", p, resp.StatusCode))
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: %v", p, err))
		case doc.Issuer != issuer:
			return "", fmt.Errorf("--oauth-issuer %q: the issuer's metadata names itself %q; use exactly that", issuer, doc.Issuer)
		case doc.JWKSURI == "":
			errs = append(errs, fmt.Errorf("%s: no jwks_uri", p))
		default:
			return doc.JWKSURI, nil
		}
	}
	return "", fmt.Errorf("--oauth-issuer %q: no usable discovery document: %w", issuer, errors.Join(errs...))
}

// jwksCache is the issuer's key set. A token naming an unknown key id makes it fetch the set
// again, at most once per minInterval: forged tokens cannot drive traffic to the issuer.
type jwksCache struct {
	url         string
	hc          *http.Client
	minInterval time.Duration
	mu          sync.Mutex
	keys        jose.JSONWebKeySet
	fetched     time.Time
	fetches     int
}

func (k *jwksCache) refresh(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
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
	k.keys = set
	return nil
}

// key finds the public key for kid, fetching the set when it is not known (rate limited).
func (k *jwksCache) key(ctx context.Context, kid string) (*jose.JSONWebKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	find := func() *jose.JSONWebKey {
		for _, key := range k.keys.Keys {
			if key.KeyID == kid && key.Valid() && key.IsPublic() && (key.Use == "" || key.Use == "sig") {
				return &key
			}
		}
		return nil
	}
	if key := find(); key != nil {
		return key, nil
	}
	if !k.fetched.IsZero() && time.Since(k.fetched) < k.minInterval {
		return nil, fmt.Errorf("unknown key id %q", kid)
	}
	k.fetched = time.Now()
	k.fetches++
	if err := k.refresh(ctx); err != nil {
		return nil, err
	}
	if key := find(); key != nil {
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
	// EmailVerified false means the provider did not check the address: it then maps nobody
	// (some providers let people type any address).
	EmailVerified *bool    `json:"email_verified"`
	Scope         string   `json:"scope"` // RFC 9068: space-separated
	Scp           []string `json:"scp"`   // some issuers: an array
}

func (c accessClaims) scopes() []string {
	return append(strings.Fields(c.Scope), c.Scp...)
}

// validate checks the token and returns its claims.
func (o *OAuth) validate(ctx context.Context, raw string) (accessClaims, error) {
	var c accessClaims
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
	if c.EmailVerified != nil && !*c.EmailVerified {
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

// calledTool is the tool a tools/call POST names: from the Mcp-Name header (2026-07-28), else
// from the body, which is read (within limit) and put back for the handler.
func calledTool(r *http.Request, limit int64) (string, bool) {
	if r.Method != http.MethodPost {
		return "", false
	}
	if m := r.Header.Get("Mcp-Method"); m != "" {
		if m != string(mcp.MethodToolsCall) {
			return "", false
		}
		if n := r.Header.Get("Mcp-Name"); n != "" {
			if v, ok := mcp.DecodeHeaderValue(n); ok {
				return v, true
			}
		}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), r.Body))
	if err != nil {
		return "", false
	}
	var msg struct {
		Method string `json:"method"`
		Params struct {
			Name string `json:"name"`
		} `json:"params"`
	}
	if json.Unmarshal(body, &msg) != nil || msg.Method != string(mcp.MethodToolsCall) {
		return "", false
	}
	return msg.Params.Name, true
}
