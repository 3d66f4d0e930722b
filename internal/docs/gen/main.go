// Command gen rewrites the generated sections of README.md (`make docs`).
package main

import (
	"fmt"
	"os"

	"github.com/tallyfy-mcp/tallyfy-mcp/internal/docs"
)

func main() {
	path := "README.md"
	if len(os.Args) > 1 {
		path = os.Args[1]
	}
	in, err := os.ReadFile(path)
	if err == nil {
		var out []byte
		if out, err = docs.Update(in); err == nil {
			err = os.WriteFile(path, out, 0o644)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "docs:", err)
		os.Exit(1)
	}
}
