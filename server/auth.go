package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
)

// refusal is why a request is not let in: its status, WWW-Authenticate challenge and message.
type refusal struct {
	status    int
	challenge string
	msg       string
}

func (h *HTTPServer) unauthorized(msg string) *refusal {
	return &refusal{status: http.StatusUnauthorized, challenge: `Bearer realm="tallyfy-mcp"`, msg: msg}
}

// authenticate says who sent r, or why they are refused. A nil caller with no refusal means an
// open loopback server (no caller authentication configured). In order: a --callers token, the
// --auth-token, an OAuth access token.
func (h *HTTPServer) authenticate(r *http.Request) (*tools.Caller, *refusal) {
	app := h.app
	if !h.hasAuth && app.Callers == nil && app.OAuth == nil {
		return nil, nil
	}
	sum, hasBearer := bearerHash(r)
	if hasBearer && app.Callers != nil {
		if c, ok := app.Callers.Match(r.Context(), sum); ok {
			return &c, nil
		}
	}
	// Without the server's own Tallyfy token the --auth-token caller has no identity of their
	// own (runHTTP refuses that configuration; this keeps it so for any other builder).
	if hasBearer && h.hasAuth && (app.ownToken || app.Callers == nil) && h.authorized(r) {
		// The single --auth-token caller: confirm tokens are bound to (a hash of) that token,
		// so a token issued to them is theirs on every replica and nobody else's.
		return &tools.Caller{Binding: "bearer:" + hex.EncodeToString(h.authHash[:8])}, nil
	}
	if app.OAuth != nil {
		return h.oauthCaller(r, hasBearer)
	}
	return nil, h.unauthorized(h.bearerHelp(hasBearer))
}

// bearerHelp is the 401 text for a missing or unknown bearer token, in the terms of how this
// server authenticates: a per-person token from the callers file, the one --auth-token, or both.
func (h *HTTPServer) bearerHelp(hasBearer bool) string {
	what := "the server's MCP auth token (--auth-token)"
	if h.app.Callers != nil {
		what = "your own MCP bearer token (the one whose SHA-256 is in your entry of the server's callers file; ask the operator for one)"
		if h.hasAuth && h.app.ownToken {
			what += ", or the server's MCP auth token"
		}
	}
	if hasBearer {
		return "Unauthorized: this bearer token is not accepted here. Send Authorization: Bearer <" + what + ">"
	}
	return "Unauthorized: send Authorization: Bearer <" + what + ">"
}

// oauthCaller validates an OAuth access token, maps its subject (or email) to a --callers
// entry for their Tallyfy token, and checks the scope a tools/call needs. The OAuth token
// itself never leaves this function: Tallyfy is called with the caller's Tallyfy token.
func (h *HTTPServer) oauthCaller(r *http.Request, hasBearer bool) (*tools.Caller, *refusal) {
	o := h.app.OAuth
	if !hasBearer {
		return nil, &refusal{status: http.StatusUnauthorized, challenge: o.challenge("", "", ScopeRead),
			msg: "Unauthorized: this server needs an OAuth access token; its protected-resource metadata names the authorization server"}
	}
	_, raw, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	claims, err := o.validate(r.Context(), strings.TrimSpace(raw))
	if err != nil {
		h.app.Logger.Debug("OAuth token refused", "err", err) // never the token itself
		return nil, &refusal{status: http.StatusUnauthorized, challenge: o.challenge("invalid_token", "the access token is invalid, expired, or not issued for this server", ""),
			msg: "Unauthorized: the access token is invalid, expired, or not issued for this server (" + o.audience + ")"}
	}
	scopes := claims.scopes()
	scap, ok := scopeCap(scopes)
	if !ok {
		return nil, &refusal{status: http.StatusForbidden, challenge: o.challenge("insufficient_scope", "every tool needs "+ScopeRead, ScopeRead),
			msg: "Forbidden: the access token lacks the scope " + ScopeRead}
	}
	if name, ok := calledTool(r, h.app.Config.MaxBodyBytes); ok {
		if t, known := tools.ByName(name); known && !slices.Contains(scopes, tierScope[t.Tier]) {
			need := tierScope[t.Tier]
			return nil, &refusal{status: http.StatusForbidden, challenge: o.challenge("insufficient_scope", name+" needs the scope "+need, need),
				msg: fmt.Sprintf("Forbidden: %s needs the scope %s, which the access token lacks", name, need)}
		}
	}
	who := tools.Caller{Name: claims.Subject, Binding: "oauth:" + o.issuer + "|" + claims.Subject}
	if h.app.Callers != nil {
		entry, ok, err := h.app.Callers.ForOAuth(r.Context(), claims.Subject, claims.Email, claims.emailVerified())
		if err != nil {
			h.app.Logger.Warn("OAuth token refused: its sub and email map to different callers-file entries", "sub", claims.Subject)
			return nil, &refusal{status: http.StatusForbidden, challenge: o.challenge("insufficient_scope", "the token's subject and email map to different callers", ""),
				msg: "Forbidden: this access token's subject (sub) and email map to two different entries of the server's callers file; ask the operator to fix the file"}
		}
		if !ok {
			return nil, &refusal{status: http.StatusForbidden, challenge: o.challenge("insufficient_scope", "no caller entry for this subject", ""),
				msg: "Forbidden: no entry in the server's callers file maps this user (oauth_subject or email) to a Tallyfy token; ask the operator to add one"}
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
	return &who, nil
}

// checkIdentities refuses a configuration where a caller would act with somebody else's
// Tallyfy token, and says at startup with whose token each kind of caller acts. The
// --auth-token caller has no callers-file entry: they act with the server's own Tallyfy token,
// and without one there is no identity to give them (never a callers-file entry's).
func (a *App) checkIdentities(hasAuthToken bool) error {
	if hasAuthToken && a.Callers != nil && !a.ownToken {
		return errors.New("--auth-token beside --callers needs the server's own Tallyfy token (TALLYFY_ACCESS_TOKEN or --token-file): " +
			"the --auth-token caller acts with it, never with a callers-file entry's token. Set it, or give that person their own entry in the callers file and drop --auth-token")
	}
	if hasAuthToken && a.Callers != nil {
		a.Logger.Info("identities: callers-file entries act with their own Tallyfy tokens and caps; the --auth-token caller acts with the server's own Tallyfy token, capped only by the server's flags")
	}
	if a.OAuth != nil && a.Callers == nil {
		a.Logger.Info("identities: every OAuth user acts with the server's own Tallyfy token (no --callers file maps them to their own)")
	}
	return nil
}

// bearerHash is the SHA-256 of the request's bearer token.
func bearerHash(r *http.Request) ([32]byte, bool) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return [32]byte{}, false
	}
	return sha256.Sum256([]byte(strings.TrimSpace(tok))), true
}

// reloadCallersOnSIGHUP reloads the --callers file on each SIGHUP until ctx ends or the
// returned stop is called. A bad file is logged and the callers loaded before stay in force.
func (a *App) reloadCallersOnSIGHUP(ctx context.Context) (stop func()) {
	if a.Callers == nil {
		return func() {}
	}
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-ch:
				if err := a.Callers.Reload(); err != nil {
					a.Logger.Error("SIGHUP: the callers file was not reloaded; the callers loaded before stay in force", "err", err)
					continue
				}
				logCallers(a.Logger, a.Callers, "SIGHUP: callers reloaded")
			case <-ctx.Done():
				return
			case <-done:
				return
			}
		}
	}()
	return func() { signal.Stop(ch); close(done) }
}
