package tools_test

import (
	"slices"
	"testing"

	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
)

// TestPolicyNarrow: a caller's cap only ever narrows the server's policy. In particular two
// tool lists with nothing in common allow no tool, never every tool.
func TestPolicyNarrow(t *testing.T) {
	t.Parallel()
	all := func(p tools.Policy) []string {
		var out []string
		for _, tl := range tools.All {
			if p.Allows(tl) {
				out = append(out, tl.Name)
			}
		}
		return out
	}
	const a, b = "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"
	for _, tc := range []struct {
		name        string
		server, cap tools.Policy
		want        []string // exactly these tools allowed (nil: none)
		protect     []string
		readOnly    bool
		noPermanent bool
	}{
		{name: "disjoint tool lists allow nothing",
			server: tools.Policy{Tools: []string{"list_runs", "get_run"}}, cap: tools.Policy{Tools: []string{"list_tasks"}}},
		{name: "overlapping lists allow the overlap",
			server: tools.Policy{Tools: []string{"list_runs", "get_run"}}, cap: tools.Policy{Tools: []string{"get_run", "list_tasks"}}, want: []string{"get_run"}},
		{name: "a server list alone stays",
			server: tools.Policy{Tools: []string{"list_runs"}}, cap: tools.Policy{}, want: []string{"list_runs"}},
		{name: "a cap list alone applies",
			server: tools.Policy{}, cap: tools.Policy{Tools: []string{"get_task"}}, want: []string{"get_task"}},
		{name: "exclusions add up",
			server: tools.Policy{Tools: []string{"get_run", "get_task", "list_runs"}, ExcludeTools: []string{"get_run"}}, cap: tools.Policy{ExcludeTools: []string{"get_task"}}, want: []string{"list_runs"}},
		{name: "switches: either side's on wins",
			server: tools.Policy{DisablePermanentDelete: true}, cap: tools.Policy{ReadOnly: true},
			want: []string{"get_run", "get_task", "get_template", "list_runs", "list_tasks", "list_templates"}, readOnly: true, noPermanent: true},
		{name: "protected ids add up",
			server: tools.Policy{Tools: []string{"archive_run"}, Protect: []string{a}}, cap: tools.Policy{Protect: []string{b}}, want: []string{"archive_run"}, protect: []string{a, b}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.server.Narrow(tc.cap)
			allowed := all(got)
			slices.Sort(allowed)
			if !slices.Equal(allowed, tc.want) {
				t.Fatalf("allows %v, want %v", allowed, tc.want)
			}
			if got.ReadOnly != tc.readOnly || got.DisablePermanentDelete != tc.noPermanent {
				t.Fatalf("switches: read-only %v, no permanent %v", got.ReadOnly, got.DisablePermanentDelete)
			}
			for _, id := range tc.protect {
				if !got.Protected(id) {
					t.Fatalf("%s not protected after narrowing", id)
				}
			}
			// Narrowing never allows what either side alone refuses.
			for _, tl := range tools.All {
				if got.Allows(tl) && (!tc.server.Allows(tl) || !tc.cap.Allows(tl)) {
					t.Fatalf("%s allowed after narrowing, refused by one side", tl.Name)
				}
			}
		})
	}
}
