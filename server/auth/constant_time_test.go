package auth

import (
	"go/ast"
	"go/parser"
	"go/token"
	"testing"
)

// TestBearerComparedInConstantTime reads the functions that compare a bearer token's hash with
// the expected ones: each must use subtle.ConstantTimeCompare, and compare nothing else with
// == or != (a byte-by-byte compare that stops at the first difference tells a timing attacker
// how much of a hash matched), nor with bytes.Equal or the like.
func TestBearerComparedInConstantTime(t *testing.T) {
	t.Parallel()
	for file, fn := range map[string]string{"auth.go": "isAuthToken", "callers.go": "Match"} {
		f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		var body *ast.BlockStmt
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Name.Name == fn && fd.Recv != nil {
				body = fd.Body
			}
		}
		if body == nil {
			t.Fatalf("%s: no method %s", file, fn)
		}
		isCTC := func(e ast.Expr) bool {
			call, ok := e.(*ast.CallExpr)
			if !ok {
				return false
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return false
			}
			pkg, _ := sel.X.(*ast.Ident)
			return pkg != nil && pkg.Name == "subtle" && sel.Sel.Name == "ConstantTimeCompare"
		}
		constantTime := 0
		ast.Inspect(body, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				if isCTC(n) {
					constantTime++
				}
				if sel, ok := n.Fun.(*ast.SelectorExpr); ok && (sel.Sel.Name == "Equal" || sel.Sel.Name == "DeepEqual" || sel.Sel.Name == "Compare") {
					if pkg, _ := sel.X.(*ast.Ident); pkg != nil && pkg.Name != "subtle" {
						t.Errorf("%s %s: compares with %s.%s, which is not constant-time", file, fn, pkg.Name, sel.Sel.Name)
					}
				}
			case *ast.BinaryExpr:
				if (n.Op == token.EQL || n.Op == token.NEQ) && !isCTC(n.X) && !isCTC(n.Y) && !isNilOrLiteral(n.X) && !isNilOrLiteral(n.Y) {
					t.Errorf("%s %s: compares with %s outside subtle.ConstantTimeCompare", file, fn, n.Op)
				}
			}
			return true
		})
		if constantTime == 0 {
			t.Errorf("%s %s: no subtle.ConstantTimeCompare", file, fn)
		}
	}
}

// isNilOrLiteral: comparing with nil or a constant (found == nil, ok == 1) is not comparing a secret.
func isNilOrLiteral(e ast.Expr) bool {
	switch e := e.(type) {
	case *ast.BasicLit:
		return true
	case *ast.Ident:
		return e.Name == "nil" || e.Name == "true" || e.Name == "false"
	}
	return false
}
