// Package auth says who sent an HTTP request: the one --auth-token, a --callers file entry
// (each caller's own Tallyfy token and cap) or an OAuth access token (discovery, JWKS, claims,
// scope cap). The HTTP transports call Identify once per request and use its answer.
package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
)

// Refusal is why a request is not let in: its status, WWW-Authenticate challenge and message.
type Refusal struct {
	Status    int
	Challenge string
	Msg       string
}

func unauthorized(msg string) *Refusal {
	return &Refusal{Status: http.StatusUnauthorized, Challenge: `Bearer realm="tallyfy-mcp"`, Msg: msg}
}

// Authenticator knows every way a caller may authenticate on this server.
type Authenticator struct {
	token    [32]byte // SHA-256 of --auth-token
	hasToken bool
	callers  *Callers
	oauth    *OAuth
	// ownToken: the server has its own Tallyfy token, which the --auth-token caller acts with.
	ownToken bool
	log      *slog.Logger
}

// New builds the authenticator. authToken "" means no --auth-token; callers and oauth may be nil.
func New(authToken string, callers *Callers, oauth *OAuth, ownToken bool, log *slog.Logger) *Authenticator {
	a := &Authenticator{callers: callers, oauth: oauth, ownToken: ownToken, log: log}
	if authToken != "" {
		a.hasToken, a.token = true, sha256.Sum256([]byte(authToken))
	}
	return a
}

// open reports whether no caller authentication is configured (an open loopback server).
func (a *Authenticator) open() bool { return !a.hasToken && a.callers == nil && a.oauth == nil }

// bearer is the request's Authorization header, read once.
type bearer struct {
	token string   // the token, trimmed
	sum   [32]byte // its SHA-256
	ok    bool     // a non-empty Bearer token was sent
}

func bearerOf(r *http.Request) bearer {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	tok = strings.TrimSpace(tok)
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return bearer{}
	}
	return bearer{token: tok, sum: sha256.Sum256([]byte(tok)), ok: true}
}

// StepUp refuses a tools/call of a tool the credential's scopes do not cover (403 with the
// scope to step up to); nil when it covers that tool.
type StepUp func(tool string) *Refusal

// Identify says who sent r, or why they are refused. A nil caller with no refusal means an
// open loopback server (no caller authentication configured). In order: a --callers token, the
// --auth-token, an OAuth access token. Every caller it accepts has a Key. An OAuth token also
// gives the step-up check, which the transport applies once it has read which tool is called
// (also to a request refused here: the scope a call needs is the first thing to say).
func (a *Authenticator) Identify(r *http.Request) (*tools.Caller, StepUp, *Refusal) {
	if a.open() {
		return nil, nil, nil
	}
	b := bearerOf(r)
	if b.ok && a.callers != nil {
		if c, ok := a.callers.Match(r.Context(), b.sum); ok {
			return &c, nil, nil
		}
	}
	// Without the server's own Tallyfy token the --auth-token caller has no identity of their
	// own (CheckIdentities refuses that configuration; this keeps it so for any other builder).
	if b.ok && a.hasToken && (a.ownToken || a.callers == nil) && a.isAuthToken(b) {
		// The single --auth-token caller: confirm tokens are bound to (a hash of) that token,
		// so a token issued to them is theirs on every replica and nobody else's.
		return &tools.Caller{Binding: "bearer:" + hex.EncodeToString(a.token[:8])}, nil, nil
	}
	if a.oauth != nil {
		return a.oauthCaller(r, b)
	}
	return nil, nil, unauthorized(a.bearerHelp(b.ok))
}

// isAuthToken compares the bearer with --auth-token in constant time (hashes, so length leaks
// nothing).
func (a *Authenticator) isAuthToken(b bearer) bool {
	return subtle.ConstantTimeCompare(b.sum[:], a.token[:]) == 1
}

// bearerHelp is the 401 text for a missing or unknown bearer token, in the terms of how this
// server authenticates: a per-person token from the callers file, the one --auth-token, or both.
func (a *Authenticator) bearerHelp(hasBearer bool) string {
	what := "the server's MCP auth token (--auth-token)"
	if a.callers != nil {
		what = "your own MCP bearer token (the one whose SHA-256 is in your entry of the server's callers file; ask the operator for one)"
		if a.hasToken && a.ownToken {
			what += ", or the server's MCP auth token"
		}
	}
	if hasBearer {
		return "Unauthorized: this bearer token is not accepted here. Send Authorization: Bearer <" + what + ">"
	}
	return "Unauthorized: send Authorization: Bearer <" + what + ">"
}

