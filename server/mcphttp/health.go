package mcphttp

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"
)

// storeEffect is what /healthz says still works while the shared store is degraded; the docs
// (docs/http.md, docs/deploy.md, README) say the same.
const storeEffect = "permanent deletes (single and bulk) are refused until the store takes writes again; get, list, archive and restore go on, and a bulk archive or restore plan is then single use on each replica"

func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(s.healthReport(r.Context()))
}

// healthReport is /healthz: the server answers, and whether the shared state store takes
// writes (it probes one). A degraded store makes the status "degraded", not an error status:
// reads, archive and restore still work on every replica, so a load balancer must keep
// sending traffic. /healthz is public, so it says only "degraded" and what still works; the
// store's error (which may name its address) goes to the log.
func (s *Server) healthReport(ctx context.Context) map[string]any {
	out := map[string]any{"status": "ok", "name": "tallyfy-mcp", "version": s.opts.Version}
	store := s.opts.State
	if store == nil {
		return out
	}
	st := map[string]any{"backend": store.Kind(), "status": "ok"}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	err := store.Health(ctx)
	if err != nil {
		st["status"], st["effect"] = "degraded", storeEffect
		out["status"] = "degraded"
	}
	s.health.report(s.opts, err)
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

func (l *healthLog) report(o Options, err error) {
	if o.Logger == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case err != nil && (!l.degraded || time.Since(l.logged) > time.Minute):
		l.degraded, l.logged = true, time.Now()
		o.Logger.Warn("shared state store degraded (/healthz says degraded): "+storeEffect, "state", o.State.Kind(), "err", err)
	case err == nil && l.degraded:
		l.degraded = false
		o.Logger.Info("shared state store takes writes again", "state", o.State.Kind())
	}
}
