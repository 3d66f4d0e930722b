package tools_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOneChangePath: the tools send each archive, restore and permanent delete from one place
// (lifecycle.go, delete.go), through tallyfy's kind-generic operations, so single and bulk
// calls share one path (issue 19 point 4). No product file calls a kind's own mutating
// endpoint method.
func TestOneChangePath(t *testing.T) {
	t.Parallel()
	sends := map[string][]string{"Archive": nil, "Restore": nil, "Delete": nil} // where each is sent
	typed := map[string]bool{"ArchiveTask": true, "ArchiveRun": true, "ArchiveTemplate": true, "RestoreTask": true, "ActivateRun": true,
		"RestoreTemplate": true, "DeleteTask": true, "DeleteRun": true, "DeleteTemplate": true}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			at := fset.Position(sel.Pos())
			if typed[sel.Sel.Name] {
				t.Errorf("%s:%d uses %s: go through the kind-generic operation", name, at.Line, sel.Sel.Name)
			}
			receiver := string(src[fset.Position(sel.X.Pos()).Offset:fset.Position(sel.X.End()).Offset])
			if _, ok := sends[sel.Sel.Name]; ok && strings.HasSuffix(receiver, "client") {
				sends[sel.Sel.Name] = append(sends[sel.Sel.Name], fmt.Sprintf("%s:%d", name, at.Line))
			}
			return true
		})
	}
	for op, at := range sends {
		if len(at) != 1 {
			t.Errorf("the client's %s is sent from %d places %v, want one", op, len(at), at)
		}
	}
}
