package mcphttp

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/tallyfy-mcp/tallyfy-mcp/state"
)

// storeEffect is what /healthz says still works while the shared store is degraded; the docs
// (docs/http.md, docs/deploy.md, README) say the same.
const storeEffect = "permanent deletes (single and bulk) are refused until the store takes writes again; get, list, archive and restore go on, and a bulk archive or restore plan is then single use on each replica"

// health is /healthz: the server answers, and whether the shared state store takes writes (it
// probes one). A degraded store makes the status "degraded", not an error status: reads,
// archive and restore still work on every replica, so a load balancer must keep sending
// traffic. /healthz is public, so it says only "degraded" and what still works; the store's
// error (which may name its address) goes to the log, when the health changes (a load balancer
// probes every few seconds), and while degraded at most once a minute.
type health struct {
	store   state.Store // nil: none
	logger  *slog.Logger
	version string

	mu       sync.Mutex
	degraded bool
	logged   time.Time
}

func (h *health) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	out := map[string]any{"status": "ok", "name": "tallyfy-mcp", "version": h.version}
	if h.store != nil {
		st := map[string]any{"backend": h.store.Kind(), "status": "ok"}
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		err := h.store.Health(ctx)
		cancel()
		if err != nil {
			st["status"], st["effect"] = "degraded", storeEffect
			out["status"] = "degraded"
		}
		h.log(err)
		out["state"] = st
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

func (h *health) log(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case err != nil && (!h.degraded || time.Since(h.logged) > time.Minute):
		h.degraded, h.logged = true, time.Now()
		h.logger.Warn("shared state store degraded (/healthz says degraded): "+storeEffect, "state", h.store.Kind(), "err", err)
	case err == nil && h.degraded:
		h.degraded = false
		h.logger.Info("shared state store takes writes again", "state", h.store.Kind())
	}
}
