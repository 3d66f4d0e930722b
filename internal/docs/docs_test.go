package docs

import (
	"os"
	"strings"
	"testing"

	"github.com/tallyfy-mcp/tallyfy-mcp/server"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
)

// TestReadmeFresh fails when README.md's generated tables differ from the code.
func TestReadmeFresh(t *testing.T) {
	in, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	out, err := Update(in)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != string(in) {
		t.Fatal("README.md is stale: run `make docs` and commit the result")
	}
}

func TestTablesNameEverything(t *testing.T) {
	tt, ft := ToolTable(), FlagTable()
	for _, tool := range tools.All {
		if !strings.Contains(tt, "`"+tool.Name+"`") {
			t.Errorf("tool table lacks %s", tool.Name)
		}
	}
	if !strings.Contains(tt, "**no**") {
		t.Error("tool table does not mark permanent deletes irreversible")
	}
	if !strings.Contains(tt, "| read-only, idempotent, open-world |") || !strings.Contains(tt, "| destructive, open-world |") {
		t.Error("tool table does not show the annotations")
	}
	for _, o := range server.Options {
		if !strings.Contains(ft, "`--"+o.Name+"`") || (o.Env != "" && !strings.Contains(ft, "`"+o.Env+"`")) {
			t.Errorf("flag table lacks --%s / %s", o.Name, o.Env)
		}
	}
}
