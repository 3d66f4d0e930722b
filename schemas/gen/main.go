// Command gen writes schemas/*.json from the Go types (run by `go generate ./...` or `make schemas`).
package main

import (
	"fmt"
	"os"

	"github.com/tallyfy-mcp/tallyfy-mcp/schemas/schemagen"
)

func main() {
	dir := "."
	if len(os.Args) > 1 {
		dir = os.Args[1]
	}
	if err := schemagen.WriteAll(dir); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}
