package server

import (
	"github.com/tallyfy-mcp/tallyfy-mcp/state"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
)

// sharedPace is where every replica keeps each Tallyfy token's request bucket: the Redis of
// --state, whose 600 requests a minute are per user across all replicas (docs/performance.md
// "Pacing"); nil (each process its own bucket) without it. It has a connection pool of its own,
// opened with the first client, before the store the tools use.
func (a *App) sharedPace() tallyfy.SharedPacer {
	if a.pace != nil {
		return a.pace
	}
	raw := a.Config.State
	if raw == "" || raw == "memory" || a.Config.Sandbox {
		return nil
	}
	st, err := state.Open(raw)
	if err != nil {
		return nil // the store itself reports the error when it is opened
	}
	sp, ok := st.(tallyfy.SharedPacer)
	if !ok {
		_ = st.Close()
		return nil
	}
	a.closers = append(a.closers, st.Close)
	a.pace = sp
	return sp
}
