package server

import (
	"encoding/hex"
	"net/http"

	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
)

// authenticate says who sent r. ok is false when the request must be refused with 401. A nil
// caller with ok means an open loopback server (no caller token configured).
func (h *HTTPServer) authenticate(r *http.Request) (caller *tools.Caller, ok bool) {
	if !h.hasAuth {
		return nil, true
	}
	if !h.authorized(r) {
		return nil, false
	}
	// The single --auth-token caller: confirm tokens are bound to (a hash of) that token, so a
	// token issued to them is theirs on every replica and nobody else's.
	return &tools.Caller{Binding: "bearer:" + hex.EncodeToString(h.authHash[:8])}, true
}
