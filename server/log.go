package server

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/lmittmann/tint"

	"github.com/tallyfy-mcp/tallyfy-mcp/logsafe"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
)

// ParseLevel reads --log-level.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info", "":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("--log-level must be debug, info, warn or error, not %q", s)
}

// NewLogger logs to w (stderr: stdout belongs to JSON-RPC on stdio): tint text, coloured only
// on a terminal and without NO_COLOR, or JSON.
func NewLogger(w io.Writer, level, format string) *slog.Logger {
	lvl, _ := ParseLevel(level)
	if format == "json" {
		return slog.New(slog.NewJSONHandler(escapingWriter{w}, &slog.HandlerOptions{Level: lvl}))
	}
	f, isFile := w.(*os.File)
	colour := isFile && IsTerminal(f) && os.Getenv("NO_COLOR") == ""
	return slog.New(tint.NewTextHandler(w, &tint.Options{Level: lvl, TimeFormat: "15:04:05.000", NoColor: !colour}))
}

// escapingWriter writes JSON log lines with their bidi controls and other non-printable
// characters escaped (logsafe.EscapeJSON), as the text format's quoting does. slog's JSON
// handler writes each record in one Write, so each call holds whole JSON values.
type escapingWriter struct{ w io.Writer }

func (e escapingWriter) Write(p []byte) (int, error) {
	if _, err := e.w.Write(logsafe.EscapeJSON(p)); err != nil {
		return 0, err
	}
	return len(p), nil
}

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
