package preflight

import (
	"context"
	"strings"
	"testing"

	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
)

func TestCheckNamesABrokenField(t *testing.T) {
	t.Parallel()
	e := startSandbox(t, sandbox.WithBrokenShape(sandbox.BrokenShape{Kind: "run", Field: "progress", Type: "array"}))
	rep := Run(context.Background(), e.client(t, sandbox.AdminToken, sandbox.OrgID))
	m := byName(t, rep)
	runs := m["runs"]
	if runs.Status != StatusFail || len(runs.ShapeIssues) != 1 || runs.ShapeIssues[0] != (Shape{Field: "runs[].progress", Found: "array"}) ||
		!strings.Contains(runs.Message, "runs[].progress arrived as array") {
		t.Errorf("runs = %+v", runs)
	}
	if m["tasks"].Status != StatusOK || m["templates"].Status != StatusOK || rep.OK {
		t.Errorf("report = %+v", rep.Checks)
	}
	e.onlyGETs(t)
}