// oauthCaller validates an OAuth access token, maps its subject (or email) to a --callers
// entry for their Tallyfy token, and returns the check of the scope a tools/call needs. The
// OAuth token itself never leaves this function: Tallyfy is called with the caller's Tallyfy token.
func (a *Authenticator) oauthCaller(r *http.Request, b bearer) (*tools.Caller, StepUp, *Refusal) {
	o := a.oauth
	if !b.ok {
		return nil, nil, &Refusal{Status: http.StatusUnauthorized, Challenge: o.challenge("", "", ScopeRead),
			Msg: "Unauthorized: this server needs an OAuth access token; its protected-resource metadata names the authorization server"}
	}
	claims, err := o.validate(r.Context(), b.token)
	if err != nil {
		a.log.Debug("OAuth token refused", "err", err) // never the token itself
		return nil, nil, &Refusal{Status: http.StatusUnauthorized, Challenge: o.challenge("invalid_token", "the access token is invalid, expired, or not issued for this server", ""),
			Msg: "Unauthorized: the access token is invalid, expired, or not issued for this server (" + o.audience + ")"}
	}
	scopes := claims.scopes()
	scap, ok := scopeCap(scopes)
	if !ok {
		return nil, nil, &Refusal{Status: http.StatusForbidden, Challenge: o.challenge("insufficient_scope", "every tool needs "+ScopeRead, ScopeRead),
			Msg: "Forbidden: the access token lacks the scope " + ScopeRead}
	}
	stepUp := func(name string) *Refusal {
		if t, known := tools.ByName(name); known && !slices.Contains(scopes, tierScope[t.Tier]) {
			need := tierScope[t.Tier]
			return &Refusal{Status: http.StatusForbidden, Challenge: o.challenge("insufficient_scope", name+" needs the scope "+need, need),
				Msg: fmt.Sprintf("Forbidden: %s needs the scope %s, which the access token lacks", name, need)}
		}
		return nil
	}
	who := tools.Caller{Name: claims.Subject, Binding: "oauth:" + o.issuer + "|" + claims.Subject}
	if a.callers != nil {
		entry, ok, err := a.callers.ForOAuth(r.Context(), claims.Subject, claims.Email, claims.emailVerified())
		if err != nil {
			a.log.Warn("OAuth token refused: its sub and email map to different callers-file entries", "sub", claims.Subject)
			return nil, stepUp, &Refusal{Status: http.StatusForbidden, Challenge: o.challenge("insufficient_scope", "the token's subject and email map to different callers", ""),
				Msg: "Forbidden: this access token's subject (sub) and email map to two different entries of the server's callers file; ask the operator to fix the file"}
		}
		if !ok {
			return nil, stepUp, &Refusal{Status: http.StatusForbidden, Challenge: o.challenge("insufficient_scope", "no caller entry for this subject", ""),
				Msg: "Forbidden: no entry in the server's callers file maps this user (oauth_subject or email) to a Tallyfy token; ask the operator to add one"}
		}
		who.Name, who.Client, who.Cap, who.TallyfyUser = entry.Name, entry.Client, entry.Cap, entry.TallyfyUser
		who.Approvers, who.RequireApproval = entry.Approvers, entry.RequireApproval // the two-person rule
	}
	if who.Cap != nil {
		narrowed := who.Cap.Narrow(scap)
		who.Cap = &narrowed
	} else {
		who.Cap = &scap
	}
	return &who, stepUp, nil
}

// CheckIdentities refuses a configuration where a caller would act with somebody else's
// Tallyfy token, and says at startup with whose token each kind of caller acts. The
// --auth-token caller has no callers-file entry: they act with the server's own Tallyfy token,
// and without one there is no identity to give them (never a callers-file entry's).
func (a *Authenticator) CheckIdentities() error {
	if a.hasToken && a.callers != nil && !a.ownToken {
		return errors.New("--auth-token beside --callers needs the server's own Tallyfy token (TALLYFY_ACCESS_TOKEN or --token-file): " +
			"the --auth-token caller acts with it, never with a callers-file entry's token. Set it, or give that person their own entry in the callers file and drop --auth-token")
	}
	if a.hasToken && a.callers != nil {
		a.log.Info("identities: callers-file entries act with their own Tallyfy tokens and caps; the --auth-token caller acts with the server's own Tallyfy token, capped only by the server's flags")
	}
	if a.oauth != nil && a.callers == nil {
		a.log.Info("identities: every OAuth user acts with the server's own Tallyfy token (no --callers file maps them to their own)")
	}
	return nil
}

// ReloadOnSIGHUP reloads the --callers file on each SIGHUP until ctx ends or the returned stop
// is called. A bad file is logged and the callers loaded before stay in force.
func (c *Callers) ReloadOnSIGHUP(ctx context.Context, log *slog.Logger) (stop func()) {
	if c == nil {
		return func() {}
	}
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-ch:
				if err := c.Reload(); err != nil {
					log.Error("SIGHUP: the callers file was not reloaded; the callers loaded before stay in force", "err", err)
					continue
				}
				LogCallers(log, c, "SIGHUP: callers reloaded")
			case <-ctx.Done():
				return
			case <-done:
				return
			}
		}
	}()
	return func() { signal.Stop(ch); close(done) }
}
