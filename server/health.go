package server

import (
	"context"
	"sync"
	"time"
)

// storeEffect is what /healthz says still works while the shared store is degraded; the docs
// (docs/http.md, docs/deploy.md, README) say the same.
const storeEffect = "permanent deletes (single and bulk) are refused until the store takes writes again; get, list, archive and restore go on, and a bulk archive or restore plan is then single use on each replica"

// healthReport is /healthz: the server answers, and whether the shared state store takes
// writes (it probes one). A degraded store makes the status "degraded", not an error status:
// reads, archive and restore still work on every replica, so a load balancer must keep
// sending traffic. /healthz is public, so it says only "degraded" and what still works; the
// store's error (which may name its address) goes to the log.
func healthReport(ctx context.Context, app *App) map[string]any {
	out := map[string]any{"status": "ok", "name": "tallyfy-mcp", "version": app.Config.Version}
	if app.State == nil {
		return out
	}
	st := map[string]any{"backend": app.State.Kind(), "status": "ok"}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	err := app.State.Health(ctx)
	if err != nil {
		st["status"], st["effect"] = "degraded", storeEffect
		out["status"] = "degraded"
	}
	app.health.report(app, err)
	out["state"] = st
	return out
}

// healthLog logs the store's health when it changes (a load balancer probes /healthz every
// few seconds), and while degraded at most once a minute.
type healthLog struct {
	mu       sync.Mutex
	degraded bool
	logged   time.Time
}

func (l *healthLog) report(app *App, err error) {
	if app.Logger == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case err != nil && (!l.degraded || time.Since(l.logged) > time.Minute):
		l.degraded, l.logged = true, time.Now()
		app.Logger.Warn("shared state store degraded (/healthz says degraded): "+storeEffect, "state", app.State.Kind(), "err", err)
	case err == nil && l.degraded:
		l.degraded = false
		app.Logger.Info("shared state store takes writes again", "state", app.State.Kind())
	}
}
