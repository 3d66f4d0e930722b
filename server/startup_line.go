package server

import (
	"log/slog"
	"strings"

	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
)

// logEffectivePolicy writes the one startup line an operator reads to know what agents may do
// here (issue 20 "first hour"): the tools offered, the highest tier, how deletes are confirmed,
// how many IDs are protected, the delete budget and where the audit goes. Callers from a callers
// file or OAuth are capped further per caller; this is the server's own ceiling.
func logEffectivePolicy(logger *slog.Logger, cfg *Config) {
	var offered []string
	tier := "none" // the highest tier offered: none < read < lifecycle < permanent
	rank := map[string]int{"none": 0, string(tools.TierRead): 1, string(tools.TierLifecycle): 2, string(tools.TierPermanent): 3}
	for _, t := range tools.All {
		if cfg.Policy.Allows(t) {
			offered = append(offered, t.Name)
			if rank[string(t.Tier)] > rank[tier] {
				tier = string(t.Tier)
			}
		}
	}
	budget := "none"
	switch n := cfg.Policy.MaxDeletesPerHour; {
	case n < 0:
		budget = "no cap"
	case n > 0:
		budget = slog.IntValue(n).String() + " per hour"
	}
	audit := "the log (stderr)"
	if cfg.AuditLog != "" {
		audit = cfg.AuditLog
	}
	attrs := []any{
		"tools", len(offered), "tier_cap", tier, "confirm", string(cfg.Confirm),
		"protected", len(cfg.Policy.Protect), "deletes", budget, "audit", audit,
		"offered", strings.Join(offered, ","),
	}
	if len(offered) == 0 {
		logger.Warn("policy: no tool is offered: every tool is excluded by --read-only, --tools, --exclude-tools or --disable-permanent-delete; agents will see an empty tools/list", attrs...)
		return
	}
	logger.Info("policy", attrs...)
}
