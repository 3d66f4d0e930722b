package server

import (
	"bytes"
	"strings"
	"testing"
)

func TestEveryOptionHasOneHelpGroup(t *testing.T) {
	seen := map[string]string{}
	for _, g := range optionGroups {
		for _, n := range g.Names {
			if prev, dup := seen[n]; dup {
				t.Errorf("--%s is in help groups %q and %q", n, prev, g.Title)
			}
			seen[n] = g.Title
		}
	}
	names := map[string]bool{}
	for _, o := range Options {
		names[o.Name] = true
		if _, ok := seen[o.Name]; !ok {
			t.Errorf("--%s has no help group: add it to optionGroups in config.go", o.Name)
		}
	}
	for n := range seen {
		if !names[n] {
			t.Errorf("help group names --%s, which is not an option", n)
		}
	}
}

func TestHelpListsEveryFlagOnceUnderItsGroup(t *testing.T) {
	var b bytes.Buffer
	PrintHelp(&b)
	out := b.String()
	for _, o := range Options {
		if n := strings.Count(out, "  --"+o.Name+"\n") + strings.Count(out, "  --"+o.Name+" value\n"); n != 1 {
			t.Errorf("--%s appears %d times in --help, want 1", o.Name, n)
		}
	}
	tallyfy, policy, http := strings.Index(out, "\nTallyfy:\n"), strings.Index(out, "\nPolicy: what agents may do:\n"), strings.Index(out, "\nHTTP transports:\n")
	if tallyfy < 0 || policy < tallyfy || http < policy {
		t.Fatalf("--help groups missing or out of order:\n%s", out)
	}
	if i := strings.Index(out, "  --org-id"); i < tallyfy || i > policy {
		t.Errorf("--org-id is not under Tallyfy")
	}
}
