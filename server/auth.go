package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
)

// authenticate says who sent r. ok is false when the request must be refused with 401. A nil
// caller with ok means an open loopback server (no caller token configured).
func (h *HTTPServer) authenticate(r *http.Request) (caller *tools.Caller, ok bool) {
	callers := h.app.Callers
	if !h.hasAuth && callers == nil {
		return nil, true
	}
	if callers != nil {
		if sum, ok := bearerHash(r); ok {
			if c, ok := callers.Match(sum); ok {
				return &c, true
			}
		}
	}
	if !h.hasAuth || !h.authorized(r) {
		return nil, false
	}
	// The single --auth-token caller: confirm tokens are bound to (a hash of) that token, so a
	// token issued to them is theirs on every replica and nobody else's.
	return &tools.Caller{Binding: "bearer:" + hex.EncodeToString(h.authHash[:8])}, true
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
