package mcphttp

import (
	"context"
	"net/http"
	"sync"

	mcpserver "github.com/mark3labs/mcp-go/server"
)

// sessionOwners binds each streamable-HTTP or SSE session (older protocols) to the caller that
// opened it: mcp-go checks only that a session id exists, so a caller who learned another's
// id could otherwise use that session, its client capabilities and its questions to the person.
// Ids never issued already get 404 from mcp-go's stateful manager; ids of another caller get
// the same 404 here.
type sessionOwners struct {
	mu     sync.Mutex
	owners map[string]string // session id -> identity.key
}

type ownerKey struct{}

func (s *sessionOwners) registered(ctx context.Context, cs mcpserver.ClientSession) {
	owner, ok := ctx.Value(ownerKey{}).(string)
	if !ok || cs.SessionID() == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.owners == nil {
		s.owners = map[string]string{}
	}
	s.owners[cs.SessionID()] = owner
}

func (s *sessionOwners) unregistered(_ context.Context, cs mcpserver.ClientSession) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.owners, cs.SessionID())
}

func (s *sessionOwners) ownedByOther(id, who string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	owner, known := s.owners[id]
	return known && owner != who
}

// own marks the request with its caller, for the registration hook, and answers 404 to a
// session id that another caller opened.
func (s *Server) own(w http.ResponseWriter, r *http.Request, session string) (*http.Request, bool) {
	who := identityOf(r).key
	if session != "" && s.track.owners.ownedByOther(session, who) {
		http.Error(w, "Invalid session ID", http.StatusNotFound) // as mcp-go answers an unknown one
		return r, false
	}
	return r.WithContext(context.WithValue(r.Context(), ownerKey{}, who)), true
}
