package server

import (
	"context"
	"time"
)

// healthReport is /healthz: the server answers, and whether the shared state store does.
// An unreachable store makes the status "degraded", not an error status: reads, archive and
// restore still work on every replica (only permanent deletes are refused), so a load balancer
// must keep sending traffic.
func healthReport(ctx context.Context, app *App) map[string]any {
	out := map[string]any{"status": "ok", "name": "tallyfy-mcp", "version": app.Config.Version}
	if app.State == nil {
		return out
	}
	st := map[string]any{"backend": app.State.Kind(), "status": "ok"}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := app.State.Health(ctx); err != nil {
		st["status"], st["error"] = "unreachable", err.Error()
		st["effect"] = "permanent deletes are refused until the store answers; reads, archive and restore go on"
		out["status"] = "degraded"
	}
	out["state"] = st
	return out
}
