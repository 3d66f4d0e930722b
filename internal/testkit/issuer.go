package testkit

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Issuer is an in-process authorization server on loopback: discovery (OpenID Connect, or only
// RFC 8414 with IssuerOpts.RFC8414Only), a JWKS with one RSA key ("k1"), and a signer for test
// tokens. Its issuer identifier is URL (the server's URL plus IssuerOpts.Path).
type Issuer struct {
	Server *httptest.Server
	URL    string
	Key    *rsa.PrivateKey
	// JWKSDelay delays every JWKS answer (a slow key server).
	JWKSDelay  atomic.Int64
	jwksServed atomic.Int32
}

// IssuerOpts shape an Issuer.
type IssuerOpts struct {
	Path        string                               // the issuer's path, e.g. "/tenant-a"
	RFC8414Only bool                                 // serve no OpenID discovery
	Doc         func(doc map[string]any)             // changes the discovery document
	Routes      func(mux *http.ServeMux, is *Issuer) // more routes
}

// NewIssuer serves an issuer until the test ends.
func NewIssuer(t testing.TB, o IssuerOpts) *Issuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	is := &Issuer{Key: key}
	mux := http.NewServeMux()
	doc := func(w http.ResponseWriter, _ *http.Request) {
		d := map[string]any{"issuer": is.URL, "jwks_uri": is.Server.URL + "/jwks",
			"authorization_endpoint": is.URL + "/authorize", "token_endpoint": is.URL + "/token"}
		if o.Doc != nil {
			o.Doc(d)
		}
		_ = json.NewEncoder(w).Encode(d)
	}
	if !o.RFC8414Only {
		mux.HandleFunc("GET "+o.Path+"/.well-known/openid-configuration", doc)
	}
	mux.HandleFunc("GET /.well-known/oauth-authorization-server"+o.Path, doc)
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		is.jwksServed.Add(1)
		select {
		case <-time.After(time.Duration(is.JWKSDelay.Load())):
		case <-r.Context().Done():
			return
		}
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	})
	if o.Routes != nil {
		o.Routes(mux, is)
	}
	// Set Server and URL before the server serves, so its handlers (which read them) see them.
	is.Server = httptest.NewUnstartedServer(mux)
	is.URL = "http://" + is.Server.Listener.Addr().String() + o.Path
	is.Server.Start()
	t.Cleanup(is.Server.Close)
	return is
}

// JWKSServed is how many times the key set was fetched.
func (is *Issuer) JWKSServed() int32 { return is.jwksServed.Load() }

// TokenOpts describe a test token; zero fields take the defaults NewToken documents.
type TokenOpts struct {
	Iss, Sub, Scope string
	Aud             any // default the audience given to Token
	Exp, Iat        time.Time
	NoIat           bool
	Kid             string
	Key             any // signing key; default the issuer's
	Alg             jose.SignatureAlgorithm
	Typ             string // default at+jwt; "-" for none
	// Extra claims, set last: a nil value removes the claim.
	Extra map[string]any
}

// Token signs an access token for aud: by default issued by is, subject "user-123", valid for
// an hour from now, RS256 with key id k1, typ at+jwt, scope as given.
func (is *Issuer) Token(t testing.TB, aud string, o TokenOpts) string {
	t.Helper()
	if o.Iss == "" {
		o.Iss = is.URL
	}
	if o.Aud == nil {
		o.Aud = aud
	}
	if o.Sub == "" {
		o.Sub = "user-123"
	}
	if o.Exp.IsZero() {
		o.Exp = time.Now().Add(time.Hour)
	}
	if o.Iat.IsZero() {
		o.Iat = time.Now()
	}
	if o.Kid == "" {
		o.Kid = "k1"
	}
	if o.Key == nil {
		o.Key = is.Key
	}
	if o.Alg == "" {
		o.Alg = jose.RS256
	}
	opts := (&jose.SignerOptions{}).WithHeader("kid", o.Kid)
	switch o.Typ {
	case "":
		opts = opts.WithType("at+jwt")
	case "-":
	default:
		opts = opts.WithType(jose.ContentType(o.Typ))
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: o.Alg, Key: o.Key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	claims := map[string]any{"iss": o.Iss, "aud": o.Aud, "sub": o.Sub, "exp": o.Exp.Unix(), "iat": o.Iat.Unix(), "scope": o.Scope}
	if o.NoIat {
		delete(claims, "iat")
	}
	for k, v := range o.Extra {
		if v == nil {
			delete(claims, k)
		} else {
			claims[k] = v
		}
	}
	raw, err := jwt.Signed(sig).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// NoneToken is a JWT with alg "none" (header.payload.), which must never be accepted.
func (is *Issuer) NoneToken(aud string) string {
	enc := func(v any) string { b, _ := json.Marshal(v); return strings.TrimRight(b64(b), "=") }
	return enc(map[string]any{"alg": "none", "typ": "at+jwt", "kid": "k1"}) + "." +
		enc(map[string]any{"iss": is.URL, "aud": aud, "sub": "user-123", "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(), "scope": "tallyfy.read tallyfy.lifecycle tallyfy.delete"}) + "."
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
