package server

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
)

func TestStartupLineStatesTheEffectivePolicy(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy tools.Policy
		audit  string
		want   []string
		warn   bool
	}{
		{"default", tools.Policy{MaxDeletesPerHour: 20}, "/var/log/a.jsonl",
			[]string{"level=INFO", "msg=policy", "tools=18", "tier_cap=permanent", "deletes=\"20 per hour\"", "audit=/var/log/a.jsonl"}, false},
		{"read only", tools.Policy{ReadOnly: true, Protect: []string{strings.Repeat("a", 32)}},
			"", []string{"tools=6", "tier_cap=read", "protected=1", "deletes=none", "audit=\"the log (stderr)\""}, false},
		{"no permanent", tools.Policy{DisablePermanentDelete: true, MaxDeletesPerHour: -1}, "",
			[]string{"tools=14", "tier_cap=lifecycle", "deletes=\"no cap\""}, false},
		{"nothing offered", tools.Policy{ReadOnly: true, Tools: []string{"delete_run"}}, "",
			[]string{"level=WARN", "no tool is offered", "tools=0"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			logEffectivePolicy(slog.New(slog.NewTextHandler(&b, nil)), &Config{Policy: tc.policy, Confirm: tools.ConfirmAuto, AuditLog: tc.audit})
			out := b.String()
			if strings.Count(out, "\n") != 1 {
				t.Fatalf("want one line, got %q", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("startup line lacks %s: %s", w, out)
				}
			}
		})
	}
}
